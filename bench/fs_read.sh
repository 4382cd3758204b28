#!/usr/bin/env bash
# Filesystem reads, in one run, on the same 1 GiB random file, cold caches before every
# measurement (each file system freshly mounted, then echo 3 > /proc/sys/vm/drop_caches), best
# of 3 runs for each figure (this shared machine is noisy). Every store lives in /dev/shm, so the
# figures are about the file systems, not the disk:
#   nullfs (zeros, ccrfs's FUSE settings)   the FUSE ceiling
#   gocryptfs on a local folder
#   rclone crypt over nginx (http remote)   when rclone is installed
#   ccrfs over the file store, and over the same nginx (also with a 4 MiB block cache, so that
#   random reads measure the fetch path rather than cache hits)
# Figures: sequential 1 MiB reads (MB/s), random 4 KiB reads with O_DIRECT at queue depth 1
# and 16 (IOPS, fio), time to first byte (open + read of 4 KiB), peak RSS of the daemon, and the
# daemon's CPU seconds (user + system) per GiB read sequentially (the least of the 3 runs).
#   sudo bash bench/fs_read.sh [BUILD_DIR] [SIZE_MIB] [RANDOM_SECONDS]
# FS_READ_NAMES="nullfs ccrfs-file ccrfs-nginx" measures only those.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
size_mib=${2:-1024}
rand_s=${3:-10}
ccrfs=$build/ccrfs
nullfs=$build/bench/nullfs
for b in "$ccrfs" "$nullfs"; do
    [ -x "$b" ] || { echo "build first: $b is missing" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (mounts, drop_caches)" >&2; exit 1; }
command -v fio >/dev/null || { echo "fio is needed" >&2; exit 1; }
source "$src/tests/integration/lib/nginx.sh" # nginx_free_port

work=$(mktemp -d /dev/shm/ccrfs-bench-fs.XXXXXX)
mounts=()
pids=()
nginx_pid=""
cleanup() {
    local m p
    for m in "${mounts[@]}"; do fusermount3 -uz "$m" 2>/dev/null || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/plain" "$work/www"
echo "preparing a $size_mib MiB random file and its encrypted copies in $work" >&2
head -c $((size_mib << 20)) /dev/urandom >"$work/plain/f.bin"
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1
"$ccrfs" pack --key "$work/key" "$work/plain" "$work/www/ds" >/dev/null 2>&1

# nginx with directory listings (rclone's http remote lists folders).
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
port=$(nginx_free_port)
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
user $(id -un) $(id -gn);
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        root $work/www;
        location / { autoindex on; }
    }
}
CONF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

wanted() { [ -z "${FS_READ_NAMES:-}" ] || [[ " $FS_READ_NAMES " == *" $1 "* ]]; }
have_gocryptfs=0
if wanted gocryptfs && command -v gocryptfs >/dev/null; then
    have_gocryptfs=1
    mkdir -p "$work/gc.cipher" "$work/gc.mnt"
    echo "benchmark-only-password" >"$work/gc.pass"
    gocryptfs -q -init -scryptn 10 -passfile "$work/gc.pass" "$work/gc.cipher" >/dev/null
    gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$work/gc.mnt"
    cp "$work/plain/f.bin" "$work/gc.mnt/f.bin"
    fusermount3 -u "$work/gc.mnt"
fi

have_rclone=0
if wanted rclone && command -v rclone >/dev/null; then
    have_rclone=1
    pw=$(rclone obscure benchmark-only-password)
    export RCLONE_CONFIG_RCLOCAL_TYPE=crypt RCLONE_CONFIG_RCLOCAL_REMOTE="$work/www/rc" \
        RCLONE_CONFIG_RCLOCAL_PASSWORD="$pw" \
        RCLONE_CONFIG_NG_TYPE=http RCLONE_CONFIG_NG_URL="http://127.0.0.1:$port/rc/" \
        RCLONE_CONFIG_RCNG_TYPE=crypt RCLONE_CONFIG_RCNG_REMOTE="ng:" RCLONE_CONFIG_RCNG_PASSWORD="$pw"
    rclone copy "$work/plain" rclocal: 2>/dev/null
fi

# Mounting: each function mounts at $work/mnt.NAME, sets MNT_FILE and MNT_PID.
wait_mounted() {
    local i
    for i in $(seq 200); do
        grep -q " $1 " /proc/self/mounts && return 0
        sleep 0.05
    done
    echo "mount at $1 did not come up" >&2
    return 1
}
daemon_pid_of() { # the process whose command line names mount point $1
    local p a args
    for p in /proc/[0-9]*; do
        mapfile -d '' args 2>/dev/null <"$p/cmdline" || continue
        for a in "${args[@]}"; do [ "$a" = "$1" ] && { echo "${p#/proc/}"; return 0; }; done
    done
    return 1
}
mount_fs() { # NAME
    local mp="$work/mnt.$1"
    mkdir -p "$mp"
    case "$1" in
    nullfs)
        "$nullfs" --size $((size_mib << 20)) "$mp" &
        pids+=($!)
        MNT_FILE=$mp/zero ;;
    gocryptfs)
        gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$mp"
        MNT_FILE=$mp/f.bin ;;
    rclone)
        rclone mount rcng: "$mp" --read-only --daemon 2>/dev/null
        MNT_FILE=$mp/f.bin ;;
    ccrfs-file)
        "$ccrfs" mount --key "$work/key" "$work/www/ds" "$mp" 2>/dev/null
        MNT_FILE=$mp/f.bin ;;
    ccrfs-nginx)
        "$ccrfs" mount --key "$work/key" "http://127.0.0.1:$port/ds" "$mp" 2>/dev/null
        MNT_FILE=$mp/f.bin ;;
    ccrfs-nginx-4M)
        "$ccrfs" mount --key "$work/key" -o cache_size=4M "http://127.0.0.1:$port/ds" "$mp" 2>/dev/null
        MNT_FILE=$mp/f.bin ;;
    esac
    mounts+=("$mp")
    wait_mounted "$mp"
    stat "$MNT_FILE" >/dev/null
    MNT_PID=$(daemon_pid_of "$mp")
}
umount_fs() { # NAME
    local mp="$work/mnt.$1" i
    fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp"
    for i in $(seq 100); do kill -0 "$MNT_PID" 2>/dev/null || return 0; sleep 0.05; done
}
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
seq_run() { # NAME -> "MB/s daemon-CPU-s-per-GiB"
    local c0 c1 mbs
    mount_fs "$1"
    cold
    c0=$(cpu_s "$MNT_PID")
    mbs=$(seq_mbs "$MNT_FILE")
    c1=$(cpu_s "$MNT_PID")
    umount_fs "$1"
    echo "$mbs $(awk -v a="$c0" -v b="$c1" -v s="$size_mib" 'BEGIN { printf "%.2f", (b - a) * 1024 / s }')"
}
peak_rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

fio_json() { # FILE fio-options... -> the JSON report
    fio --output-format=json --name=b --filename="$1" --readonly "${@:2}" 2>/dev/null
}
seq_mbs() {
    fio_json "$1" --rw=read --bs=1M --ioengine=psync --size=$((size_mib << 20)) |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["jobs"][0]["read"]["bw_bytes"] / 1e6))'
}
rand_iops() { # FILE DEPTH
    local engine=psync
    [ "$2" -gt 1 ] && engine=libaio
    fio_json "$1" --rw=randread --bs=4k --direct=1 --ioengine=$engine --iodepth="$2" \
        --time_based --runtime="$rand_s" --randrepeat=0 |
        python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["jobs"][0]["read"]["iops"])'
}
ttfb_ms() {
    python3 -c '
import os, sys, time
t = time.perf_counter()
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 4096)
print("%.1f" % ((time.perf_counter() - t) * 1000))' "$1"
}

names=(nullfs)
((have_gocryptfs)) && names+=(gocryptfs)
((have_rclone)) && names+=(rclone)
names+=(ccrfs-file ccrfs-nginx ccrfs-nginx-4M)
if [ -n "${FS_READ_NAMES:-}" ]; then
    read -r -a names <<<"$FS_READ_NAMES"
fi
best() { sort -g | tail -n 1; }
least() { sort -g | head -n 1; }
declare -A SEQ CPU QD1 QD16 TTFB RSS
for n in "${names[@]}"; do
    echo "measuring $n" >&2
    TTFB[$n]=$(for _ in 1 2 3; do mount_fs "$n"; cold; ttfb_ms "$MNT_FILE"; umount_fs "$n"; done | least)
    runs=$(for _ in 1 2 3; do seq_run "$n"; done)
    SEQ[$n]=$(awk '{ print $1 }' <<<"$runs" | best)
    CPU[$n]=$(awk '{ print $2 }' <<<"$runs" | least)
    QD1[$n]=$(for _ in 1 2 3; do mount_fs "$n"; cold; rand_iops "$MNT_FILE" 1; umount_fs "$n"; done | best)
    QD16[$n]=$(for _ in 1 2 3; do mount_fs "$n"; cold; rand_iops "$MNT_FILE" 16; umount_fs "$n"; done | best)
    # Peak RSS over a sequential read and a random run in one daemon's life.
    mount_fs "$n"
    cold; seq_mbs "$MNT_FILE" >/dev/null
    rand_iops "$MNT_FILE" 16 >/dev/null
    RSS[$n]=$(peak_rss_mib "$MNT_PID"); umount_fs "$n"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "file: $size_mib MiB of random bytes in /dev/shm; fresh mount and cold caches before each figure;"
echo "best of 3; random runs ${rand_s}s with O_DIRECT; ccrfs with its default 256 MiB cache unless named -4M"
echo
echo "| file system | seq 1 MiB MB/s | daemon CPU s/GiB | rand 4K QD1 IOPS | rand 4K QD16 IOPS | first byte ms | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for n in "${names[@]}"; do
    echo "| $n | ${SEQ[$n]} | ${CPU[$n]} | ${QD1[$n]} | ${QD16[$n]} | ${TTFB[$n]} | ${RSS[$n]} |"
done
echo
echo "ccrfs-nginx sequential / nullfs: $(ratio "${SEQ[ccrfs-nginx]:-0}" "${SEQ[nullfs]:-0}")"
echo "ccrfs-file sequential / nullfs: $(ratio "${SEQ[ccrfs-file]:-0}" "${SEQ[nullfs]:-0}")"
if ((have_rclone)); then
    echo "ccrfs-nginx / rclone crypt, sequential: $(ratio "${SEQ[ccrfs-nginx]}" "${SEQ[rclone]}")"
    echo "ccrfs-nginx / rclone crypt, random QD1: $(ratio "${QD1[ccrfs-nginx]}" "${QD1[rclone]}")"
    echo "ccrfs-nginx / rclone crypt, random QD16: $(ratio "${QD16[ccrfs-nginx]}" "${QD16[rclone]}")"
    echo "ccrfs-nginx-4M / rclone crypt, random QD1: $(ratio "${QD1[ccrfs-nginx-4M]}" "${QD1[rclone]}")"
    echo "ccrfs-nginx-4M / rclone crypt, random QD16: $(ratio "${QD16[ccrfs-nginx-4M]}" "${QD16[rclone]}")"
fi
if ((have_gocryptfs)); then
    echo "ccrfs-file / gocryptfs, sequential: $(ratio "${SEQ[ccrfs-file]}" "${SEQ[gocryptfs]}")"
fi
