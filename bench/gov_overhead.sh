#!/usr/bin/env bash
# Auditing overhead: the cost of the governance read hook per read, audit on against off, in
# a tight loop without a filesystem (tests/gov_driver --bench). Sequential reads coalesce
# into few events; random reads fill the per-file range buffer and are flushed as events
# (sealed, hashed, spooled, delivered to an audit log file).
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
  "$driver" --spool "$work/spool-$flush" --audit-log "$work/audit-$flush.log" --bench "$n" \
    --flush-ranges "$flush" --checkpoint 1000 --flush-ms 1000 --threads 0 2>&1 | grep -v '^ccrfs'
  echo "events: $(wc -l <"$work/audit-$flush.log"), log bytes: $(stat -c %s "$work/audit-$flush.log")"
done
