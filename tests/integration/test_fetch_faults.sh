#!/usr/bin/env bash
# The http store against a misbehaving server (lib/faultserver.py): transient failures end in
# correct bytes after retries; wrong answers end in a clear error from the store, never in
# wrong bytes reaching the decryption layer.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

mkdir -p "$TMP/src/sub" "$TMP/www"
head -c 3000000 /dev/urandom >"$TMP/src/big.bin"
head -c 70000 /dev/urandom >"$TMP/src/sub/mid.bin"
echo hello >"$TMP/src/a.txt"
"$CCRFS" keygen -o "$TMP/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$TMP/dek" "$TMP/src" "$TMP/www/ds" | tail -1)

faultserver_start "$TMP/www" || { fail "the fault server did not start"; finish; }
U=$FAULT_URL

# Short limits so the stall case is over in seconds.
export CCRFS_STORE_LOW_SPEED_TIME=2 CCRFS_STORE_RETRY_BUDGET_MS=20000 CCRFS_STORE_CONNECT_TIMEOUT_MS=2000

# recovers MODE: verify succeeds with the right dataset id, and unpack gives the same tree.
recovers() {
    local mode="$1" out
    if out=$("$CCRFS" verify --key "$TMP/dek" --id "$id" "$U/$mode/ds" 2>&1); then
        pass "$mode: verify recovers"
    else
        fail "$mode: verify: $out"
    fi
}
# refuses MODE PATTERN: verify fails and the store's own message says PATTERN (the decryption
# layer never saw the bytes: no authentication failure is reported).
refuses() {
    local mode="$1" pattern="$2" out rc
    out=$("$CCRFS" verify --key "$TMP/dek" "$U/$mode/ds" 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$pattern" <<<"$out" && ! grep -qi "authentic\|tag mismatch\|hash" <<<"$out"; then
        pass "$mode: clear error ($pattern)"
    else
        fail "$mode (exit $rc): $out"
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
    if "$CCRFS" unpack --key "$TMP/dek" "$U/$mode/ds" "$TMP/out-$mode" >/dev/null 2>"$TMP/err" && diff -r "$TMP/src" "$TMP/out-$mode" >/dev/null; then
        pass "$mode: unpack gives the same bytes"
    else
        fail "$mode: unpack: $(cat "$TMP/err")"
    fi
done
# The server answers 500 on each path's first request: with no retry budget left, it is an error.
cp -r "$TMP/www/ds" "$TMP/www/ds2"
out=$(CCRFS_STORE_RETRY_BUDGET_MS=1 "$CCRFS" verify --key "$TMP/dek" "$U/err500/ds2" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 500" <<<"$out"; then pass "retry budget bounds the retries"; else fail "retry budget: $out"; fi
out=$(CCRFS_STORE_RETRY_BUDGET_MS=oops "$CCRFS" verify --key "$TMP/dek" "$U/ok/ds" 2>&1)
if [ $? -eq 1 ] && grep -q "CCRFS_STORE_RETRY_BUDGET_MS" <<<"$out"; then pass "malformed option variable is named"; else fail "malformed variable: $out"; fi

# A server without uploads: push fails clearly and uploads no manifest.
out=$("$CCRFS" push "$TMP/www/ds" "$U/ok/pushed" 2>&1)
if [ $? -eq 1 ] && grep -q "does not accept uploads" <<<"$out"; then pass "push to a server without PUT is refused clearly"; else fail "push without PUT: $out"; fi

finish
