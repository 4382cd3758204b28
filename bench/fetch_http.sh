#!/usr/bin/env bash
# Store reads from nginx on loopback: sequential 8 MiB ranged reads through fetch_read_many
# with 1, 4 and 16 requests in flight, against curl reading the whole object, same run, same
# file (served from the page cache after a first read).
#   bash bench/fetch_http.sh [BUILD_DIR] [SIZE_MIB]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
size_mib=${2:-1024}
bench="$build/bench/fetch_bench"
[ -x "$bench" ] || { echo "build first: $bench is missing" >&2; exit 1; }
source "$src/tests/integration/lib/nginx.sh"
work=$(mktemp -d /tmp/ccrfs-bench-fetch.XXXXXX)
trap 'stop_nginx; rm -rf "$work"' EXIT
head -c $((size_mib << 20)) /dev/urandom >"$work/object.bin"
start_nginx "$work"
url="http://127.0.0.1:$NGINX_PORT"
cat "$work/object.bin" >/dev/null # warm the page cache

curl_rate() {
    curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$url/object.bin" |
        awk '{ printf "%.1f\n", $1 / $2 / 1048576 }'
}
best() { sort -n | tail -1; }

echo "object: $size_mib MiB from nginx on 127.0.0.1 (best of 3 runs each)"
c=$( (for _ in 1 2 3; do curl_rate; done) | best)
printf '%-28s %8s MiB/s\n' "curl, whole object" "$c"
for n in 1 4 16; do
    r=$( (for _ in 1 2 3; do "$bench" "$url" object.bin "$n" 8 | awk '{ print $3 }'; done) | best)
    printf '%-28s %8s MiB/s  %5.0f%% of curl\n' "read_many, $n in flight" "$r" "$(awk -v a="$r" -v b="$c" 'BEGIN { print 100 * a / b }')"
done
