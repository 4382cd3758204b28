#!/usr/bin/env bash
# fio reading the mount with verification: files written by fio with crc32c verify headers in
# the source folder, packed, then read back through the mount sequentially (1 MiB and 64 KiB
# requests) and randomly (4 KiB, also with several jobs at queue depth 16) with --verify_only.
# fio runs inside the scratch folder and keeps no verify state (--verify_state_save=0), so it
# writes nothing into the current folder.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
require_cmd fio
mount_lib_init
cd "$TMP" || { fail "cd into the scratch folder"; finish; } # fio writes to its current folder

# Sizes: this test measures nothing, so a daemon under a sanitizer reads smaller files (every
# check still runs; the sequential file stays larger than the 32 MiB cache).
SEQ=96M SMALL=32M
if h_sanitized; then
  SEQ=40M SMALL=8M
fi

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
mkdir -p "$SRC"
FIO=(fio --output=/dev/null --verify=crc32c --randrepeat=1 --ioengine=psync --verify_state_save=0)
"${FIO[@]}" --name=seq --filename="$SRC/seq.dat" --rw=write --bs=1M --size=$SEQ --do_verify=0
"${FIO[@]}" --name=seq64 --filename="$SRC/seq64.dat" --rw=write --bs=64k --size=$SMALL --do_verify=0
"${FIO[@]}" --name=rand --filename="$SRC/rand.dat" --rw=randwrite --bs=4k --size=$SMALL --do_verify=0
mount_pack "$SRC" "$DS" >/dev/null
mount_start "$DS" "$MNT" -o cache_size=32M 2>/dev/null || { fail "mount"; finish; }

# fio_verify NAME FILE RW BS SIZE [more fio options]: reads the mount and verifies every block.
fio_verify() {
  local name=$1 file=$2 rw=$3 bs=$4 size=$5 out
  shift 5
  out=$(fio --verify=crc32c --randrepeat=1 --ioengine=psync --verify_state_save=0 --readonly --verify_only --name="$name" \
    --filename="$file" --rw="$rw" --bs="$bs" --size="$size" "$@" 2>&1)
  if echo "$out" | grep -qE "verify:|err= *[1-9]"; then
    echo "$out" | grep -E "verify:|err=" | head -5
    return 1
  fi
  echo "$out" | grep -q "err= 0"
}
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
check "fio sequential 1 MiB reads verify" fio_verify seq "$MNT/seq.dat" read 1M $SEQ
check "fio sequential 64 KiB reads verify" fio_verify seq64 "$MNT/seq64.dat" read 64k $SMALL
check "fio random 4 KiB reads verify" fio_verify rand "$MNT/rand.dat" randread 4k $SMALL
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
check "fio random 4 KiB reads with direct I/O verify" fio_verify rand "$MNT/rand.dat" randread 4k $SMALL --direct=1
check "fio random 4 KiB reads, libaio queue depth 16, verify" \
  fio_verify rand "$MNT/rand.dat" randread 4k $SMALL --ioengine=libaio --iodepth=16 --direct=1
check "fio sequential reads again (cache warm, cache smaller than the file) verify" \
  fio_verify seq "$MNT/seq.dat" read 1M $SEQ
# Verification must be able to fail: the same check against the wrong file.
check_fails "fio notices a file that is not what it wrote" fio_verify seq64 "$MNT/rand.dat" read 64k $SMALL
check "no integrity failure was counted" [ "$(mount_stat "$MNT" integrity_failures)" = 0 ]
mount_stop "$MNT"

finish
