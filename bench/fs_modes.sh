#!/usr/bin/env bash
# The writable modes, on one random file of SIZE_MIB, everything in /dev/shm (figures about the
# file system, not the disk), best of 3 runs each:
#   no-egress: sequential 1 MiB reads of an untouched dataset file; of the same file opened
#   read-write (copied up: the overlay reads through to the dataset); 1 MiB writes of a new
#   file (fsync at the end); reading that file back (cold page cache)
#   sink: time from the close of a written file to its upload being complete (file store)
#   sudo bash bench/fs_modes.sh [BUILD_DIR] [SIZE_MIB]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
size_mib=${2:-512}
ccrfs=$build/ccrfs
[ -x "$ccrfs" ] || { echo "build first: $ccrfs is missing" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (mounts, drop_caches)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

work=$(mktemp -d /dev/shm/ccrfs-bench-modes.XXXXXX)
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do fusermount3 -uz "$m" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/src" "$work/mnt" "$work/ovl" "$work/sink" "$work/out"
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1
head -c $((size_mib << 20)) /dev/urandom >"$work/src/big.bin"
"$ccrfs" pack --key "$work/key" "$work/src" "$work/ds" >/dev/null 2>&1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/priv.pem" 2>/dev/null
openssl pkey -in "$work/priv.pem" -pubout -out "$work/pub.pem" 2>/dev/null

mbps() { python3 -c "import sys; print('%.0f' % ($size_mib * 1.048576 / float(sys.argv[1])))" "$1"; }
best() { sort -n | tail -1; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }

mount_ne() {
    "$ccrfs" mount --key "$work/key" -o "mode=no-egress,overlay_dir=$work/ovl" "$work/ds" "$work/mnt" 2>/dev/null
    mounts+=("$work/mnt")
}
read_rw() {
    python3 - "$1" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
t = time.time()
while os.read(fd, 1 << 20):
    pass
print(time.time() - t)
EOF
}

untouched=() copied=() writes=() readback=() uploads=()
for run in 1 2 3; do
    mount_ne
    echo 3 >/proc/sys/vm/drop_caches
    t0=$(now); cat "$work/mnt/big.bin" >/dev/null; t1=$(now)
    untouched+=("$(mbps "$(secs "$t0" "$t1")")")
    copied+=("$(mbps "$(read_rw "$work/mnt/big.bin")")")
    t0=$(now); dd if="$work/src/big.bin" of="$work/mnt/new.bin" bs=1M conv=fsync status=none; t1=$(now)
    writes+=("$(mbps "$(secs "$t0" "$t1")")")
    echo 3 >/proc/sys/vm/drop_caches
    t0=$(now); cat "$work/mnt/new.bin" >/dev/null; t1=$(now)
    readback+=("$(mbps "$(secs "$t0" "$t1")")")
    fusermount3 -u "$work/mnt"

    rm -rf "${work:?}/out/"*
    "$ccrfs" mount -o "mode=sink,recipient=$work/pub.pem,overlay_dir=$work/ovl" "$work/out" "$work/sink" 2>/dev/null
    mounts+=("$work/sink")
    cp "$work/src/big.bin" "$work/sink/big.bin"
    t0=$(now)
    while [ ! -e "$work/out/big.bin/manifest.ccrfs" ]; do sleep 0.02; done
    t1=$(now)
    uploads+=("$(mbps "$(secs "$t0" "$t1")")")
    fusermount3 -u "$work/sink"
done

echo "no-egress, ${size_mib} MiB file, best of 3 (MB/s):"
echo "  read, untouched dataset file     $(printf '%s\n' "${untouched[@]}" | best)"
echo "  read, copied up (opened rw)      $(printf '%s\n' "${copied[@]}" | best)"
echo "  write, new file (1 MiB, fsync)   $(printf '%s\n' "${writes[@]}" | best)"
echo "  read back the written file       $(printf '%s\n' "${readback[@]}" | best)"
echo "sink: seal and upload after close  $(printf '%s\n' "${uploads[@]}" | best)"
