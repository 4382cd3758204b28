#!/usr/bin/env bash
# Packing small files: files/s of `ccrfs pack` against `cp -r` of the same plaintext tree on the
# same disk, in the same run, and of `cp -r` into a gocryptfs mount when gocryptfs is installed.
#   bash bench/pack.sh [BUILD_DIR] [WORK_DIR]
# COUNTS (default "10000 100000") sets the dataset sizes; files are 100 B to 20 KB, 1,000 per
# folder. WORK_DIR (default: a new folder under /var/tmp) must be on the disk to measure. Each
# figure is the best of RUNS (default 2) runs. pack ends with a sync of the file system, so
# cp -r is timed both alone and followed by sync; the ratio uses the latter.
set -euo pipefail
build=${1:-build}
ccrfs=$(readlink -f "$build/ccrfs")
work=$(mktemp -d "${2:-/var/tmp}/ccrfs-bench-pack.XXXXXX")
counts=${COUNTS:-"10000 100000"}
runs=${RUNS:-2}
gmnt=
cleanup() {
  if [ -n "$gmnt" ] && mountpoint -q "$gmnt"; then fusermount3 -u "$gmnt" || fusermount -u "$gmnt" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; }
best_of() {
  local cleanup=$1 best=; shift
  for _ in $(seq "$runs"); do
    eval "$cleanup"
    sync
    local t; t=$(seconds "$@")
    best=$(awk -v a="$t" -v b="${best:-1e9}" 'BEGIN { print (a < b) ? a : b }')
  done
  echo "$best"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
cp_sync() { cp -r "$1" "$2" && sync; }

make_tree() { # DIR COUNT
  python3 - "$1" "$2" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
r = random.Random(11)
for i in range(count):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d)
    with open(os.path.join(d, "f%06d.bin" % i), "wb") as f:
        f.write(os.urandom(r.randint(100, 20000)))
PY
}

"$ccrfs" keygen -o "$work/key" 2>/dev/null
have_gocryptfs=0
command -v gocryptfs >/dev/null && have_gocryptfs=1
printf "%-8s %-8s %-12s %-12s %-12s %-12s %-14s %s\n" files MB "pack f/s" "cp -r f/s" "cp+sync f/s" \
  "pack/cp+sync" "gocryptfs f/s" "pack/gocryptfs"
for n in $counts; do
  src="$work/src$n"
  make_tree "$src" "$n"
  mb=$(du -sm --apparent-size "$src" | cut -f1)
  t_pack=$(best_of 'rm -rf "$work/ds"' "$ccrfs" pack --key "$work/key" "$src" "$work/ds")
  t_cp=$(best_of 'rm -rf "$work/copy"' cp -r "$src" "$work/copy")
  t_cps=$(best_of 'rm -rf "$work/copy"' cp_sync "$src" "$work/copy")
  rm -rf "$work/ds" "$work/copy"
  g_rate=- g_ratio=-
  if [ "$have_gocryptfs" = 1 ]; then
    gmnt="$work/gmnt"
    rm -rf "$work/gcipher" "$gmnt"
    mkdir -p "$work/gcipher" "$gmnt"
    gocryptfs -q -init -extpass "echo bench" "$work/gcipher" >/dev/null
    gocryptfs -q -extpass "echo bench" "$work/gcipher" "$gmnt"
    t_g=$(best_of 'rm -rf "$gmnt/copy"' cp_sync "$src" "$gmnt/copy")
    fusermount3 -u "$gmnt" 2>/dev/null || fusermount -u "$gmnt"
    rm -rf "$work/gcipher"
    g_rate=$(rate "$n" "$t_g")
    g_ratio=$(awk -v a="$t_g" -v b="$t_pack" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf "%-8s %-8s %-12s %-12s %-12s %-12s %-14s %s\n" "$n" "$mb" "$(rate "$n" "$t_pack")" "$(rate "$n" "$t_cp")" \
    "$(rate "$n" "$t_cps")" "$(awk -v a="$t_cps" -v b="$t_pack" 'BEGIN { printf "%.2f", a / b }')" "$g_rate" "$g_ratio"
  rm -rf "$src"
done
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg); disk: $(df -T "$work" | awk 'NR==2 {print $2, $1}')"
