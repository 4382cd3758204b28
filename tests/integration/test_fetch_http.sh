#!/usr/bin/env bash
# Datasets read from and pushed to nginx over plain HTTP and HTTPS: push (WebDAV PUT), verify
# and unpack through the http(s) store; TLS verification; errors named clearly; secrets in
# query strings never printed.
set -u
: "${CCRFS:?}" "${CCRFS_SRC:?}"
source "$CCRFS_SRC/tests/integration/lib/nginx.sh"

W=$(mktemp -d /tmp/ccrfs-test-fetch-http.XXXXXX)
cleanup() { stop_nginx; rm -rf "$W"; }
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
# expect_fail NAME PATTERN CMD...: the command fails (exit 1) and says PATTERN.
expect_fail() {
    local name="$1" pattern="$2" out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$pattern" <<<"$out"; then ok "$name"; else bad "$name (exit $rc): $out"; fi
}

mkdir -p "$W/src/sub" "$W/www"
head -c 5000000 /dev/urandom >"$W/src/big.bin"
echo hello >"$W/src/sub/a.txt"
: >"$W/src/empty"
"$CCRFS" keygen -o "$W/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$W/dek" "$W/src" "$W/ds" | tail -1)
start_nginx "$W/www" || { echo "nginx would not start"; exit 1; }
H="http://127.0.0.1:$NGINX_PORT"
S="https://127.0.0.1:$NGINX_TLS_PORT"

if [ "$NGINX_DAV" = 1 ]; then
    if "$CCRFS" push "$W/ds" "$H/pushed" >"$W/push.out" 2>&1 && tail -1 "$W/push.out" | grep -qx "$id"; then
        ok "push over HTTP PUT"
    else
        bad "push over HTTP PUT: $(cat "$W/push.out")"
    fi
    if cmp -s "$W/ds/manifest.ccrfs" "$W/www/pushed/manifest.ccrfs"; then ok "pushed manifest is byte for byte"; else bad "pushed manifest differs"; fi
    out=$("$CCRFS" push "$W/ds" "$H/pushed" 2>&1)
    if grep -q "0 objects uploaded" <<<"$out" && grep -q "manifest already there" <<<"$out"; then
        ok "second push uploads nothing"
    else
        bad "second push: $out"
    fi
else
    echo "note: this nginx has no WebDAV module; the push checks are skipped and the dataset copied"
    cp -r "$W/ds" "$W/www/pushed"
fi

if "$CCRFS" verify --key "$W/dek" --id "$id" "$H/pushed" >/dev/null 2>"$W/err"; then ok "verify over HTTP"; else bad "verify over HTTP: $(cat "$W/err")"; fi
if "$CCRFS" unpack --key "$W/dek" "$H/pushed" "$W/out1" >/dev/null 2>"$W/err" && diff -r "$W/src" "$W/out1" >/dev/null; then
    ok "unpack over HTTP gives the same tree"
else
    bad "unpack over HTTP: $(cat "$W/err")"
fi
if CCRFS_STORE_CA_FILE="$NGINX_CA" "$CCRFS" verify --key "$W/dek" --id "$id" "$S/pushed" >/dev/null 2>"$W/err"; then
    ok "verify over HTTPS with the test CA"
else
    bad "verify over HTTPS: $(cat "$W/err")"
fi
if CCRFS_STORE_CA_FILE="$NGINX_CA" "$CCRFS" unpack --key "$W/dek" "$S/pushed?sv=1&sig=s3cr3t" "$W/out2" >/dev/null 2>"$W/err" &&
    diff -r "$W/src" "$W/out2" >/dev/null; then
    ok "unpack over HTTPS with a query string kept on every object URL"
else
    bad "unpack over HTTPS with a query: $(cat "$W/err")"
fi
if grep -q 'sig=s3cr3t' "$NGINX_DIR/logs/access.log"; then
    ok "the query string reached the server"
else
    bad "the query string was not sent"
fi

expect_fail "HTTPS refuses an unknown certificate" "certificate" "$CCRFS" verify --key "$W/dek" "$S/pushed"
out=$("$CCRFS" verify --key "$W/dek" "$S/pushed?sig=s3cr3t" 2>&1)
if grep -q 's3cr3t' <<<"$out"; then bad "a SAS-like query was printed: $out"; else ok "query strings are scrubbed from messages"; fi
expect_fail "missing dataset is named" "not a dataset" "$CCRFS" verify --key "$W/dek" "$H/nothing-here"
expect_fail "bad URL is refused" "port" "$CCRFS" verify --key "$W/dek" "http://127.0.0.1:99999/x"
expect_fail "dataset id is checked" "mismatch" "$CCRFS" verify --key "$W/dek" \
    --id sha256:0000000000000000000000000000000000000000000000000000000000000000 "$H/pushed"
port=$(nginx_free_port)
expect_fail "nothing listening: a clear error after retries" "127.0.0.1:$port" \
    env CCRFS_STORE_RETRY_BUDGET_MS=1500 "$CCRFS" verify --key "$W/dek" "http://127.0.0.1:$port/ds"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
