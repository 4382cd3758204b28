#!/usr/bin/env bash
# Governance event delivery to Azure Clean Room's sidecar (governance_api=acr) under load:
# `ccrfs gov serve --put-delay-ms 2000` stands in for the sidecar (every PUT /events answered
# 2 s late, as after a ledger commit), a mount in acr mode serves 20,000 small files, and R
# reader processes open and read them round and round for T seconds. Once a second it samples
# the events the stand-in has stored (its database, read-only: the events in the bodies of the
# PUTs it answered) and the spool depth (events written to the mount's spool and not yet
# acknowledged: the newest segment's last seq against the spool's "acked"). Prints the events/s
# delivered (mean after a warm-up), the spool depth (max, mean, at the end), whether any open
# failed (a mount failing closed refuses opens), and the time the unmount took to drain the rest.
# The stand-in stores a PUT's events before its delay, so "stored" leads "acknowledged" by 2 s;
# it takes gov_inflight + 16 connections from the mount (its default of 32 per client would
# refuse the PUTs past 31 next to the consent check).
#   sudo bash bench/gov_acr.sh [BUILD_DIR]
# Environment: INFLIGHT (gov_inflight, default 16), READERS (4), SECS (T, 300), WARMUP (20),
# FILES (20000), DELAY_MS (2000), OPTS (more mount options, e.g. audit_compact),
# AUDIT_LOG=1 (also deliver to an audit log file, as tests/integration/test_gov_acr.sh does),
# SAMPLES=FILE (keep the per-second samples: t delivered written acked depth spool_bytes opens).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ccrfs=$(readlink -f "$build/ccrfs")
[ -x "$ccrfs" ] || { echo "build first: $ccrfs is missing" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
    echo "run as root with /dev/fuse" >&2
    exit 1
fi
if ! command -v curl >/dev/null || ! command -v python3 >/dev/null; then
    echo "needs curl and python3" >&2
    exit 1
fi
inflight=${INFLIGHT:-16}
readers=${READERS:-4}
secs=${SECS:-300}
warmup=${WARMUP:-20}
files=${FILES:-20000}
delay=${DELAY_MS:-2000}
work=$(mktemp -d /var/tmp/ccrfs-bench-acr.XXXXXX)
gov_pid='' mount_pid='' sampler_pid=''
reader_pids=()
cleanup() {
    local p
    for p in "${reader_pids[@]}" $sampler_pid; do kill "$p" 2>/dev/null || true; done
    if mountpoint -q "$work/mnt" 2>/dev/null; then
        fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -uz "$work/mnt" 2>/dev/null || true
    fi
    [ -n "$mount_pid" ] && { kill "$mount_pid" 2>/dev/null || true; wait "$mount_pid" 2>/dev/null || true; }
    [ -n "$gov_pid" ] && { kill "$gov_pid" 2>/dev/null || true; wait "$gov_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- the dataset: FILES files of 100-400 bytes in 100 folders --------------------------------
python3 - "$work/src" "$files" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(100):
    os.makedirs(os.path.join(root, "d%02d" % d), exist_ok=True)
for i in range(n):
    size = 100 + (i * 7919) % 301
    data = (hashlib.sha256(b"%d" % i).digest() * 13)[:size]
    with open(os.path.join(root, "d%02d/f%06d.bin" % (i % 100, i)), "wb") as f:
        f.write(data)
PY
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1
ds=$("$ccrfs" pack --key "$work/key" "$work/src" "$work/ds" 2>/dev/null | tail -n 1)
case "$ds" in sha256:*) ;; *) echo "pack printed no dataset id" >&2; exit 1 ;; esac

# --- the service: a contract proposed and signed by both parties, then the sidecar stand-in ---
(umask 077 && echo "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_') operator admin" >"$work/gov.token")
export CCRFS_GOV_TOKEN
CCRFS_GOV_TOKEN=$(cut -d' ' -f1 "$work/gov.token")
gov_start() { # gov_start PORT [gov serve options]
    local port=$1
    shift
    rm -f "$work/gov.port"
    "$ccrfs" gov serve --db "$work/gov.db" --token-file "$work/gov.token" --port "$port" \
        --port-file "$work/gov.port" "$@" >>"$work/gov.log" 2>&1 &
    gov_pid=$!
    for _ in $(seq 100); do
        if [ -s "$work/gov.port" ] && curl -sf "http://127.0.0.1:$(cat "$work/gov.port")/health" >/dev/null; then
            gov_url=http://127.0.0.1:$(cat "$work/gov.port")
            return 0
        fi
        sleep 0.1
    done
    echo "the governance service did not start:" >&2
    cat "$work/gov.log" >&2
    exit 1
}
gov_stop() {
    kill "$gov_pid" 2>/dev/null || true
    wait "$gov_pid" 2>/dev/null || true
    gov_pid=''
}
"$ccrfs" gov keygen --out "$work/provider.pem" >"$work/provider.pub"
"$ccrfs" gov keygen --alg p256 --out "$work/consumer.pem" >"$work/consumer.pub"
cat >"$work/acr.json" <<JSON
{"id": "acr", "purpose": "TRAINING",
 "parties": [{"id": "provider", "role": "data-provider", "publicKey": "$(cat "$work/provider.pub")"},
             {"id": "consumer", "role": "data-consumer", "publicKey": "$(cat "$work/consumer.pub")"}],
 "startTime": "2020-01-01T00:00:00Z", "expiryTime": "2099-01-01T00:00:00Z",
 "datasets": [{"id": "$ds", "provider": "provider", "accessMode": "read-only", "maxMounts": 10}]}
JSON
gov_start 0
"$ccrfs" gov contract propose --url "$gov_url" "$work/acr.json" >/dev/null
for p in provider consumer; do
    "$ccrfs" gov contract sign --url "$gov_url" --party "$p" --key "$work/$p.pem" acr >/dev/null
done
gov_stop
gov_start 0 --contract acr --put-delay-ms "$delay" --max-per-client $((inflight + 16))
curl -sf -X POST -H "Authorization: Bearer $CCRFS_GOV_TOKEN" "$gov_url/consentcheck/execution" |
    grep -q '"status":"enabled"' || { echo "the stand-in does not answer consent as the sidecar" >&2; exit 1; }

# --- the mount ----------------------------------------------------------------------------------
mp=$work/mnt
mkdir -p "$mp"
audit=()
[ "${AUDIT_LOG:-0}" = 1 ] && audit=(--audit-log "$work/audit.log")
env --default-signal=INT "$ccrfs" mount -f --key "$work/key" --governance "$gov_url" --governance-api acr \
    --contract acr "${audit[@]}" --spool "$work/spool" \
    -o "flush_interval_ms=200,gov_inflight=$inflight${OPTS:+,$OPTS}" "$work/ds" "$mp" 2>"$work/mount.log" &
mount_pid=$!
for _ in $(seq 100); do
    mountpoint -q "$mp" && break
    kill -0 "$mount_pid" 2>/dev/null || { cat "$work/mount.log" >&2; exit 1; }
    sleep 0.1
done
mountpoint -q "$mp" || { echo "the mount did not come up" >&2; cat "$work/mount.log" >&2; exit 1; }
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $files files; gov_inflight=$inflight;" \
    "$readers readers for $secs s; every PUT answered ${delay} ms late${OPTS:+; -o $OPTS}"

# --- the sampler: once a second, what the stand-in stored and what the spool holds ------------
python3 - "$work/gov.db" "$work/spool" "$work/samples" "$work/opens" <<'PY' &
import glob, os, re, sqlite3, sys, time
db, spool, out, opens_dir = sys.argv[1:5]
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
last_row, delivered = 0, 0
t0 = time.time()
seq_re = re.compile(rb'"seq":(\d+)')
def written():
    segs = sorted(glob.glob(os.path.join(spool, "seg-*.log")))
    for seg in reversed(segs):
        with open(seg, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            tail = f.read()
        lines = [l for l in tail.split(b"\n")[:-1] if l]  # whole lines only
        for l in reversed(lines):
            m = seq_re.search(l)
            if m:
                return int(m.group(1)) + 1
    return None
def acked():
    try:
        with open(os.path.join(spool, "acked")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
def opens():
    n = 0
    for p in glob.glob(os.path.join(opens_dir, "*")):
        try:
            with open(p) as f:
                n += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return n
with open(out, "w", buffering=1) as o:
    while True:
        t = time.time() - t0
        try:
            rows = con.execute("SELECT seqno, json_array_length(data, '$.events') FROM stream WHERE seqno > ?",
                               (last_row,)).fetchall()
            for seqno, n in rows:
                last_row = max(last_row, seqno)
                delivered += n or 0
        except sqlite3.Error:
            pass
        a = acked()
        w = written()
        if w is None or w < a:
            w = a
        spool_bytes = sum(os.path.getsize(p) for p in glob.glob(os.path.join(spool, "seg-*.log")))
        o.write("%.1f %d %d %d %d %d %d\n" % (t, delivered, w, a, w - a, spool_bytes, opens()))
        time.sleep(max(0.0, 1.0 - (time.time() - t0 - t) ))
PY
sampler_pid=$!

# --- the readers ----------------------------------------------------------------------------
mkdir -p "$work/opens"
t_start=$(now)
for r in $(seq 0 $((readers - 1))); do
    python3 - "$mp" "$files" "$secs" "$r" "$readers" "$work/opens/$r" >"$work/reader.$r" 2>&1 <<'PY' &
import os, sys, time
mnt, n, secs, r, readers, count = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
end = time.time() + secs
i = r * n // readers
opened = failed = 0
first = None
last_note = 0
while time.time() < end:
    for _ in range(100):
        k = i % n
        i += 1
        try:
            with open(os.path.join(mnt, "d%02d/f%06d.bin" % (k % 100, k)), "rb") as f:
                f.read()
            opened += 1
        except OSError as e:
            failed += 1
            if first is None:
                first = "%.1f s: %s" % (secs - (end - time.time()), e)
    if time.time() - last_note >= 0.5:
        with open(count + ".tmp", "w") as f:
            f.write("%d\n" % opened)
        os.replace(count + ".tmp", count)
        last_note = time.time()
with open(count + ".tmp", "w") as f:
    f.write("%d\n" % opened)
os.replace(count + ".tmp", count)
print("opened", opened, "failed", failed, "first", first or "-")
PY
    reader_pids+=($!)
done
wait "${reader_pids[@]}"
reader_pids=()
t_read=$(now)
sleep 1.5 # one more sample with the readers done
cp "$work/samples" "$work/samples.read"

# --- the unmount: the daemon delivers what the spool holds, then exits ------------------------
kill -TERM "$mount_pid"
wait "$mount_pid" 2>/dev/null || true
mount_pid=
t_gone=$(now)
sleep 1.5
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
[ -n "${SAMPLES:-}" ] && cp "$work/samples" "$SAMPLES"

# --- the figures --------------------------------------------------------------------------------
python3 - "$work/samples.read" "$work/samples" "$warmup" "$(elapsed "$t_start" "$t_read")" \
    "$(elapsed "$t_read" "$t_gone")" "$work"/reader.* <<'PY'
import sys
read_samples, all_samples, warmup, read_s, drain_s = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def load(p):
    out = []
    for line in open(p):
        f = line.split()
        if len(f) == 7:
            out.append((float(f[0]),) + tuple(int(x) for x in f[1:]))
    return out
s = [x for x in load(read_samples) if x[0] <= read_s]
a = load(all_samples)
opened = failed = 0
firsts = []
for p in sys.argv[6:]:
    for line in open(p):
        f = line.split()
        if f and f[0] == "opened":
            opened += int(f[1]); failed += int(f[3])
            if f[5] != "-":
                firsts.append(" ".join(f[5:]))
w = [x for x in s if x[0] >= warmup]
def rate(lo, hi):
    return (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else 0.0
print("reads: %d opens in %.1f s (%.0f files/s), %d failed%s" % (opened, read_s, opened / read_s, failed,
      "; first: " + firsts[0] if firsts else ""))
if len(w) > 1:
    deps = [x[4] for x in w]
    half = len(w) // 2
    print("delivered (stored by the stand-in) after %.0f s warm-up: %.0f events/s over %.0f s; first half %.0f, second half %.0f" %
          (warmup, rate(w[0], w[-1]), w[-1][0] - w[0][0], rate(w[0], w[half]), rate(w[half], w[-1])))
    print("written to the spool after the warm-up: %.0f events/s" % ((w[-1][2] - w[0][2]) / (w[-1][0] - w[0][0])))
    win = [rate(w[i], w[i + 30]) for i in range(0, len(w) - 30, 10)]
    if win:
        print("30 s windows: min %.0f, max %.0f events/s" % (min(win), max(win)))
    print("spool depth (events written, not acknowledged) after the warm-up: max %d, mean %.0f, at the end of the reads %d;"
          " spool bytes max %.1f MB" % (max(deps), sum(deps) / len(deps), s[-1][4], max(x[5] for x in s) / 1e6))
    print("spool depth over the whole run: max %d" % max(x[4] for x in s))
print("over the whole read: %d events stored by the stand-in in %.0f s (%.0f events/s)" % (s[-1][1], s[-1][0], s[-1][1] / s[-1][0]))
print("unmount: drained in %.1f s; at the end %d events stored, %d written, %d acknowledged" % (drain_s, a[-1][1], a[-1][2], a[-1][3]))
print("every event written was stored by the stand-in:", "yes" if a[-1][1] == a[-1][2] == a[-1][3] else "NO")
PY
