#!/usr/bin/env bash
# Bad input gets one clear line on stderr and a non-zero exit, and leaves nothing behind.
source "$CCRFS_SRC/tests/integration/lib/common.sh"

key=$T_DIR/key
"$CCRFS" keygen -o "$key" 2>/dev/null
mkdir -p "$T_DIR/src/d" && echo hello >"$T_DIR/src/d/f"
"$CCRFS" pack --key "$key" "$T_DIR/src" "$T_DIR/ds" >/dev/null

# Nothing may be left half-written next to an output that failed.
no_leftovers() { ! ls -a "$T_DIR" | grep -q 'partial'; }

expect_fail "keygen refuses to overwrite" "already exists" "$CCRFS" keygen -o "$key"
expect_fail "keygen without -o" "missing -o" "$CCRFS" keygen
expect_fail "an unknown command" "unknown command" "$CCRFS" frobnicate
expect_fail "an unknown option" "unknown option.*--frob" "$CCRFS" pack --frob --key "$key" "$T_DIR/src" "$T_DIR/x"
expect_fail "a missing key file" "key file .*nokey.*No such file" "$CCRFS" pack --key "$T_DIR/nokey" "$T_DIR/src" "$T_DIR/x"
head -c 16 /dev/urandom >"$T_DIR/short"
expect_fail "a short key file" "too short" "$CCRFS" pack --key "$T_DIR/short" "$T_DIR/src" "$T_DIR/x"
head -c 33 /dev/urandom >"$T_DIR/long"
expect_fail "a long key file" "too long" "$CCRFS" verify --key "$T_DIR/long" "$T_DIR/ds"
expect_fail "a block size that is not a power of two" "block-size" \
  "$CCRFS" pack --key "$key" --block-size 5000 "$T_DIR/src" "$T_DIR/x"
expect_fail "a block size above 1 MiB" "block-size" "$CCRFS" pack --key "$key" --block-size 2M "$T_DIR/src" "$T_DIR/x"
expect_fail "pack into a destination that exists" "already exists" "$CCRFS" pack --key "$key" "$T_DIR/src" "$T_DIR/ds"
expect_fail "pack of a source that does not exist" "nosrc" "$CCRFS" pack --key "$key" "$T_DIR/nosrc" "$T_DIR/x"
check "no output folder after failed packs" test ! -e "$T_DIR/x"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  mkdir -p "$T_DIR/locked/inner" && echo secret >"$T_DIR/locked/inner/f" && chmod 000 "$T_DIR/locked/inner/f"
  chmod 0755 "$T_DIR" "$T_DIR/locked" "$T_DIR/locked/inner"
  cp "$key" "$T_DIR/key-nobody" && chown nobody "$T_DIR/key-nobody"
  chmod 0777 "$T_DIR"
  expect_fail "an unreadable source file, named" "locked/inner/f" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$CCRFS" pack --key "$T_DIR/key-nobody" "$T_DIR/locked" "$T_DIR/y"
  check "nothing half-written after an unreadable source" test ! -e "$T_DIR/y"
  chmod 0700 "$T_DIR"
fi
check "no partial folders left behind" no_leftovers
expect_fail "verify of a folder that is not a dataset" "not a dataset" "$CCRFS" verify --key "$key" "$T_DIR/src"
expect_fail "verify with a malformed --id" "not a dataset id" "$CCRFS" verify --key "$key" --id sha256:abc "$T_DIR/ds"
expect_fail "verify of an unknown store scheme" "unknown store URL scheme" "$CCRFS" verify --key "$key" "gopher://x/y"
expect_fail "unpack into a destination that exists" "already exists" "$CCRFS" unpack --key "$key" "$T_DIR/ds" "$T_DIR/src"
"$CCRFS" keygen -o "$T_DIR/wrong" 2>/dev/null
expect_fail "unpack with the wrong key" "wrong key" "$CCRFS" unpack --key "$T_DIR/wrong" "$T_DIR/ds" "$T_DIR/out"
check "a failed unpack leaves no destination" test ! -e "$T_DIR/out"
# A tampered file makes unpack fail as a whole: no destination, no partial plaintext.
cp -a "$T_DIR/ds" "$T_DIR/bad"
blob=$(ls "$T_DIR/bad/blobs")
printf 'X' | dd of="$T_DIR/bad/blobs/$blob" bs=1 seek=75 conv=notrunc status=none
expect_fail "unpack of a tampered dataset" "d/f.*authentication" "$CCRFS" unpack --key "$key" "$T_DIR/bad" "$T_DIR/out2"
check "no destination after a tampered unpack" test ! -e "$T_DIR/out2"
check "no partial folders left behind after unpack failures" no_leftovers
expect_fail "inspect of a file that is no ccrfs object" "not a ccrfs" "$CCRFS" inspect "$T_DIR/src/d/f"
# Errors are one line.
lines=$("$CCRFS" verify --key "$T_DIR/short" "$T_DIR/ds" 2>&1 | wc -l)
check "an error is one line on stderr" test "$lines" -eq 1
finish
