#!/usr/bin/env bash
# The http store against a misbehaving server (lib/faultserver.py): transient failures end in
# correct bytes after retries; wrong answers end in a clear error from the store, never in
# wrong bytes reaching the decryption layer.
set -u
: "${CCRFS:?}" "${CCRFS_SRC:?}"

W=$(mktemp -d /tmp/ccrfs-test-fetch-faults.XXXXXX)
srv_pid=
cleanup() {
    if [ -n "$srv_pid" ]; then kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; fi
    rm -rf "$W"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

mkdir -p "$W/src/sub" "$W/www"
head -c 3000000 /dev/urandom >"$W/src/big.bin"
head -c 70000 /dev/urandom >"$W/src/sub/mid.bin"
echo hello >"$W/src/a.txt"
"$CCRFS" keygen -o "$W/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$W/dek" "$W/src" "$W/www/ds" | tail -1)

python3 "$CCRFS_SRC/tests/integration/lib/faultserver.py" "$W/www" "$W/port" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || { echo "fault server did not start"; exit 1; }
U="http://127.0.0.1:$(cat "$W/port")"

# Short limits so the stall case is over in seconds.
export CCRFS_STORE_LOW_SPEED_TIME=2 CCRFS_STORE_RETRY_BUDGET_MS=20000 CCRFS_STORE_CONNECT_TIMEOUT_MS=2000

# recovers MODE: verify succeeds with the right dataset id, and unpack gives the same tree.
recovers() {
    local mode="$1" out
    if out=$("$CCRFS" verify --key "$W/dek" --id "$id" "$U/$mode/ds" 2>&1); then
        ok "$mode: verify recovers"
    else
        bad "$mode: verify: $out"
    fi
}
# refuses MODE PATTERN: verify fails and the store's own message says PATTERN (the decryption
# layer never saw the bytes: no authentication failure is reported).
refuses() {
    local mode="$1" pattern="$2" out rc
    out=$("$CCRFS" verify --key "$W/dek" "$U/$mode/ds" 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$pattern" <<<"$out" && ! grep -qi "authentic\|tag mismatch\|hash" <<<"$out"; then
        ok "$mode: clear error ($pattern)"
    else
        bad "$mode (exit $rc): $out"
    fi
}

recovers ok
recovers err500
recovers busy503
recovers cut
recovers stall
refuses norange "ignored the Range"
refuses badrange "Content-Range does not match"
refuses etag "changed"
refuses etagloose "changed"

# Unpack through the retrying modes gives exactly the source tree.
for mode in err500 cut; do
    if "$CCRFS" unpack --key "$W/dek" "$U/$mode/ds" "$W/out-$mode" >/dev/null 2>"$W/err" && diff -r "$W/src" "$W/out-$mode" >/dev/null; then
        ok "$mode: unpack gives the same bytes"
    else
        bad "$mode: unpack: $(cat "$W/err")"
    fi
done
# The server answers 500 on each path's first request: with no retry budget left, it is an error.
cp -r "$W/www/ds" "$W/www/ds2"
out=$(CCRFS_STORE_RETRY_BUDGET_MS=1 "$CCRFS" verify --key "$W/dek" "$U/err500/ds2" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 500" <<<"$out"; then ok "retry budget bounds the retries"; else bad "retry budget: $out"; fi
out=$(CCRFS_STORE_RETRY_BUDGET_MS=oops "$CCRFS" verify --key "$W/dek" "$U/ok/ds" 2>&1)
if [ $? -eq 1 ] && grep -q "CCRFS_STORE_RETRY_BUDGET_MS" <<<"$out"; then ok "malformed option variable is named"; else bad "malformed variable: $out"; fi

# A server without uploads: push fails clearly and uploads no manifest.
out=$("$CCRFS" push "$W/www/ds" "$U/ok/pushed" 2>&1)
if [ $? -eq 1 ] && grep -q "does not accept uploads" <<<"$out"; then ok "push to a server without PUT is refused clearly"; else bad "push without PUT: $out"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
