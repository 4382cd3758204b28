#!/usr/bin/env bash
# Tampering seen through the mount: one flipped bit in one block gives EIO on exactly the reads
# that touch that block, correct bytes elsewhere, a counted and logged integrity failure, and
# other files keep working. A tampered header or a truncated blob fails the open.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
BS=65536
mkdir -p "$SRC"
head -c $((BS * 40 + 1234)) /dev/urandom >"$SRC/victim.bin"
head -c $((BS * 10)) /dev/urandom >"$SRC/other.bin"
head -c $((BS * 3)) /dev/urandom >"$SRC/header.bin"
head -c $((BS * 3)) /dev/urandom >"$SRC/short.bin"
ID=$(mount_pack "$SRC" "$DS")

blob_of() { # the blob object of a file, through a clean mount
  getfattr --absolute-names --only-values -n user.ccrfs.blob "$MNT/$1"
}
mount_start "$DS" "$MNT" 2>/dev/null || { fail "mount"; finish; }
VICTIM=$DS/blobs/$(blob_of victim.bin)
HEADER=$DS/blobs/$(blob_of header.bin)
SHORT=$DS/blobs/$(blob_of short.bin)
mount_stop "$MNT"

# Flip one bit in the middle of block 17's ciphertext; block i starts at 72 + i*(BS+16).
BAD=17
flip_byte() { # FILE OFFSET
  local b
  b=$(xxd -s "$2" -l 1 -p "$1")
  printf "%02x" $((0x$b ^ 0x04)) | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip_byte "$VICTIM" $((72 + BAD * (BS + 16) + 1000))
flip_byte "$HEADER" 40 # inside the header's length/salt area
truncate -s -1 "$SHORT"

mount_foreground "$DS" "$MNT" 2>"$TMP/daemon.log"
check "mounted in the foreground" mount_is_mounted "$MNT"

read_blocks() { # FILE FIRST COUNT -> stdout; O_DIRECT so the kernel asks for just these blocks
  dd if="$1" bs=$BS skip="$2" count="$3" iflag=direct status=none
}
src_blocks() {
  dd if="$1" bs=$BS skip="$2" count="$3" status=none
}
check_fails "reading the tampered block fails" read_blocks "$MNT/victim.bin" $BAD 1
check "with EIO" bash -c "dd if='$MNT/victim.bin' bs=$BS skip=$BAD count=1 iflag=direct status=none 2>&1 >/dev/null | grep -q 'Input/output error'"
check_fails "a read spanning it fails" read_blocks "$MNT/victim.bin" $((BAD - 1)) 3
check "the block before is correct" cmp -s <(read_blocks "$MNT/victim.bin" $((BAD - 1)) 1) <(src_blocks "$SRC/victim.bin" $((BAD - 1)) 1)
check "the block after is correct" cmp -s <(read_blocks "$MNT/victim.bin" $((BAD + 1)) 1) <(src_blocks "$SRC/victim.bin" $((BAD + 1)) 1)
check "the first 17 blocks are correct" cmp -s <(read_blocks "$MNT/victim.bin" 0 $BAD) <(src_blocks "$SRC/victim.bin" 0 $BAD)
check "the blocks after it to the end are correct" \
  cmp -s <(read_blocks "$MNT/victim.bin" $((BAD + 1)) 100) <(src_blocks "$SRC/victim.bin" $((BAD + 1)) 100)
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
check "buffered reads before the block are correct" \
  cmp -s <(dd if="$MNT/victim.bin" bs=$BS count=$BAD status=none) <(src_blocks "$SRC/victim.bin" 0 $BAD)
check "buffered reads after the block are correct" \
  cmp -s <(dd if="$MNT/victim.bin" bs=$BS skip=$((BAD + 1)) status=none) <(src_blocks "$SRC/victim.bin" $((BAD + 1)) 100)
check "a 4 KiB read inside the block fails too" \
  bash -c "! python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.pread(fd, 4096, $BAD*$BS+8192)' '$MNT/victim.bin' 2>/dev/null"
check_fails "reading the whole file through the page cache fails" cat "$MNT/victim.bin"
check "another file keeps working" cmp -s "$MNT/other.bin" "$SRC/other.bin"
check_fails "a file whose blob header was altered does not open" cat "$MNT/header.bin"
check_fails "a truncated blob does not open" cat "$MNT/short.bin"
check "the open fails with EIO" bash -c "cat '$MNT/short.bin' 2>&1 | grep -q 'Input/output error'"
fails=$(mount_stat "$MNT" integrity_failures)
check "integrity failures are counted ($fails)" [ "${fails:-0}" -ge 3 ]
check "and logged, naming the file and block" grep -q "integrity failure: victim.bin: block $BAD" "$TMP/daemon.log"
check "the header failure is logged" grep -q "integrity failure: header.bin: blob header" "$TMP/daemon.log"
check "the mount is still up" mount_is_mounted "$MNT"
mount_stop "$MNT"
wait "$FG_PID"

finish
