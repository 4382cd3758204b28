#!/usr/bin/env bash
# Push to the Azure Blob emulator (Azurite) with Shared Key, then verify and unpack from it;
# a push interrupted and run again finishes the job; listing, credentials and errors.
set -u
: "${CCRFS:?}" "${CCRFS_SRC:?}"
source "$CCRFS_SRC/tests/integration/lib/azurite.sh"

W=$(mktemp -d /tmp/ccrfs-test-push-azurite.XXXXXX)
cleanup() { stop_azurite; rm -rf "$W"; }
trap cleanup EXIT
start_azurite
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "skipped: Azurite is not available (see above)"
    exit 77
fi
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

azurite_create_container data || { echo "cannot create a container in Azurite"; exit 1; }
export CCRFS_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
A="az://$AZURITE_ACCOUNT/data"

mkdir -p "$W/src/sub dir"
head -c 40000000 /dev/urandom >"$W/src/large.bin" # above the single Put Blob limit: blocks
for i in $(seq 1 30); do head -c $((i * 1000)) /dev/urandom >"$W/src/sub dir/f$i"; done
: >"$W/src/empty"
"$CCRFS" keygen -o "$W/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$W/dek" "$W/src" "$W/ds" | tail -1)

if out=$("$CCRFS" push --jobs 8 "$W/ds" "$A/one" 2>&1) && [ "$(tail -1 <<<"$out")" = "$id" ]; then
    ok "push with Shared Key from the environment"
else
    bad "push: $out"
fi
if out=$("$CCRFS" verify --key "$W/dek" --id "$id" "$A/one" 2>&1); then ok "verify from Azurite"; else bad "verify: $out"; fi
if "$CCRFS" unpack --key "$W/dek" "$A/one" "$W/out" >/dev/null 2>"$W/err" && diff -r "$W/src" "$W/out" >/dev/null; then
    ok "unpack from Azurite gives the same tree"
else
    bad "unpack: $(cat "$W/err")"
fi
# Small List Blobs pages: the listing walks continuation markers.
out=$(CCRFS_AZURE_LIST_PAGE=5 "$CCRFS" push "$W/ds" "$A/one" 2>&1)
if grep -q "0 objects uploaded" <<<"$out" && grep -q "32 already there" <<<"$out" &&
    grep -q "manifest already there" <<<"$out"; then
    ok "push again uploads nothing (listing in pages of 5)"
else
    bad "push again: $out"
fi

# Key from a file instead of the environment; a wrong key is refused with EACCES.
printf '%s\n' "$AZURE_STORAGE_KEY" >"$W/account.key"
if env -u AZURE_STORAGE_KEY "$CCRFS" push --account-key-file "$W/account.key" "$W/ds" "$A/two" >/dev/null 2>"$W/err" &&
    env -u AZURE_STORAGE_KEY CCRFS_AZURE_KEY_FILE="$W/account.key" "$CCRFS" verify --key "$W/dek" "$A/two" >/dev/null 2>>"$W/err"; then
    ok "account key from a file"
else
    bad "account key from a file: $(cat "$W/err")"
fi
out=$(AZURE_STORAGE_KEY=$(head -c 64 /dev/zero | base64 -w0) "$CCRFS" verify --key "$W/dek" "$A/one" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 403" <<<"$out" && ! grep -q "$AZURITE_KEY" <<<"$out"; then
    ok "a wrong account key is refused, and no key is printed"
else
    bad "wrong key: $out"
fi

# SAS tokens (a container SAS signed here): write with one, read with a read-only one from a
# file and from the environment; a read-only one cannot push; the signature is never printed.
azurite_sas data racwl >"$W/sas.rw"
azurite_sas data rl >"$W/sas.r"
sig=$(sed 's/.*sig=//' "$W/sas.r")
if out=$(env -u AZURE_STORAGE_KEY "$CCRFS" push --sas-file "$W/sas.rw" "$W/ds" "$A/sas" 2>&1) &&
    out2=$(env -u AZURE_STORAGE_KEY CCRFS_AZURE_SAS_FILE="$W/sas.r" "$CCRFS" verify --key "$W/dek" --id "$id" "$A/sas" 2>&1) &&
    out3=$(env -u AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN="?$(cat "$W/sas.r")" "$CCRFS" verify --key "$W/dek" "$A/sas" 2>&1); then
    ok "push and verify with SAS tokens"
else
    bad "SAS: $out ${out2:-} ${out3:-}"
fi
out=$(env -u AZURE_STORAGE_KEY CCRFS_AZURE_SAS_FILE="$W/sas.r" "$CCRFS" push "$W/ds" "$A/sas-ro" 2>&1)
if [ $? -eq 1 ] && grep -q "403" <<<"$out" && ! grep -qF "$sig" <<<"$out" && grep -q "<redacted>" <<<"$out"; then
    ok "a read-only SAS cannot push, and the SAS is scrubbed from the message"
else
    bad "read-only SAS push: $out"
fi

# Interrupted push: stop it part way, run it again, and the dataset is whole.
"$CCRFS" push --jobs 1 "$W/ds" "$A/three" >/dev/null 2>&1 &
pid=$!
sleep 0.15
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if out=$(CCRFS_AZURE_LIST_PAGE=7 "$CCRFS" push "$W/ds" "$A/three" 2>&1) && "$CCRFS" verify --key "$W/dek" --id "$id" "$A/three" >/dev/null 2>"$W/err"; then
    ok "an interrupted push finishes when run again ($(head -1 <<<"$out" | sed 's/.*: //'))"
else
    bad "interrupted push: $out $(cat "$W/err")"
fi

out=$("$CCRFS" verify --key "$W/dek" "$A/missing" 2>&1)
if [ $? -eq 1 ] && grep -q "not a dataset" <<<"$out"; then ok "missing dataset is named"; else bad "missing: $out"; fi
out=$("$CCRFS" push "$W/ds" "az://$AZURITE_ACCOUNT/nocontainer/x" 2>&1)
if [ $? -eq 1 ] && grep -q "404 ContainerNotFound" <<<"$out"; then
    ok "push to a missing container fails clearly"
else
    bad "missing container: $out"
fi
out=$("$CCRFS" push "$W/ds" "az://UPPER/data" 2>&1)
if [ $? -eq 1 ] && grep -q "account name" <<<"$out"; then ok "malformed az:// URL is refused"; else bad "bad URL: $out"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
