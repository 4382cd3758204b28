#!/usr/bin/env bash
# Datasets read from and pushed to nginx over plain HTTP and HTTPS: push (WebDAV PUT), verify
# and unpack through the http(s) store; TLS verification; errors named clearly; secrets in
# query strings never printed.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

mkdir -p "$TMP/src/sub" "$TMP/www"
head -c 5000000 /dev/urandom >"$TMP/src/big.bin"
echo hello >"$TMP/src/sub/a.txt"
: >"$TMP/src/empty"
"$CCRFS" keygen -o "$TMP/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$TMP/dek" "$TMP/src" "$TMP/ds" | tail -1)
start_nginx "$TMP/www"
case $? in 0) ;; 77) skip_all "nginx is not installed" ;; *) fail "nginx would not start"; finish ;; esac
H="http://127.0.0.1:$NGINX_PORT"
S="https://127.0.0.1:$NGINX_TLS_PORT"

if [ "$NGINX_DAV" = 1 ]; then
    if "$CCRFS" push "$TMP/ds" "$H/pushed" >"$TMP/push.out" 2>&1 && tail -1 "$TMP/push.out" | grep -qx "$id"; then
        pass "push over HTTP PUT"
    else
        fail "push over HTTP PUT: $(cat "$TMP/push.out")"
    fi
    if cmp -s "$TMP/ds/manifest.ccrfs" "$TMP/www/pushed/manifest.ccrfs"; then pass "pushed manifest is byte for byte"; else fail "pushed manifest differs"; fi
    out=$("$CCRFS" push "$TMP/ds" "$H/pushed" 2>&1)
    if grep -q "0 objects uploaded" <<<"$out" && grep -q "manifest already there" <<<"$out"; then
        pass "second push uploads nothing"
    else
        fail "second push: $out"
    fi
else
    echo "note: this nginx has no WebDAV module; the push checks are skipped and the dataset copied"
    cp -r "$TMP/ds" "$TMP/www/pushed"
fi

if "$CCRFS" verify --key "$TMP/dek" --id "$id" "$H/pushed" >/dev/null 2>"$TMP/err"; then pass "verify over HTTP"; else fail "verify over HTTP: $(cat "$TMP/err")"; fi
if "$CCRFS" unpack --key "$TMP/dek" "$H/pushed" "$TMP/out1" >/dev/null 2>"$TMP/err" && diff -r "$TMP/src" "$TMP/out1" >/dev/null; then
    pass "unpack over HTTP gives the same tree"
else
    fail "unpack over HTTP: $(cat "$TMP/err")"
fi
if CCRFS_STORE_CA_FILE="$NGINX_CA" "$CCRFS" verify --key "$TMP/dek" --id "$id" "$S/pushed" >/dev/null 2>"$TMP/err"; then
    pass "verify over HTTPS with the test CA"
else
    fail "verify over HTTPS: $(cat "$TMP/err")"
fi
if CCRFS_STORE_CA_FILE="$NGINX_CA" "$CCRFS" unpack --key "$TMP/dek" "$S/pushed?sv=1&sig=s3cr3t" "$TMP/out2" >/dev/null 2>"$TMP/err" &&
    diff -r "$TMP/src" "$TMP/out2" >/dev/null; then
    pass "unpack over HTTPS with a query string kept on every object URL"
else
    fail "unpack over HTTPS with a query: $(cat "$TMP/err")"
fi
if grep -q 'sig=s3cr3t' "$NGINX_DIR/logs/access.log"; then
    pass "the query string reached the server"
else
    fail "the query string was not sent"
fi

expect_fail "HTTPS refuses an unknown certificate" "certificate" "$CCRFS" verify --key "$TMP/dek" "$S/pushed"
out=$("$CCRFS" verify --key "$TMP/dek" "$S/pushed?sig=s3cr3t" 2>&1)
if grep -q 's3cr3t' <<<"$out"; then fail "a SAS-like query was printed: $out"; else pass "query strings are scrubbed from messages"; fi
expect_fail "missing dataset is named" "not a dataset" "$CCRFS" verify --key "$TMP/dek" "$H/nothing-here"
expect_fail "bad URL is refused" "port" "$CCRFS" verify --key "$TMP/dek" "http://127.0.0.1:99999/x"
expect_fail "dataset id is checked" "mismatch" "$CCRFS" verify --key "$TMP/dek" \
    --id sha256:0000000000000000000000000000000000000000000000000000000000000000 "$H/pushed"
port=$(h_free_port)
expect_fail "nothing listening: a clear error after retries" "127.0.0.1:$port" \
    env CCRFS_STORE_RETRY_BUDGET_MS=1500 "$CCRFS" verify --key "$TMP/dek" "http://127.0.0.1:$port/ds"

finish
