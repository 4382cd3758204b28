#!/usr/bin/env bash
# Bad input gets one clear line on stderr and a non-zero exit, and leaves nothing behind.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

key=$TMP/key
"$CCRFS" keygen -o "$key" 2>/dev/null
mkdir -p "$TMP/src/d" && echo hello >"$TMP/src/d/f"
"$CCRFS" pack --key "$key" "$TMP/src" "$TMP/ds" >/dev/null

# Nothing may be left half-written next to an output that failed.
no_leftovers() { ! ls -a "$TMP" | grep -q 'partial'; }

expect_fail "keygen refuses to overwrite" "already exists" "$CCRFS" keygen -o "$key"
expect_fail "keygen without -o" "missing -o" "$CCRFS" keygen
expect_fail "an unknown command" "unknown command" "$CCRFS" frobnicate
expect_fail "an unknown option" "unknown option.*--frob" "$CCRFS" pack --frob --key "$key" "$TMP/src" "$TMP/x"
expect_fail "a missing key file" "key file .*nokey.*No such file" "$CCRFS" pack --key "$TMP/nokey" "$TMP/src" "$TMP/x"
head -c 16 /dev/urandom >"$TMP/short"
expect_fail "a short key file" "too short" "$CCRFS" pack --key "$TMP/short" "$TMP/src" "$TMP/x"
head -c 33 /dev/urandom >"$TMP/long"
expect_fail "a long key file" "too long" "$CCRFS" verify --key "$TMP/long" "$TMP/ds"
expect_fail "a block size that is not a power of two" "block-size" \
  "$CCRFS" pack --key "$key" --block-size 5000 "$TMP/src" "$TMP/x"
expect_fail "a block size above 1 MiB" "block-size" "$CCRFS" pack --key "$key" --block-size 2M "$TMP/src" "$TMP/x"
expect_fail "pack into a destination that exists" "already exists" "$CCRFS" pack --key "$key" "$TMP/src" "$TMP/ds"
expect_fail "pack of a source that does not exist" "nosrc" "$CCRFS" pack --key "$key" "$TMP/nosrc" "$TMP/x"
check "no output folder after failed packs" test ! -e "$TMP/x"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  mkdir -p "$TMP/locked/inner" && echo secret >"$TMP/locked/inner/f" && chmod 000 "$TMP/locked/inner/f"
  chmod 0755 "$TMP" "$TMP/locked" "$TMP/locked/inner"
  cp "$key" "$TMP/key-nobody" && chown nobody "$TMP/key-nobody"
  chmod 0777 "$TMP"
  expect_fail "an unreadable source file, named" "locked/inner/f" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$CCRFS" pack --key "$TMP/key-nobody" "$TMP/locked" "$TMP/y"
  check "nothing half-written after an unreadable source" test ! -e "$TMP/y"
  chmod 0700 "$TMP"
fi
check "no partial folders left behind" no_leftovers
expect_fail "verify of a folder that is not a dataset" "not a dataset" "$CCRFS" verify --key "$key" "$TMP/src"
expect_fail "verify with a malformed --id" "not a dataset id" "$CCRFS" verify --key "$key" --id sha256:abc "$TMP/ds"
expect_fail "verify of an unknown store scheme" "unknown store URL scheme" "$CCRFS" verify --key "$key" "gopher://x/y"
expect_fail "unpack into a destination that exists" "already exists" "$CCRFS" unpack --key "$key" "$TMP/ds" "$TMP/src"
"$CCRFS" keygen -o "$TMP/wrong" 2>/dev/null
expect_fail "unpack with the wrong key" "wrong key" "$CCRFS" unpack --key "$TMP/wrong" "$TMP/ds" "$TMP/out"
check "a failed unpack leaves no destination" test ! -e "$TMP/out"
# A tampered file makes unpack fail as a whole: no destination, no partial plaintext.
cp -a "$TMP/ds" "$TMP/bad"
blob=$(ls "$TMP/bad/blobs")
printf 'X' | dd of="$TMP/bad/blobs/$blob" bs=1 seek=75 conv=notrunc status=none
expect_fail "unpack of a tampered dataset" "d/f.*authentication" "$CCRFS" unpack --key "$key" "$TMP/bad" "$TMP/out2"
check "no destination after a tampered unpack" test ! -e "$TMP/out2"
check "no partial folders left behind after unpack failures" no_leftovers
expect_fail "inspect of a file that is no ccrfs object" "not a ccrfs" "$CCRFS" inspect "$TMP/src/d/f"
# Errors are one line.
lines=$("$CCRFS" verify --key "$TMP/short" "$TMP/ds" 2>&1 | wc -l)
check "an error is one line on stderr" test "$lines" -eq 1
finish
