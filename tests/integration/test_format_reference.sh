#!/usr/bin/env bash
# An independent reader written from docs/FORMAT.md (python3 + cryptography) decrypts what
# ccrfs packed, and computes the same known-answer values as the C unit tests pin.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

py=/usr/bin/python3
"$py" -c 'import cryptography' 2>/dev/null || skip_all "python3-cryptography is not installed"
ref=$CCRFS_SRC/tests/integration/lib/format_ref.py

kat=$("$py" "$ref" --kat)
check "reference blob known answer equals the pinned one" \
  grep -q 'blob_sha256 6fc8dc1131b2fd7a9a2a18db391e14803854f9fb6602e63ec04633aa3a2718a8' <<<"$kat"
check "reference dataset id known answer equals the pinned one" \
  grep -q 'dataset_id sha256:84ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62' <<<"$kat"

"$CCRFS" keygen -o "$TMP/key" 2>/dev/null
for bs in 4K 256K; do
  make_tree "$TMP/src-$bs" 4096
  id=$("$CCRFS" pack --key "$TMP/key" --block-size $bs "$TMP/src-$bs" "$TMP/ds-$bs" | tail -n 1)
  out=$("$py" "$ref" "$TMP/key" "$TMP/ds-$bs" --extract "$TMP/ref-$bs" 2>&1)
  check "the reference reader decrypts the whole dataset ($bs)" test $? -eq 0
  check "the reference reader computes the same dataset id ($bs)" grep -q "dataset_id $id" <<<"$out"
  check "the reference reader's plaintext equals the source ($bs)" diff -r "$TMP/src-$bs" "$TMP/ref-$bs"
done
finish
