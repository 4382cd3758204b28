# Shared helpers for the governance and audit integration tests (sourced, not run).
# Needs CCRFS (the built ccrfs binary). Provides pass/fail counters, a scratch folder,
# the governance service on an ephemeral loopback port, and the hook driver.

: "${CCRFS:?CCRFS must point to the built ccrfs binary}"
GOV_DRIVER="${GOV_DRIVER:-$(dirname "$CCRFS")/tests/gov_driver}"
[ -x "$GOV_DRIVER" ] || { echo "gov_driver not built at $GOV_DRIVER"; exit 77; }

passed=0
failed=0
WORK=$(mktemp -d /tmp/ccrfs-gov-test.XXXXXX)
GOV_PID=
GOV_PORT=
GOV_URL=
DRIVER_PID=

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

gov_cleanup() {
    [ -n "$DRIVER_PID" ] && kill -9 "$DRIVER_PID" 2>/dev/null
    gov_stop_service
    rm -rf "$WORK"
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# A token shared by the service and its clients.
head -c 24 /dev/urandom | base64 > "$WORK/token"
export CCRFS_GOV_TOKEN
CCRFS_GOV_TOKEN=$(cat "$WORK/token")

# gov_start_service [PORT]: starts the service on PORT (default: any free port), waits until
# it answers, sets GOV_PORT and GOV_URL.
gov_start_service() {
    local port=${1:-0}
    rm -f "$WORK/port"
    "$CCRFS" gov serve --db "$WORK/gov.db" --token-file "$WORK/token" --port "$port" \
        --port-file "$WORK/port" >>"$WORK/serve.log" 2>&1 &
    GOV_PID=$!
    for _ in $(seq 100); do
        if [ -s "$WORK/port" ]; then
            GOV_PORT=$(cat "$WORK/port")
            GOV_URL="http://127.0.0.1:$GOV_PORT"
            curl -sf "$GOV_URL/health" >/dev/null && return 0
        fi
        sleep 0.05
    done
    echo "governance service did not start:"; cat "$WORK/serve.log"
    return 1
}

gov_stop_service() {
    if [ -n "$GOV_PID" ]; then
        kill "$GOV_PID" 2>/dev/null
        wait "$GOV_PID" 2>/dev/null
        GOV_PID=
    fi
}

# gov_api METHOD PATH [BODY]: prints "STATUS BODY".
gov_api() {
    local out
    out=$(curl -s -o "$WORK/api.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $CCRFS_GOV_TOKEN" \
        -H 'Content-Type: application/json' ${3+--data-binary "$3"} "$GOV_URL$2")
    echo "$out $(cat "$WORK/api.out")"
}

# gov_make_contract ID FILE: two parties with fresh keys (provider.pem, consumer.pem in $WORK),
# one read-only dataset with a budget of 2 mounts, valid from 2020 to 2099.
GOV_DATASET="sha256:$(printf 'ab%.0s' $(seq 32))"
gov_make_contract() {
    local id=$1 file=$2
    [ -f "$WORK/provider.pem" ] || "$CCRFS" gov keygen --out "$WORK/provider.pem" >"$WORK/provider.pub"
    [ -f "$WORK/consumer.pem" ] || "$CCRFS" gov keygen --alg p256 --out "$WORK/consumer.pem" >"$WORK/consumer.pub"
    cat >"$file" <<JSON
{"id": "$id", "purpose": "TRAINING",
 "parties": [{"id": "provider", "role": "data-provider", "publicKey": "$(cat "$WORK/provider.pub")"},
             {"id": "consumer", "role": "data-consumer", "publicKey": "$(cat "$WORK/consumer.pub")"}],
 "startTime": "2020-01-01T00:00:00Z", "expiryTime": "2099-01-01T00:00:00Z",
 "datasets": [{"id": "$GOV_DATASET", "provider": "provider", "accessMode": "read-only", "maxMounts": 2,
               "maxBytesPerMount": 1073741824}]}
JSON
}

# gov_active_contract ID: proposed and signed by both parties.
gov_active_contract() {
    gov_make_contract "$1" "$WORK/$1.json"
    "$CCRFS" gov contract propose --url "$GOV_URL" "$WORK/$1.json" >/dev/null &&
        "$CCRFS" gov contract sign --url "$GOV_URL" --party provider --key "$WORK/provider.pem" "$1" >/dev/null &&
        "$CCRFS" gov contract sign --url "$GOV_URL" --party consumer --key "$WORK/consumer.pem" "$1" >/dev/null
}

# count_events FILE TYPE: number of events of TYPE in an audit log.
count_events() {
    grep -c "\"type\":\"$2\"" "$1" || true
}
