#!/usr/bin/env bash
# Machine-learning workloads, unmodified, on a plaintext folder, gocryptfs (when installed) and
# ccrfs over the file store and over nginx, in one run (docs/PERFORMANCE.md):
#   torch    a PyTorch DataLoader over FILES small files (2-20 KB), one shuffled epoch: cold with
#            0 and 4 workers, then warm with 0 workers (same mount, page cache kept)
#   mmap     numpy.load(mmap_mode='r') of a SIZE_MIB array, random 4 KiB reads for SECONDS_EACH:
#            bytes the program asked for, bytes ccrfs fetched from the store (its
#            user.ccrfs.stats), their ratio, and time per read against the plaintext file
#   h5py     random 64 KiB slices of an HDF5 dataset of the same size
#   pandas   read_csv of a CSV of about 200 MB
# A workload whose Python module is missing is skipped and says so (Debian: python3-torch,
# python3-numpy, python3-h5py, python3-pandas).
#   sudo bash bench/ml.sh [BUILD_DIR]
# FILES (default 50000), SIZE_MIB (default 2048), SECONDS_EACH (default 20), RUNS (default 3: medians).
set -euo pipefail
# Debian's interpreter, where python3-torch and the others are installed.
py=${PYTHON:-/usr/bin/python3}
export PYTHONWARNINGS=ignore # torch warns when workers outnumber cores
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ccrfs=$(readlink -f "$build/ccrfs")
[ -x "$ccrfs" ] || { echo "build first: $ccrfs is missing" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (mounts, drop_caches)" >&2; exit 1; }
source "$src/tests/integration/lib/nginx.sh" # nginx_free_port
files=${FILES:-50000}
size_mib=${SIZE_MIB:-2048}
seconds=${SECONDS_EACH:-20}
runs=${RUNS:-3}
work=$(mktemp -d /var/tmp/ccrfs-bench-ml.XXXXXX)
mounts=()
nginx_pid=""
cleanup() {
    local m
    for m in "${mounts[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true; }
    done
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT
has() { "$py" -c "import $1" 2>/dev/null; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

# ---- data ---------------------------------------------------------------------------------
mkdir -p "$work/plain/small" "$work/plain/big" "$work/www"
echo "preparing $files small files and a $size_mib MiB array in $work" >&2
"$py" - "$work/plain/small" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(3)
for i in range(n):
    d = os.path.join(root, "c%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "s%06d.bin" % i), "wb") as f:
        f.write(os.urandom(r.randint(2000, 20000)))
PY
if has numpy; then
    "$py" - "$work/plain/big" "$size_mib" <<'PY'
import numpy as np, os, sys
root, mib = sys.argv[1], int(sys.argv[2])
a = np.lib.format.open_memmap(os.path.join(root, "array.npy"), mode="w+", dtype=np.uint8,
                              shape=(mib << 20,))
step = 64 << 20
for off in range(0, mib << 20, step):
    a[off:off + step] = np.frombuffer(os.urandom(min(step, (mib << 20) - off)), dtype=np.uint8)
a.flush()
PY
fi
if has h5py && has numpy; then
    "$py" - "$work/plain/big" "$size_mib" <<'PY'
import h5py, numpy as np, os, sys
root, mib = sys.argv[1], int(sys.argv[2])
with h5py.File(os.path.join(root, "data.h5"), "w") as f:
    d = f.create_dataset("x", shape=((mib << 20) // 4,), dtype="f4", chunks=(16384,))
    step = 16 << 20
    for off in range(0, d.shape[0], step):
        n = min(step, d.shape[0] - off)
        d[off:off + n] = np.random.default_rng(off).random(n, dtype=np.float32)
PY
fi
if has pandas; then
    "$py" - "$work/plain/big" <<'PY'
import os, random, sys
r = random.Random(9)
with open(os.path.join(sys.argv[1], "table.csv"), "w") as f:
    f.write("id,a,b,c,label\n")
    for i in range(4_000_000):
        f.write("%d,%.6f,%.6f,%d,%s\n" % (i, r.random(), r.random(), r.randint(0, 10**9), r.choice("ABCD")))
PY
fi
"$ccrfs" keygen -o "$work/key" >/dev/null 2>&1
"$ccrfs" pack --key "$work/key" "$work/plain" "$work/www/ds" >/dev/null 2>&1

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
    server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

have_gocryptfs=0
if command -v gocryptfs >/dev/null; then
    have_gocryptfs=1
    mkdir -p "$work/gc.cipher" "$work/gc.mnt"
    echo "benchmark-only-password" >"$work/gc.pass"
    gocryptfs -q -init -scryptn 10 -passfile "$work/gc.pass" "$work/gc.cipher" >/dev/null 2>&1
    gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$work/gc.mnt" 2>/dev/null
    cp -r "$work/plain/." "$work/gc.mnt/"
    fusermount3 -u "$work/gc.mnt"
fi

# ---- mounting -----------------------------------------------------------------------------
ROOT=""
mount_fs() { # NAME -> ROOT
    local mp="$work/mnt.$1"
    mkdir -p "$mp"
    case "$1" in
    local) ROOT=$work/plain; return 0 ;;
    gocryptfs) gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$mp" 2>/dev/null ;;
    ccrfs-file) "$ccrfs" mount --key "$work/key" --audit-log "$work/audit.$1" "$work/www/ds" "$mp" >/dev/null 2>&1 ;;
    ccrfs-nginx) "$ccrfs" mount --key "$work/key" --audit-log "$work/audit.$1" "http://127.0.0.1:$port/ds" "$mp" >/dev/null 2>&1 ;;
    esac
    mounts+=("$mp")
    ROOT=$mp
    stat "$ROOT/." >/dev/null
}
umount_fs() { # NAME
    [ "$1" = local ] && return 0
    fusermount3 -u "$work/mnt.$1" 2>/dev/null || fusermount3 -uz "$work/mnt.$1"
    sleep 0.3
}
fetched() { # ROOT -> ciphertext bytes fetched so far (ccrfs), else 0
    getfattr --only-values -n user.ccrfs.stats "$1" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_fetched"])' 2>/dev/null || echo 0
}

names=(local)
((have_gocryptfs)) && names+=(gocryptfs)
names+=(ccrfs-file ccrfs-nginx)

# ---- workloads ----------------------------------------------------------------------------
torch_epoch() { # ROOT WORKERS -> files/s
    "$py" - "$1" "$2" <<'PY'
import os, sys, time, torch
from torch.utils.data import DataLoader, Dataset
root, workers = sys.argv[1] + "/small", int(sys.argv[2])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
class Files(Dataset):
    def __len__(self): return len(paths)
    def __getitem__(self, i):
        with open(paths[i], "rb") as f:
            return len(f.read())
g = torch.Generator().manual_seed(1)
dl = DataLoader(Files(), batch_size=64, shuffle=True, num_workers=workers, generator=g)
t = time.monotonic()
n = sum(len(b) for b in dl)
print("%.0f" % (n / (time.monotonic() - t)))
PY
}
mmap_random() { # ROOT -> "us-per-read bytes-asked"
    "$py" - "$1" "$seconds" <<'PY'
import numpy as np, random, sys, time
a = np.load(sys.argv[1] + "/big/array.npy", mmap_mode="r")
r, n, total, limit = random.Random(4), 0, 0, float(sys.argv[2])
t = time.monotonic()
while time.monotonic() - t < limit:
    off = r.randrange(0, a.shape[0] - 4096) & ~4095
    total += int(a[off:off + 4096].sum() >= 0) * 4096
    n += 1
print("%.1f %d" % ((time.monotonic() - t) / n * 1e6, total))
PY
}
h5_random() { # ROOT -> slices/s
    "$py" - "$1" "$seconds" <<'PY'
import h5py, random, sys, time
with h5py.File(sys.argv[1] + "/big/data.h5", "r") as f:
    d, r, n, limit = f["x"], random.Random(6), 0, float(sys.argv[2])
    t = time.monotonic()
    while time.monotonic() - t < limit:
        off = r.randrange(0, d.shape[0] - 16384)
        d[off:off + 16384].sum()
        n += 1
    print("%.0f" % (n / (time.monotonic() - t)))
PY
}
pandas_csv() { # ROOT -> seconds
    "$py" - "$1" <<'PY'
import pandas as pd, sys, time
t = time.monotonic()
df = pd.read_csv(sys.argv[1] + "/big/table.csv")
print("%.2f" % (time.monotonic() - t), file=sys.stdout)
PY
}

declare -A T0 T4 TW MM_US MM_AMP H5 PD
for fs in "${names[@]}"; do
    for _ in $(seq "$runs"); do
        if has torch; then
            mount_fs "$fs"; cold; T0[$fs]+="$(torch_epoch "$ROOT" 0) "; TW[$fs]+="$(torch_epoch "$ROOT" 0) "; umount_fs "$fs"
            mount_fs "$fs"; cold; T4[$fs]+="$(torch_epoch "$ROOT" 4) "; umount_fs "$fs"
        fi
        if has numpy; then
            mount_fs "$fs"; cold
            f0=$(fetched "$ROOT")
            read -r us asked < <(mmap_random "$ROOT")
            f1=$(fetched "$ROOT")
            MM_US[$fs]+="$us "
            [ "$fs" != local ] && [ "$fs" != gocryptfs ] &&
                MM_AMP[$fs]+="$(awk -v a="$asked" -v b="$((f1 - f0))" 'BEGIN { printf "%.2f", b / a }') "
            umount_fs "$fs"
        fi
        if has h5py; then mount_fs "$fs"; cold; H5[$fs]+="$(h5_random "$ROOT") "; umount_fs "$fs"; fi
        if has pandas; then mount_fs "$fs"; cold; PD[$fs]+="$(pandas_csv "$ROOT") "; umount_fs "$fs"; fi
    done
done

med() { tr ' ' '\n' <<<"${1:-}" | grep . | median; }
has torch || echo "torch: python3-torch is not installed, skipped"
has numpy || echo "mmap: python3-numpy is not installed, skipped"
has h5py || echo "h5py: python3-h5py is not installed, skipped"
has pandas || echo "pandas: python3-pandas is not installed, skipped"
printf "%-12s %-12s %-12s %-12s %-14s %-12s %-12s %-10s\n" fs "torch 0w f/s" "torch 4w f/s" "warm 0w f/s" \
    "mmap us/read" "fetched/asked" "h5 slices/s" "csv s"
for fs in "${names[@]}"; do
    printf "%-12s %-12s %-12s %-12s %-14s %-12s %-12s %-10s\n" "$fs" "$(med "${T0[$fs]:-}")" \
        "$(med "${T4[$fs]:-}")" "$(med "${TW[$fs]:-}")" "$(med "${MM_US[$fs]:-}")" "$(med "${MM_AMP[$fs]:-}")" \
        "$(med "${H5[$fs]:-}")" "$(med "${PD[$fs]:-}")"
done
