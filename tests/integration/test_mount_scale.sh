#!/usr/bin/env bash
# A dataset of many small files (100-400 bytes in 200 folders) mounted for real: every file
# opened and read once, its bytes checked, while the daemon's mappings and resident size stay
# within bounds that do not depend on how many files were opened (docs/MOUNT.md), and all of its
# memory stays locked.
# CCRFS_SCALE_FILES sets the count (default 100,000; 5,000 under a sanitizer).
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd python3 getfattr

N=${CCRFS_SCALE_FILES:-100000}
h_sanitized && N=${CCRFS_SCALE_FILES:-5000}
CACHE_MIB=16
KEY_CACHE=1024
# Bounds: the resident size is the cache, the secret arena, the manifest and the inode table
# (about 1 KiB per file, generously); the mappings are libraries, threads and arenas, not one
# per file or per key (vm.max_map_count is 65,530).
MAPS_MAX=2000
RSS_MAX_KB=$(((CACHE_MIB + 64) * 1024 + N))
# AddressSanitizer keeps freed memory in a quarantine (256 MiB) and adds shadow memory: its own
# resident size, not the daemon's, so the bound grows by that much under it.
h_sanitized && RSS_MAX_KB=$((RSS_MAX_KB + 512 * 1024))

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt

# The tree, and one line per file: its path and sha256 (the reference the mount must match).
python3 - "$SRC" "$N" >"$TMP/src.sums" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(200):
    os.makedirs(os.path.join(root, "d%03d" % d), exist_ok=True)
for i in range(n):
    size = 100 + (i * 7919) % 301
    seed = hashlib.sha256(b"%d" % i).digest()
    data = (seed * (size // 32 + 1))[:size]
    rel = "d%03d/f%06d.bin" % (i % 200, i)
    with open(os.path.join(root, rel), "wb") as f:
        f.write(data)
    print(rel, hashlib.sha256(data).hexdigest())
PY
check "wrote $N small files in 200 folders" [ "$(wc -l <"$TMP/src.sums")" -eq "$N" ]

t0=$(date +%s)
ID=$(mount_pack "$SRC" "$DS")
t1=$(date +%s)
case "$ID" in sha256:*) pass "packed $N files in $((t1 - t0)) s" ;; *) fail "pack printed no dataset id"; finish ;; esac

if ! mount_start "$DS" "$MNT" --dataset-id "$ID" -o cache_size=${CACHE_MIB}M,key_cache=$KEY_CACHE 2>"$TMP/mount.err"; then
  fail "mount: $(cat "$TMP/mount.err")"
  finish
fi
PID=$(mount_daemon_pid "$MNT")
check "the daemon is found" [ -n "$PID" ]

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Every file once, in a shuffled order (a data loader's epoch), one process: opens, reads and
# closes; the daemon's memory is sampled while it runs.
python3 - "$MNT" "$TMP/src.sums" "$PID" >"$TMP/read.out" 2>&1 <<'PY'
import hashlib, os, random, sys, time
mnt, sums, pid = sys.argv[1], sys.argv[2], sys.argv[3]
ref = [l.split() for l in open(sums)]
random.Random(7).shuffle(ref)
def status(key):
    for line in open("/proc/%s/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
bad = 0
peak_maps = peak_rss = 0
def maps():
    return sum(1 for _ in open("/proc/%s/maps" % pid))
t0 = time.monotonic()
for i, (rel, digest) in enumerate(ref):
    with open(os.path.join(mnt, rel), "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != digest:
            bad += 1
    if i % 2000 == 0:
        peak_maps = max(peak_maps, maps())
        peak_rss = max(peak_rss, status("VmRSS"))
dt = time.monotonic() - t0
peak_maps = max(peak_maps, maps())
peak_rss = max(peak_rss, status("VmRSS"))
print("files %d bad %d seconds %.1f files_per_s %.0f peak_maps %d peak_rss_kb %d"
      % (len(ref), bad, dt, len(ref) / dt, peak_maps, peak_rss))
PY
h_show "$TMP/read.out"
read_field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$TMP/read.out"; }
check "every file was opened and read" [ "$(read_field files)" = "$N" ]
check "every file's bytes match the source" [ "$(read_field bad)" = "0" ]
MAPS=$(read_field peak_maps)
RSS=$(read_field peak_rss_kb)
check "the daemon's mappings stayed under $MAPS_MAX (peak ${MAPS:-?})" [ "${MAPS:-999999999}" -le "$MAPS_MAX" ]
check "the daemon's VmRSS stayed under ${RSS_MAX_KB} kB (peak ${RSS:-?} kB)" [ "${RSS:-999999999}" -le "$RSS_MAX_KB" ]

check "no open was refused for lack of memory" [ "$(mount_stat "$MNT" memory_errors)" = "0" ]
check "no store errors" [ "$(mount_stat "$MNT" store_errors)" = "0" ]
check "every open was counted" [ "$(mount_stat "$MNT" opens)" -ge "$N" ]
# The kernel sends the last releases after the reader closed: give them a moment to arrive.
keys_within() { [ "$(mount_stat "$MNT" keys_live)" -le "$KEY_CACHE" ]; }
wait_until 10 keys_within
check "file keys in memory stay within key_cache ($(mount_stat "$MNT" keys_live) live)" keys_within

# A listing with sizes answers from readdirplus: the paths and sizes match the source.
listing() { (cd "$1" && find . -type f -printf '%P %s\n' | sort); }
check "find -printf of sizes over the mount matches the source" cmp -s <(listing "$SRC") <(listing "$MNT")
# mlockall(MCL_ONFAULT) counts whole mappings as locked: at least everything resident. The
# sanitizers intercept mlockall and make it do nothing, so there it cannot be seen.
if h_sanitized; then
  skip "whether all of the daemon's memory is locked: the sanitizer turns mlockall into a no-op"
else
  check "all of the daemon's memory is locked (VmLck $(status_kb "$PID" VmLck) kB >= VmRSS $(status_kb "$PID" VmRSS) kB)" \
    [ "$(status_kb "$PID" VmLck)" -ge "$(status_kb "$PID" VmRSS)" ]
fi

mount_stop "$MNT"
check "unmounted" mount_gone "$MNT"
finish
