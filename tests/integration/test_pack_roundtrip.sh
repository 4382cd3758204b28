#!/usr/bin/env bash
# pack -> verify -> unpack gives the exact tree back, for block sizes 4 KiB to 1 MiB and
# files of 0, 1, B-1, B, B+1 bytes and several MiB.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

"$CCRFS" keygen -o "$TMP/key" 2>/dev/null
for bs in 4K 64K 1M; do
  case $bs in 4K) n=4096 ;; 64K) n=65536 ;; 1M) n=1048576 ;; esac
  src=$TMP/src-$bs out=$TMP/ds-$bs dst=$TMP/back-$bs
  make_tree "$src" "$n"
  id=$("$CCRFS" pack --key "$TMP/key" --block-size "$bs" "$src" "$out" | tail -n 1)
  check "pack ($bs blocks) prints a dataset id last" grep -Eq '^sha256:[0-9a-f]{64}$' <<<"$id"
  check "the id is the SHA-256 of manifest.ccrfs ($bs)" \
    test "$id" = "sha256:$(sha256sum "$out/manifest.ccrfs" | cut -d' ' -f1)"
  check "verify with --id passes ($bs)" "$CCRFS" verify --key "$TMP/key" --id "$id" "$out"
  check "unpack succeeds ($bs)" "$CCRFS" unpack --key "$TMP/key" "$out" "$dst"
  check "unpacked tree equals the source: content, modes, mtimes ($bs)" \
    diff <(tree_listing "$src") <(tree_listing "$dst")
  check "blob names reveal no file names ($bs)" \
    bash -c "! ls '$out/blobs' | grep -Ev '^[0-9a-f]{32}$'"
done

# Packing twice gives different blobs and ids (fresh salts), both verifying.
id1=$("$CCRFS" pack --key "$TMP/key" "$TMP/src-4K" "$TMP/again1" | tail -n 1)
id2=$("$CCRFS" pack --key "$TMP/key" "$TMP/src-4K" "$TMP/again2" | tail -n 1)
check "two packs of one tree have different ids" test "$id1" != "$id2"

# Many small files across folders, packed by several threads, come back exactly; the same tree
# packed by one thread lists the same entries in the same order (blob names are random).
mkdir -p "$TMP/small"
for d in 0 1 2 3 4; do
  mkdir -p "$TMP/small/d$d"
  for f in $(seq 0 199); do printf '%*s' $(((d * 211 + f * 37) % 700)) "$d/$f" >"$TMP/small/d$d/f$f"; done
done
id=$("$CCRFS" pack --key "$TMP/key" --jobs 4 "$TMP/small" "$TMP/small-ds4" | tail -n 1)
"$CCRFS" pack --key "$TMP/key" --jobs 1 "$TMP/small" "$TMP/small-ds1" >/dev/null
check "1,000 small files packed by 4 threads verify" "$CCRFS" verify --key "$TMP/key" --id "$id" "$TMP/small-ds4"
check "1,000 small files packed by 4 threads unpack to the source" \
  bash -c "'$CCRFS' unpack --key '$TMP/key' '$TMP/small-ds4' '$TMP/small-back' && diff -r '$TMP/small' '$TMP/small-back'"
check "one blob per file, 1,000 blobs" test "$(ls "$TMP/small-ds4/blobs" | wc -l)" = 1000
listing() { "$CCRFS" inspect --key "$TMP/key" "$1" | awk 'NF == 5 { print $1, $2, $3, $5 }'; }
check "the same manifest listing with 1 and 4 threads" diff <(listing "$TMP/small-ds1") <(listing "$TMP/small-ds4")
check "--jobs 0 is refused" bash -c "! '$CCRFS' pack --key '$TMP/key' --jobs 0 '$TMP/small' '$TMP/small-ds0' 2>/dev/null"

# Anything not a regular file or folder is skipped with a warning naming it.
mkdir -p "$TMP/special"
echo data >"$TMP/special/file"
ln -s file "$TMP/special/link"
mkfifo "$TMP/special/fifo"
err=$("$CCRFS" pack --key "$TMP/key" "$TMP/special" "$TMP/special-ds" 2>&1 >/dev/null)
check "a symbolic link is skipped with a warning naming it" grep -q "skipping .*special/link" <<<"$err"
check "a fifo is skipped with a warning naming it" grep -q "skipping .*special/fifo" <<<"$err"
check "inspect --key lists the packed file" \
  bash -c "'$CCRFS' inspect --key '$TMP/key' '$TMP/special-ds' | grep -q ' file\$'"
check "inspect without a key shows the header and the id" \
  bash -c "'$CCRFS' inspect '$TMP/special-ds' | grep -q 'dataset id: *sha256:'"
blob=$(ls "$TMP/special-ds/blobs" | head -n 1)
check "inspect of a blob shows its plaintext length" \
  bash -c "'$CCRFS' inspect '$TMP/special-ds/blobs/$blob' | grep -q 'plaintext length: 5 bytes'"
finish
