#!/usr/bin/env bash
# Times `ccrfs pack` and `ccrfs verify` of one 1 GiB random file against OpenSSL's own
# AES-256-GCM rate on one core, measured in the same run. Prints the ratios.
#   bash bench/pack_verify.sh [BUILD_DIR] [SIZE_MIB]
# Data lives in /dev/shm so the disk does not set the pace.
set -euo pipefail
build=${1:-build}
size_mib=${2:-1024}
ccrfs=$(readlink -f "$build/ccrfs")
work=$(mktemp -d /dev/shm/ccrfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

mibps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; }
# best_of N CLEANUP CMD...: the shortest of N timed runs (this VM's timings are noisy), running
# CLEANUP before each.
best_of() {
  local n=$1 cleanup=$2 best=; shift 2
  for _ in $(seq "$n"); do
    eval "$cleanup"
    local t; t=$(seconds "$@")
    best=$(awk -v a="$t" -v b="${best:-1e9}" 'BEGIN { print (a < b) ? a : b }')
  done
  echo "$best"
}

mkdir -p "$work/src"
head -c $((size_mib << 20)) /dev/urandom >"$work/src/data.bin"
"$ccrfs" keygen -o "$work/key" 2>/dev/null

# OpenSSL's rate for 64 KiB messages on one core (bytes per second, from the last column in kB/s).
ossl_kbps=$(openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3 2>/dev/null | awk '/^AES-256-GCM/ || /^aes-256-gcm/ {v=$NF} END {sub("k","",v); print v}')
ossl=$(awk -v k="$ossl_kbps" 'BEGIN { printf "%.0f", k * 1000 / 1048576 }')
sha_kbps=$(openssl speed -evp sha256 -bytes 65536 -seconds 2 2>/dev/null | awk '/^sha256/ {v=$NF} END {sub("k","",v); print v}')
sha=$(awk -v k="$sha_kbps" 'BEGIN { printf "%.0f", k * 1000 / 1048576 }')

bytes=$((size_mib << 20))
t_cp=$(best_of 3 'rm -f "$work/copy"' cp "$work/src/data.bin" "$work/copy")
rm -f "$work/copy"
t_pack=$(best_of 3 'rm -rf "$work/ds"' "$ccrfs" pack --key "$work/key" "$work/src" "$work/ds")
t_verify=$(best_of 3 ':' "$ccrfs" verify --key "$work/key" "$work/ds")
cp_rate=$(mibps $bytes "$t_cp")
pack=$(mibps $bytes "$t_pack")
verify=$(mibps $bytes "$t_verify")
# pack and verify both also hash the plaintext: the ceiling for one core doing both is
# 1 / (1/aes + 1/sha).
both=$(awk -v a="$ossl" -v s="$sha" 'BEGIN { printf "%.0f", 1 / (1 / a + 1 / s) }')

printf '%-44s %8s MiB/s\n' "openssl speed aes-256-gcm (64 KiB, 1 core)" "$ossl"
printf '%-44s %8s MiB/s\n' "openssl speed sha256 (64 KiB, 1 core)" "$sha"
printf '%-44s %8s MiB/s\n' "ceiling for AES-GCM + SHA-256 on 1 core" "$both"
printf '%-44s %8s MiB/s\n' "cp of the same file to the same place" "$cp_rate"
printf '%-44s %8s MiB/s  %s of AES-GCM, %s of the ceiling\n' "ccrfs pack (${size_mib} MiB, 64 KiB blocks)" "$pack" \
  "$(awk -v a="$pack" -v b="$ossl" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
  "$(awk -v a="$pack" -v b="$both" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
printf '%-44s %8s MiB/s  %s of AES-GCM, %s of the ceiling\n' "ccrfs verify (${size_mib} MiB)" "$verify" \
  "$(awk -v a="$verify" -v b="$ossl" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
  "$(awk -v a="$verify" -v b="$both" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
