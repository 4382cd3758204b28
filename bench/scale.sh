#!/usr/bin/env bash
# Datasets of many small files, side by side in one run (docs/SCALE.md, docs/PERFORMANCE.md):
#   mount time and the daemon's resident size after mounting, against the file count;
#   open+read+close of every file once (shuffled), one reader and four, in files/s;
#   `ls -lR` and `find -type f -size +8k` of the whole tree, in entries/s;
#   the daemon's resident size after every file was opened once;
#   audit bytes per small file read once (the default compact record, and -o audit_full).
# Each on: the plaintext folder itself, the same folder through a pass-through FUSE (passfs, built
# beside ccrfs: what FUSE itself costs), gocryptfs (when installed), and ccrfs over the file store. Ratios against the plaintext folder and gocryptfs are what to compare: absolute
# figures on a shared machine are noisy. Figures are the best of RUNS (default 2).
#   sudo bash bench/scale.sh [BUILD_DIR] [WORK_DIR]
# COUNTS (default "10000 100000") sets the dataset sizes (1000000 works, given time and disk);
# files are 100 B to 20 KB, 1,000 per folder. Above FULL_MAX files (default 100000) a count is
# measured once and only for the curve: pack, mount time and RSS, one reader, `ls -lR`, RSS after
# (no gocryptfs, no four readers, no find, no audit forms), since each pass takes minutes.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ccrfs=$(readlink -f "$build/ccrfs")
[ -x "$ccrfs" ] || { echo "build first: $ccrfs is missing" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (mounts, drop_caches)" >&2; exit 1; }
work=$(mktemp -d "${2:-/var/tmp}/ccrfs-bench-scale.XXXXXX")
counts=${COUNTS:-"10000 100000"}
runs=${RUNS:-2}
full_max=${FULL_MAX:-100000}
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true; }
    done
    rm -rf "$work"
}
trap cleanup EXIT

have_gocryptfs=0
command -v gocryptfs >/dev/null && have_gocryptfs=1
passfs=$(readlink -f "$build/bench/passfs" 2>/dev/null || true)
have_passfs=0
[ -x "$passfs" ] && have_passfs=1
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1

make_tree() { # DIR COUNT
    python3 - "$1" "$2" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
r = random.Random(11)
for i in range(count):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d)
    with open(os.path.join(d, "f%07d.bin" % i), "wb") as f:
        f.write(os.urandom(r.randint(100, 20000)))
PY
}

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
best() { sort -g | tail -n 1; }
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
daemon_pid_of() { # the process whose command line names mount point $1
    local p a args
    for p in /proc/[0-9]*; do
        mapfile -d '' args 2>/dev/null <"$p/cmdline" || continue
        for a in "${args[@]}"; do [ "$a" = "$1" ] && { echo "${p#/proc/}"; return 0; }; done
    done
    return 1
}

# Every file once, shuffled, by READERS processes; prints files/s.
read_all() { # DIR READERS
    python3 - "$1" "$2" <<'PY'
import os, random, sys, time
from multiprocessing import Pool
root, readers = sys.argv[1], int(sys.argv[2])
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
random.Random(5).shuffle(paths)
def work(chunk):
    for p in chunk:
        with open(p, "rb") as f:
            f.read()
    return len(chunk)
t = time.monotonic()
if readers == 1:
    n = work(paths)
else:
    with Pool(readers) as pool:
        n = sum(pool.map(work, [paths[i::readers] for i in range(readers)]))
print("%.0f" % (n / (time.monotonic() - t)))
PY
}
entries_per_s() { # N COMMAND...
    local n=$1 t0; shift
    t0=$(now)
    "$@" >/dev/null 2>&1
    rate "$n" "$(elapsed "$t0")"
}

# Mounting: each sets MNT, and PID for ccrfs (the daemon), to measure.
mount_ccrfs() { # DATASET MOUNTPOINT [OPTIONS]
    local t0
    mkdir -p "$2"
    t0=$(now)
    "$ccrfs" mount --key "$work/key" --audit-log "$work/audit.log" ${3:+-o "$3"} "$1" "$2" >/dev/null 2>&1
    stat "$2/." >/dev/null
    MOUNT_S=$(elapsed "$t0")
    mounts+=("$2")
    PID=$(daemon_pid_of "$2")
}
umount_wait() { # MOUNTPOINT [PID]
    fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1"
    local i
    for i in $(seq 200); do
        [ -z "${2:-}" ] && return 0
        kill -0 "$2" 2>/dev/null || return 0
        sleep 0.05
    done
}

# Above FULL_MAX: the curve only (see the header).
curve_only() { # N TREE DATASET ENTRIES
    local n=$1 tree=$2 ds=$3 entries=$4 mnt="$work/mnt$1" r1p lsp r1 ls rss_mount rss_after
    cold; r1p=$(read_all "$tree" 1)
    cold; lsp=$(entries_per_s "$entries" ls -lR "$tree")
    local lsf=-
    if ((have_passfs)); then
        mkdir -p "$work/pass$n"
        "$passfs" "$tree" "$work/pass$n"
        mounts+=("$work/pass$n")
        cold; lsf=$(entries_per_s "$entries" ls -lR "$work/pass$n")
        umount_wait "$work/pass$n"
    fi
    cold; mount_ccrfs "$ds" "$mnt"
    rss_mount=$(rss_mib "$PID")
    local mount_s=$MOUNT_S
    r1=$(read_all "$mnt" 1)
    rss_after=$(rss_mib "$PID")
    umount_wait "$mnt" "$PID"
    cold; mount_ccrfs "$ds" "$mnt"; ls=$(entries_per_s "$entries" ls -lR "$mnt"); umount_wait "$mnt" "$PID"
    printf "%-8s %-16s %-9s %-9s %-10s %-10s %-10s %-10s %-10s\n" "$n" plain - - "$r1p" - "$lsp" - -
    ((have_passfs)) && printf "%-8s %-16s %-9s %-9s %-10s %-10s %-10s %-10s %-10s\n" "$n" passfs - - - - "$lsf" - -
    printf "%-8s %-16s %-9s %-9s %-10s %-10s %-10s %-10s %-10s\n" "$n" ccrfs "$mount_s" "$rss_mount" "$r1" - "$ls" - \
        "$rss_after"
    echo "  $n files: read vs plain = $(ratio "$r1" "$r1p"); ls -lR vs plain = $(ratio "$ls" "$lsp")," \
        "vs passfs = $(ratio "$ls" "$lsf")"
}

printf "%-8s %-16s %-9s %-9s %-10s %-10s %-10s %-10s %-10s\n" files fs "mount s" "RSS MiB" "read f/s" \
    "4 rd f/s" "ls -lR e/s" "find e/s" "RSS after"
for n in $counts; do
    tree="$work/plain$n"
    make_tree "$tree" "$n"
    ds="$work/ds$n"
    sync
    t0=$(now)
    "$ccrfs" pack --key "$work/key" "$tree" "$ds" >/dev/null 2>&1
    pack_s=$(elapsed "$t0")
    echo "  $n files: pack $pack_s s, $(rate "$n" "$pack_s") files/s ($(du -sm --apparent-size "$tree" | cut -f1) MB)"
    entries=$((n + n / 1000 + 1))
    if [ "$n" -gt "$full_max" ]; then
        curve_only "$n" "$tree" "$ds" "$entries"
        rm -rf "$tree" "$ds"
        continue
    fi
    declare -A R1=() R4=() LS=() FIND=()

    # The plaintext folder: the ceiling.
    for _ in $(seq "$runs"); do
        cold; R1[plain]+="$(read_all "$tree" 1) "
        cold; R4[plain]+="$(read_all "$tree" 4) "
        cold; LS[plain]+="$(entries_per_s "$entries" ls -lR "$tree") "
        cold; FIND[plain]+="$(entries_per_s "$entries" find "$tree" -type f -size +8k) "
    done

    if ((have_passfs)); then
        pm="$work/pass$n"
        mkdir -p "$pm"
        for _ in $(seq "$runs"); do
            cold; "$passfs" "$tree" "$pm"; mounts+=("$pm"); R1[passfs]+="$(read_all "$pm" 1) "; umount_wait "$pm"
            cold; "$passfs" "$tree" "$pm"; R4[passfs]+="$(read_all "$pm" 4) "; umount_wait "$pm"
            cold; "$passfs" "$tree" "$pm"; LS[passfs]+="$(entries_per_s "$entries" ls -lR "$pm") "; umount_wait "$pm"
            cold; "$passfs" "$tree" "$pm"
            FIND[passfs]+="$(entries_per_s "$entries" find "$pm" -type f -size +8k) "
            umount_wait "$pm"
        done
    fi

    if ((have_gocryptfs)); then
        gc="$work/gc$n"
        mkdir -p "$gc.cipher" "$gc.mnt"
        echo "benchmark-only-password" >"$work/gc.pass"
        gocryptfs -q -init -scryptn 10 -passfile "$work/gc.pass" "$gc.cipher" >/dev/null 2>&1
        gocryptfs -q -passfile "$work/gc.pass" "$gc.cipher" "$gc.mnt" 2>/dev/null
        mounts+=("$gc.mnt")
        cp -r "$tree/." "$gc.mnt/"
        for _ in $(seq "$runs"); do
            cold; R1[gocryptfs]+="$(read_all "$gc.mnt" 1) "
            cold; R4[gocryptfs]+="$(read_all "$gc.mnt" 4) "
            cold; LS[gocryptfs]+="$(entries_per_s "$entries" ls -lR "$gc.mnt") "
            cold; FIND[gocryptfs]+="$(entries_per_s "$entries" find "$gc.mnt" -type f -size +8k) "
        done
        umount_wait "$gc.mnt"
        rm -rf "$gc.cipher"
    fi

    # ccrfs: a fresh mount for each figure, so no figure reads another's cache.
    mnt="$work/mnt$n"
    mount_times="" rss_mount="" rss_after=""
    for _ in $(seq "$runs"); do
        cold; mount_ccrfs "$ds" "$mnt"
        mount_times+="$MOUNT_S "
        rss_mount=$(rss_mib "$PID")
        R1[ccrfs]+="$(read_all "$mnt" 1) "
        rss_after=$(rss_mib "$PID")
        umount_wait "$mnt" "$PID"
        cold; mount_ccrfs "$ds" "$mnt"; R4[ccrfs]+="$(read_all "$mnt" 4) "; umount_wait "$mnt" "$PID"
        cold; mount_ccrfs "$ds" "$mnt"; LS[ccrfs]+="$(entries_per_s "$entries" ls -lR "$mnt") "; umount_wait "$mnt" "$PID"
        cold; mount_ccrfs "$ds" "$mnt"
        FIND[ccrfs]+="$(entries_per_s "$entries" find "$mnt" -type f -size +8k) "
        umount_wait "$mnt" "$PID"
    done
    mount_s=$(tr ' ' '\n' <<<"$mount_times" | grep . | sort -g | head -n 1)

    # Audit bytes per small file read once: the default (one compact record) and audit_full.
    audit_default=0 audit_full=0
    for form in default full; do
        rm -f "$work/audit.log"*
        opts=""
        [ "$form" = full ] && opts=audit_full
        mount_ccrfs "$ds" "$mnt" "$opts"
        read_all "$mnt" 1 >/dev/null
        umount_wait "$mnt" "$PID"
        bytes=$(cat "$work/audit.log"* | wc -c)
        if [ "$form" = default ]; then audit_default=$((bytes / n)); else audit_full=$((bytes / n)); fi
    done

    names=(plain)
    ((have_passfs)) && names+=(passfs)
    ((have_gocryptfs)) && names+=(gocryptfs)
    names+=(ccrfs)
    for fs in "${names[@]}"; do
        m="-" r="-" a="-"
        [ "$fs" = ccrfs ] && { m=$mount_s; r=$rss_mount; a=$rss_after; }
        printf "%-8s %-16s %-9s %-9s %-10s %-10s %-10s %-10s %-10s\n" "$n" "$fs" "$m" "$r" \
            "$(tr ' ' '\n' <<<"${R1[$fs]}" | grep . | best)" "$(tr ' ' '\n' <<<"${R4[$fs]}" | grep . | best)" \
            "$(tr ' ' '\n' <<<"${LS[$fs]}" | grep . | best)" "$(tr ' ' '\n' <<<"${FIND[$fs]}" | grep . | best)" "$a"
    done
    c1=$(tr ' ' '\n' <<<"${R1[ccrfs]}" | grep . | best)
    c4=$(tr ' ' '\n' <<<"${R4[ccrfs]}" | grep . | best)
    echo "  $n files: ccrfs 4 readers / 1 reader = $(ratio "$c4" "$c1");" \
        "read vs plain = $(ratio "$c1" "$(tr ' ' '\n' <<<"${R1[plain]}" | grep . | best)");" \
        "audit bytes per file read once: $audit_default (default), $audit_full (audit_full)"
    if ((have_gocryptfs)); then
        echo "  ccrfs / gocryptfs: read $(ratio "$c1" "$(tr ' ' '\n' <<<"${R1[gocryptfs]}" | grep . | best)")," \
            "ls -lR $(ratio "$(tr ' ' '\n' <<<"${LS[ccrfs]}" | grep . | best)" "$(tr ' ' '\n' <<<"${LS[gocryptfs]}" | grep . | best)")"
    fi
    if ((have_passfs)); then
        echo "  ccrfs / passfs: read $(ratio "$c1" "$(tr ' ' '\n' <<<"${R1[passfs]}" | grep . | best)")," \
            "ls -lR $(ratio "$(tr ' ' '\n' <<<"${LS[ccrfs]}" | grep . | best)" "$(tr ' ' '\n' <<<"${LS[passfs]}" | grep . | best)")"
    fi
    rm -rf "$tree" "$ds"
done
