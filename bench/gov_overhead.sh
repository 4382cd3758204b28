#!/usr/bin/env bash
# Auditing overhead: the cost of the governance read hook per read, audit on against off, in
# a tight loop without a filesystem (tests/gov_driver --bench). Sequential reads coalesce
# into few events; random reads fill the per-file range buffer and are flushed as events
# (sealed, hashed, spooled, delivered to an audit log file); the driver runs with --full, the
# open/read/release form, since a read's cost is what is measured. Then, as root with FUSE, warm
# re-reads through a real mount with page_cache=keep against page_cache=drop.
#   bash bench/gov_overhead.sh [BUILD_DIR] [READS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${2:-2000000}
driver=$build/tests/gov_driver
if [ ! -x "$driver" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target gov_driver >/dev/null
fi
work=$(mktemp -d /tmp/ccrfs-gov-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "reads per case: $n; $(nproc) cores; $(uname -r)"
for flush in 64 1024; do
  echo "--- range buffer flushed past $flush ranges"
  "$driver" --spool "$work/spool-$flush" --audit-log "$work/audit-$flush.log" --bench "$n" --full \
    --flush-ranges "$flush" --checkpoint 1000 --flush-ms 1000 --threads 0 2>&1 | grep -v '^ccrfs'
  echo "events: $(wc -l <"$work/audit-$flush.log"), log bytes: $(stat -c %s "$work/audit-$flush.log")"
done

# Through a real mount (root with /dev/fuse only): a warm re-read with the kernel's pages kept
# across opens (page_cache=keep, a mount without a contract) against dropped at each open
# (page_cache=drop, the default under a contract), audit log on in both.
ccrfs=$build/ccrfs
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || [ ! -x "$ccrfs" ]; then
  echo "--- warm re-read: skipped (needs root, /dev/fuse and $ccrfs)"
  exit 0
fi
mkdir -p "$work/src/small"
head -c $((64 << 20)) /dev/urandom >"$work/src/big.bin"
for i in $(seq 1 1000); do head -c 4096 /dev/urandom >"$work/src/small/f$i"; done
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1
"$ccrfs" pack --key "$work/key" "$work/src" "$work/ds" >/dev/null 2>&1
trap 'for m in "$work"/mnt-*; do fusermount3 -u "$m" 2>/dev/null; done; rm -rf "$work"' EXIT
secs() { # secs CMD...: wall seconds of one run
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
for pc in keep drop; do
  mp=$work/mnt-$pc
  mkdir -p "$mp"
  "$ccrfs" mount --key "$work/key" --audit-log "$work/warm-$pc.log" --spool "$work/spool-warm-$pc" \
    -o page_cache=$pc "$work/ds" "$mp" 2>/dev/null
  cat "$mp/big.bin" "$mp"/small/* >/dev/null # the first read: everything in the daemon's cache
  big= small=
  for run in 1 2 3; do
    big="$big $(secs cat "$mp/big.bin")"
    small="$small $(secs sh -c "cat '$mp'/small/*")"
  done
  echo "--- warm re-read, page_cache=$pc: 64 MiB file:$big s; 1000 files of 4 KiB:$small s"
  fusermount3 -u "$mp"
done
