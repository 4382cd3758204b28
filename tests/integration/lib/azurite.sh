# shellcheck shell=bash
# Azurite (the Azure Storage emulator, blob service only) on loopback for the tests (sourced by
# harness.sh), in memory, on a free port, without telemetry, stopped at exit.
#   start_azurite [--oauth]
#                         starts it in memory on a free port; exports AZURITE_PORT,
#                         AZURITE_ENDPOINT (http://127.0.0.1:PORT/devstoreaccount1),
#                         AZURITE_ACCOUNT and AZURE_STORAGE_KEY (the emulator's published
#                         development key, not a secret). Returns 77 when Azurite is missing.
#                         --oauth: HTTPS with a certificate made here (AZURITE_CA) and bearer
#                         tokens accepted (Azurite's "basic" check: issuer, audience, lifetime).
#   azurite_create_container NAME
#   stop_azurite          stops it (safe to call twice).

AZURITE_ACCOUNT=devstoreaccount1
# The well-known key every Azurite and Azure Storage emulator accepts for devstoreaccount1.
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

AZURITE_PID=
AZURITE_DIR=

azurite_answers() {
    kill -0 "$AZURITE_PID" 2>/dev/null || return 0 # gone: stop waiting
    curl -s -k -o /dev/null "$1://127.0.0.1:$AZURITE_PORT/"
}

start_azurite() {
    local bin attempt scheme=http
    local extra=()
    bin=$(command -v azurite-blob || true)
    if [ -z "$bin" ]; then
        echo "start_azurite: azurite-blob is not installed (scripts/install-deps.sh installs it)" >&2
        return 77
    fi
    AZURITE_DIR=$TMP/azurite
    mkdir -p "$AZURITE_DIR"
    on_exit stop_azurite
    if [ "${1:-}" = "--oauth" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
            -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            -keyout "$AZURITE_DIR/key.pem" -out "$AZURITE_DIR/cert.pem" >/dev/null 2>&1 || return 1
        export AZURITE_CA="$AZURITE_DIR/cert.pem"
        extra=(--cert "$AZURITE_DIR/cert.pem" --key "$AZURITE_DIR/key.pem" --oauth basic)
        scheme=https
    fi
    for attempt in 1 2 3 4 5; do
        AZURITE_PORT=$(h_free_port)
        (cd "$AZURITE_DIR" && exec "$bin" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
            --inMemoryPersistence --disableTelemetry --skipApiVersionCheck --loose --silent "${extra[@]}" \
            >"$AZURITE_DIR/azurite.log" 2>&1) &
        AZURITE_PID=$!
        if wait_until 30 azurite_answers "$scheme" && kill -0 "$AZURITE_PID" 2>/dev/null; then
            export AZURITE_PORT AZURITE_PID AZURITE_ACCOUNT
            export AZURITE_ENDPOINT="$scheme://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT"
            export AZURE_STORAGE_KEY="$AZURITE_KEY"
            return 0
        fi
        h_stop "$AZURITE_PID"
        AZURITE_PID=
        grep -q EADDRINUSE "$AZURITE_DIR/azurite.log" || break
    done
    echo "start_azurite: Azurite would not start:" >&2
    cat "$AZURITE_DIR/azurite.log" >&2
    return 77
}

# Creates a container with a Shared Key request signed here (python3 standard library).
azurite_create_container() {
    python3 - "$AZURITE_ENDPOINT" "$AZURITE_ACCOUNT" "$1" <<'PY'
import base64, hashlib, hmac, os, sys, urllib.request
from email.utils import formatdate
endpoint, account, name = sys.argv[1:4]
date = formatdate(usegmt=True)
path = urllib.parse.urlparse(endpoint).path + "/" + name
sts = "PUT\n\n\n\n\napplication/octet-stream\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:2021-08-06\n/%s%s\nrestype:container" % (date, account, path)
sig = base64.b64encode(hmac.new(base64.b64decode(os.environ["AZURE_STORAGE_KEY"]), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(endpoint + "/" + name + "?restype=container", method="PUT", data=b"",
    headers={"Content-Type": "application/octet-stream", "x-ms-date": date, "x-ms-version": "2021-08-06", "Authorization": "SharedKey %s:%s" % (account, sig)})
import ssl
ctx = ssl.create_default_context(cafile=os.environ.get("AZURITE_CA")) if endpoint.startswith("https") else None
try:
    urllib.request.urlopen(req, context=ctx)
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit("create container %s: HTTP %d %s" % (name, e.code, e.read()[:200]))
PY
}

stop_azurite() {
    h_stop "$AZURITE_PID"
    AZURITE_PID=
}

# Prints a bearer token Azurite's basic OAuth check accepts (unsigned: Azurite does not check
# signatures), valid for SECONDS (default 3600).
azurite_token() {
    python3 - "${1:-3600}" <<'PY'
import base64, json, sys, time
def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
now = int(time.time())
claims = {"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
          "iat": now - 60, "nbf": now - 60, "exp": now + int(sys.argv[1]), "oid": "ccrfs-test"}
print(b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims) + "." + base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode())
PY
}

# Prints a container SAS token (query string) for CONTAINER with PERMISSIONS (e.g. "rl"),
# signed with the development key, valid for an hour (service SAS, version 2021-08-06).
azurite_sas() {
    python3 - "$AZURITE_ACCOUNT" "$1" "$2" <<'PY'
import base64, hashlib, hmac, os, sys, time, urllib.parse
account, container, perms = sys.argv[1:4]
fmt = "%Y-%m-%dT%H:%M:%SZ"
start = time.strftime(fmt, time.gmtime(time.time() - 300))
expiry = time.strftime(fmt, time.gmtime(time.time() + 3600))
version = "2021-08-06"
fields = [perms, start, expiry, "/blob/%s/%s" % (account, container), "", "", "", version, "c", "", "",
          "", "", "", "", ""]
sig = base64.b64encode(hmac.new(base64.b64decode(os.environ["AZURE_STORAGE_KEY"]), "\n".join(fields).encode(),
                                hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode({"sv": version, "st": start, "se": expiry, "sr": "c", "sp": perms, "sig": sig}))
PY
}
