#!/usr/bin/env bash
# An independent reader written from docs/FORMAT.md (python3 + cryptography) decrypts what
# ccrfs packed, and computes the same known-answer values as the C unit tests pin.
source "$CCRFS_SRC/tests/integration/lib/common.sh"

py=/usr/bin/python3
if ! "$py" -c 'import cryptography' 2>/dev/null; then
  echo "skipped: python3-cryptography is not installed"
  exit 77
fi
ref=$CCRFS_SRC/tests/integration/lib/format_ref.py

kat=$("$py" "$ref" --kat)
check "reference blob known answer equals the pinned one" \
  grep -q 'blob_sha256 6fc8dc1131b2fd7a9a2a18db391e14803854f9fb6602e63ec04633aa3a2718a8' <<<"$kat"
check "reference dataset id known answer equals the pinned one" \
  grep -q 'dataset_id sha256:84ac38c66c32b2e98d1253c10d550dd27f184725a139ec57c6659cd767632b62' <<<"$kat"

"$CCRFS" keygen -o "$T_DIR/key" 2>/dev/null
for bs in 4K 256K; do
  make_tree "$T_DIR/src-$bs" 4096
  id=$("$CCRFS" pack --key "$T_DIR/key" --block-size $bs "$T_DIR/src-$bs" "$T_DIR/ds-$bs" | tail -n 1)
  out=$("$py" "$ref" "$T_DIR/key" "$T_DIR/ds-$bs" --extract "$T_DIR/ref-$bs" 2>&1)
  check "the reference reader decrypts the whole dataset ($bs)" test $? -eq 0
  check "the reference reader computes the same dataset id ($bs)" grep -q "dataset_id $id" <<<"$out"
  check "the reference reader's plaintext equals the source ($bs)" diff -r "$T_DIR/src-$bs" "$T_DIR/ref-$bs"
done
finish
