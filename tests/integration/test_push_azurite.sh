#!/usr/bin/env bash
# Push to the Azure Blob emulator (Azurite) with Shared Key, then verify and unpack from it;
# a push interrupted and run again finishes the job; listing, credentials and errors.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
start_azurite || skip_all "Azurite is not available (see above)"

azurite_create_container data || { fail "cannot create a container in Azurite"; finish; }
export CCRFS_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
A="az://$AZURITE_ACCOUNT/data"

mkdir -p "$TMP/src/sub dir"
head -c 40000000 /dev/urandom >"$TMP/src/large.bin" # above the single Put Blob limit: blocks
for i in $(seq 1 30); do head -c $((i * 1000)) /dev/urandom >"$TMP/src/sub dir/f$i"; done
: >"$TMP/src/empty"
"$CCRFS" keygen -o "$TMP/dek" >/dev/null 2>&1
id=$("$CCRFS" pack --key "$TMP/dek" "$TMP/src" "$TMP/ds" | tail -1)

if out=$("$CCRFS" push --jobs 8 "$TMP/ds" "$A/one" 2>&1) && [ "$(tail -1 <<<"$out")" = "$id" ]; then
    pass "push with Shared Key from the environment"
else
    fail "push: $out"
fi
if out=$("$CCRFS" verify --key "$TMP/dek" --id "$id" "$A/one" 2>&1); then pass "verify from Azurite"; else fail "verify: $out"; fi
if "$CCRFS" unpack --key "$TMP/dek" "$A/one" "$TMP/out" >/dev/null 2>"$TMP/err" && diff -r "$TMP/src" "$TMP/out" >/dev/null; then
    pass "unpack from Azurite gives the same tree"
else
    fail "unpack: $(cat "$TMP/err")"
fi
# Small List Blobs pages: the listing walks continuation markers.
out=$(CCRFS_AZURE_LIST_PAGE=5 "$CCRFS" push "$TMP/ds" "$A/one" 2>&1)
if grep -q "0 objects uploaded" <<<"$out" && grep -q "32 already there" <<<"$out" &&
    grep -q "manifest already there" <<<"$out"; then
    pass "push again uploads nothing (listing in pages of 5)"
else
    fail "push again: $out"
fi

# Key from a file instead of the environment; a wrong key is refused with EACCES.
printf '%s\n' "$AZURE_STORAGE_KEY" >"$TMP/account.key"
if env -u AZURE_STORAGE_KEY "$CCRFS" push --account-key-file "$TMP/account.key" "$TMP/ds" "$A/two" >/dev/null 2>"$TMP/err" &&
    env -u AZURE_STORAGE_KEY CCRFS_AZURE_KEY_FILE="$TMP/account.key" "$CCRFS" verify --key "$TMP/dek" "$A/two" >/dev/null 2>>"$TMP/err"; then
    pass "account key from a file"
else
    fail "account key from a file: $(cat "$TMP/err")"
fi
out=$(AZURE_STORAGE_KEY=$(head -c 64 /dev/zero | base64 -w0) "$CCRFS" verify --key "$TMP/dek" "$A/one" 2>&1)
if [ $? -eq 1 ] && grep -q "HTTP 403" <<<"$out" && ! grep -q "$AZURITE_KEY" <<<"$out"; then
    pass "a wrong account key is refused, and no key is printed"
else
    fail "wrong key: $out"
fi

# SAS tokens (a container SAS signed here): write with one, read with a read-only one from a
# file and from the environment; a read-only one cannot push; the signature is never printed.
azurite_sas data racwl >"$TMP/sas.rw"
azurite_sas data rl >"$TMP/sas.r"
sig=$(sed 's/.*sig=//' "$TMP/sas.r")
if out=$(env -u AZURE_STORAGE_KEY "$CCRFS" push --sas-file "$TMP/sas.rw" "$TMP/ds" "$A/sas" 2>&1) &&
    out2=$(env -u AZURE_STORAGE_KEY CCRFS_AZURE_SAS_FILE="$TMP/sas.r" "$CCRFS" verify --key "$TMP/dek" --id "$id" "$A/sas" 2>&1) &&
    out3=$(env -u AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN="?$(cat "$TMP/sas.r")" "$CCRFS" verify --key "$TMP/dek" "$A/sas" 2>&1); then
    pass "push and verify with SAS tokens"
else
    fail "SAS: $out ${out2:-} ${out3:-}"
fi
out=$(env -u AZURE_STORAGE_KEY CCRFS_AZURE_SAS_FILE="$TMP/sas.r" "$CCRFS" push "$TMP/ds" "$A/sas-ro" 2>&1)
if [ $? -eq 1 ] && grep -q "403" <<<"$out" && ! grep -qF "$sig" <<<"$out" && grep -q "<redacted>" <<<"$out"; then
    pass "a read-only SAS cannot push, and the SAS is scrubbed from the message"
else
    fail "read-only SAS push: $out"
fi

# Interrupted push: stop it part way, run it again, and the dataset is whole.
"$CCRFS" push --jobs 1 "$TMP/ds" "$A/three" >/dev/null 2>&1 &
pid=$!
sleep 0.15
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if out=$(CCRFS_AZURE_LIST_PAGE=7 "$CCRFS" push "$TMP/ds" "$A/three" 2>&1) && "$CCRFS" verify --key "$TMP/dek" --id "$id" "$A/three" >/dev/null 2>"$TMP/err"; then
    pass "an interrupted push finishes when run again ($(head -1 <<<"$out" | sed 's/.*: //'))"
else
    fail "interrupted push: $out $(cat "$TMP/err")"
fi

out=$("$CCRFS" verify --key "$TMP/dek" "$A/missing" 2>&1)
if [ $? -eq 1 ] && grep -q "not a dataset" <<<"$out"; then pass "missing dataset is named"; else fail "missing: $out"; fi
out=$("$CCRFS" push "$TMP/ds" "az://$AZURITE_ACCOUNT/nocontainer/x" 2>&1)
if [ $? -eq 1 ] && grep -q "404 ContainerNotFound" <<<"$out"; then
    pass "push to a missing container fails clearly"
else
    fail "missing container: $out"
fi
out=$("$CCRFS" push "$TMP/ds" "az://UPPER/data" 2>&1)
if [ $? -eq 1 ] && grep -q "account name" <<<"$out"; then pass "malformed az:// URL is refused"; else fail "bad URL: $out"; fi

finish
