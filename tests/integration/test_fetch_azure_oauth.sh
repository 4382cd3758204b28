#!/usr/bin/env bash
# The az:// store with bearer tokens, against Azurite over HTTPS with its OAuth check: a token
# from a file, a token from a managed-identity endpoint (served here), and an expired token
# refused. The dataset is pushed with Shared Key first.
set -u
: "${CCRFS:?}" "${CCRFS_SRC:?}"
source "$CCRFS_SRC/tests/integration/lib/azurite.sh"

W=$(mktemp -d /tmp/ccrfs-test-azure-oauth.XXXXXX)
srv_pid=
cleanup() {
    stop_azurite
    if [ -n "$srv_pid" ]; then kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; fi
    rm -rf "$W"
}
trap cleanup EXIT
start_azurite --oauth
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "skipped: Azurite is not available (see above)"
    exit 77
fi
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

export CCRFS_STORE_CA_FILE="$AZURITE_CA" CCRFS_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
azurite_create_container data || { echo "cannot create a container in Azurite"; exit 1; }
A="az://$AZURITE_ACCOUNT/data/ds"
mkdir -p "$W/src"
head -c 300000 /dev/urandom >"$W/src/a.bin"
echo hi >"$W/src/b.txt"
"$CCRFS" keygen -o "$W/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$W/dek" "$W/src" "$W/ds" | tail -1)
if out=$("$CCRFS" push "$W/ds" "$A" 2>&1); then ok "push over HTTPS with Shared Key"; else bad "push: $out"; fi
unset AZURE_STORAGE_KEY

azurite_token 3600 >"$W/token"
if out=$(CCRFS_AZURE_TOKEN_FILE="$W/token" "$CCRFS" verify --key "$W/dek" --id "$id" "$A" 2>&1); then
    ok "verify with a bearer token from a file"
else
    bad "token file: $out"
fi

# A managed-identity endpoint: the fault server hands out a token document as a file.
mkdir -p "$W/mi"
printf '{"access_token":"%s","expires_on":"%s","resource":"https://storage.azure.com/","token_type":"Bearer"}' \
    "$(cat "$W/token")" "$(($(date +%s) + 3600))" >"$W/mi/token"
python3 "$CCRFS_SRC/tests/integration/lib/faultserver.py" "$W/mi" "$W/port" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
if out=$(CCRFS_AZURE_MANAGED_IDENTITY=1 CCRFS_AZURE_IDENTITY_ENDPOINT="http://127.0.0.1:$(cat "$W/port")/ok/token" \
    "$CCRFS" verify --key "$W/dek" --id "$id" "$A" 2>&1); then
    ok "verify with a token from a managed-identity endpoint"
else
    bad "managed identity: $out"
fi

azurite_token -10 >"$W/expired"
out=$(CCRFS_AZURE_TOKEN_FILE="$W/expired" "$CCRFS" verify --key "$W/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 401\|HTTP 403" <<<"$out" && ! grep -q "$(cut -c1-40 "$W/token")" <<<"$out"; then
    ok "an expired token is refused, and no token is printed"
else
    bad "expired token: $out"
fi
out=$(CCRFS_AZURE_TOKEN_FILE="$W/nonexistent" "$CCRFS" verify --key "$W/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "bearer token" <<<"$out"; then ok "a missing token file is named"; else bad "missing token file: $out"; fi
out=$("$CCRFS" verify --key "$W/dek" "$A" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 40[13]" <<<"$out"; then ok "no credentials: refused"; else bad "anonymous: $out"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
