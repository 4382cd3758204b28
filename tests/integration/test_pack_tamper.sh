#!/usr/bin/env bash
# Every kind of tampering is caught by verify, with a message naming the file (or the manifest).
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

key=$TMP/key
"$CCRFS" keygen -o "$key" 2>/dev/null
mkdir -p "$TMP/src/sub"
head -c $((4096 * 5 + 100)) /dev/urandom >"$TMP/src/alpha.bin"
head -c $((4096 * 5 + 100)) /dev/urandom >"$TMP/src/sub/beta.bin"
head -c 3000 /dev/urandom >"$TMP/src/gamma.bin"
clean=$TMP/clean
id=$("$CCRFS" pack --key "$key" --block-size 4K "$TMP/src" "$clean" | tail -n 1)
check "the clean dataset verifies" "$CCRFS" verify --key "$key" --id "$id" "$clean"

blob_of() { "$CCRFS" inspect --key "$key" "$1" | awk -v p="$2" '$NF == p {print $(NF-1)}'; }
alpha=$(blob_of "$clean" alpha.bin)
beta=$(blob_of "$clean" sub/beta.bin)
gamma=$(blob_of "$clean" gamma.bin)
B=$((4096 + 16)) H=72

# fresh NAME: a copy of the clean dataset to tamper with.
fresh() { rm -rf "$TMP/$1"; cp -a "$clean" "$TMP/$1"; echo "$TMP/$1"; }
# patch FILE OFFSET BYTES_HEX
patch_bytes() { printf "$(sed 's/../\\x&/g' <<<"$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
flip_bit() { local b; b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | xxd -p); patch_bytes "$1" "$2" "$(printf '%02x' $((0x$b ^ 0x04)))"; }

d=$(fresh flip-body); flip_bit "$d/blobs/$alpha" $((H + 2 * B + 77))
expect_fail "one flipped bit in a block: names the file and block" "alpha\.bin.*block 2.*authentication" \
  "$CCRFS" verify --key "$key" "$d"
d=$(fresh flip-tag); flip_bit "$d/blobs/$alpha" $((H + B - 3))
expect_fail "one flipped bit in a tag" "alpha\.bin.*block 0" "$CCRFS" verify --key "$key" "$d"
d=$(fresh flip-header); flip_bit "$d/blobs/$alpha" 30
expect_fail "one flipped bit in a blob header" "alpha\.bin" "$CCRFS" verify --key "$key" "$d"
d=$(fresh trunc-boundary); truncate -s $((H + 3 * B)) "$d/blobs/$alpha"
expect_fail "truncation at a block boundary" "alpha\.bin.*truncated" "$CCRFS" verify --key "$key" "$d"
d=$(fresh trunc-inside); truncate -s $((H + 3 * B + 1000)) "$d/blobs/$alpha"
expect_fail "truncation inside a block" "alpha\.bin.*truncated" "$CCRFS" verify --key "$key" "$d"
d=$(fresh appended); printf 'extra' >>"$d/blobs/$alpha"
expect_fail "bytes appended" "alpha\.bin.*appended" "$CCRFS" verify --key "$key" "$d"
d=$(fresh swap-blocks)
dd if="$clean/blobs/$alpha" of="$d/blobs/$alpha" bs=1 skip=$((H + B)) seek=$H count=$B conv=notrunc status=none
dd if="$clean/blobs/$alpha" of="$d/blobs/$alpha" bs=1 skip=$H seek=$((H + B)) count=$B conv=notrunc status=none
expect_fail "two blocks of a file swapped" "alpha\.bin.*block 0.*authentication" "$CCRFS" verify --key "$key" "$d"
d=$(fresh cross-file)
dd if="$clean/blobs/$beta" of="$d/blobs/$alpha" bs=1 skip=$((H + B)) seek=$((H + B)) count=$B conv=notrunc status=none
expect_fail "a block taken from another file" "alpha\.bin.*block 1.*authentication" "$CCRFS" verify --key "$key" "$d"
d=$(fresh swap-blobs)
mv "$d/blobs/$alpha" "$d/tmp"; mv "$d/blobs/$beta" "$d/blobs/$alpha"; mv "$d/tmp" "$d/blobs/$beta"
expect_fail "two blobs swapped" "alpha\.bin.*not the blob the manifest names" "$CCRFS" verify --key "$key" "$d"
d=$(fresh zero-block)
dd if=/dev/zero of="$d/blobs/$gamma" bs=1 seek=$H count=$((3000 + 16)) conv=notrunc status=none
expect_fail "a zeroed block" "gamma\.bin.*block 0" "$CCRFS" verify --key "$key" "$d"
d=$(fresh manifest-edit); flip_bit "$d/manifest.ccrfs" 100
expect_fail "the manifest edited" "manifest.*(authenticate|altered)" "$CCRFS" verify --key "$key" "$d"
d=$(fresh manifest-trunc); truncate -s 60 "$d/manifest.ccrfs"
expect_fail "the manifest truncated" "manifest" "$CCRFS" verify --key "$key" "$d"
d=$(fresh missing-blob); rm "$d/blobs/$gamma"
expect_fail "a blob removed" "gamma\.bin" "$CCRFS" verify --key "$key" "$d"

# An older manifest of the same dataset: pack, then change a file and pack again with the
# same blob folder kept; the old manifest verifies on its own but not against the new id.
older=$TMP/older
cp -a "$clean" "$older"
echo "changed" >>"$TMP/src/gamma.bin"
newer=$TMP/newer
new_id=$("$CCRFS" pack --key "$key" --block-size 4K "$TMP/src" "$newer" | tail -n 1)
d=$(fresh rollback)
cp -a "$newer/blobs/." "$d/blobs/"
cp "$older/manifest.ccrfs" "$d/manifest.ccrfs"
expect_fail "the manifest replaced by an older one: dataset id mismatch" "dataset id mismatch" \
  "$CCRFS" verify --key "$key" --id "$new_id" "$d"

"$CCRFS" keygen -o "$TMP/wrong" 2>/dev/null
expect_fail "the wrong key" "wrong key" "$CCRFS" verify --key "$TMP/wrong" "$clean"
expect_fail "verify refuses to name a tampered dataset authentic even without --id" "FAILED" \
  "$CCRFS" verify --key "$key" "$TMP/flip-body"
finish
