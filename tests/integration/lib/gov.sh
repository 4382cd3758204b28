# shellcheck shell=bash
# Governance test helpers (sourced by harness.sh): party keys, contracts, the service's API and
# events, and the hook driver. The service itself: gov_start / gov_stop in services.sh.

# The program standing in for the daemon that drives the governance hooks (built with the tests).
GOV_DRIVER=${GOV_DRIVER:-$(dirname "$CCRFS")/tests/gov_driver}

# gov_driver_require: skips the whole test when the hook driver is not built.
gov_driver_require() {
  [ -x "$GOV_DRIVER" ] || skip_all "gov_driver is not built at $GOV_DRIVER"
}

# The dataset of the contracts gov_active_contract makes.
GOV_DATASET="sha256:$(printf 'ab%.0s' $(seq 32))"

# Party keys: $TMP/provider.pem (Ed25519) and $TMP/consumer.pem (P-256), public halves in .pub.
gov_keys() {
  [ -f "$TMP/provider.pem" ] || "$CCRFS" gov keygen --out "$TMP/provider.pem" >"$TMP/provider.pub"
  [ -f "$TMP/consumer.pem" ] || "$CCRFS" gov keygen --alg p256 --out "$TMP/consumer.pem" >"$TMP/consumer.pub"
}

# gov_contract ID DATASET [key=value ...]: writes $TMP/ID.json, a contract between the two
# parties. Keys: mode (read-only), max_mounts (10), max_bytes (none),
# start (2020-01-01T00:00:00Z), expiry (2099-01-01T00:00:00Z), purpose (TRAINING),
# recipient (a party id, for sinks).
gov_contract() {
  local id=$1 ds=$2 kv mode=read-only max_mounts=10 max_bytes= start=2020-01-01T00:00:00Z
  local expiry=2099-01-01T00:00:00Z purpose=TRAINING recipient= extra=
  shift 2
  for kv in "$@"; do
    case "$kv" in
    mode=*) mode=${kv#*=} ;;
    max_mounts=*) max_mounts=${kv#*=} ;;
    max_bytes=*) max_bytes=${kv#*=} ;;
    start=*) start=${kv#*=} ;;
    expiry=*) expiry=${kv#*=} ;;
    purpose=*) purpose=${kv#*=} ;;
    recipient=*) recipient=${kv#*=} ;;
    esac
  done
  gov_keys
  [ -n "$max_bytes" ] && extra="$extra, \"maxBytesPerMount\": $max_bytes"
  [ -n "$recipient" ] && extra="$extra, \"recipient\": \"$recipient\""
  cat >"$TMP/$id.json" <<JSON
{"id": "$id", "purpose": "$purpose",
 "parties": [{"id": "provider", "role": "data-provider", "publicKey": "$(cat "$TMP/provider.pub")"},
             {"id": "consumer", "role": "data-consumer", "publicKey": "$(cat "$TMP/consumer.pub")"}],
 "startTime": "$start", "expiryTime": "$expiry",
 "datasets": [{"id": "$ds", "provider": "provider", "accessMode": "$mode", "maxMounts": $max_mounts$extra}]}
JSON
}

# gov_make_contract ID: $TMP/ID.json for GOV_DATASET, read-only, 2 mounts, 1 GiB a mount.
gov_make_contract() {
  gov_contract "$1" "$GOV_DATASET" max_mounts=2 max_bytes=1073741824
}

# gov_register ID [PARTY...]: proposes $TMP/ID.json and signs it by the parties named
# (default: both).
gov_register() {
  local id=$1 p
  shift
  [ $# -gt 0 ] || set -- provider consumer
  "$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/$id.json" >/dev/null || return 1
  for p in "$@"; do
    "$CCRFS" gov contract sign --url "$GOV_URL" --party "$p" --key "$TMP/$p.pem" "$id" >/dev/null || return 1
  done
}

# gov_active_contract ID: gov_make_contract, proposed and signed by both parties.
gov_active_contract() {
  gov_make_contract "$1" && gov_register "$1"
}

# gov_show ID FILE: the service's view of the contract, with its signatures (a contract file).
gov_show() {
  "$CCRFS" gov contract show --url "$GOV_URL" "$1" >"$2"
}

# gov_revoke ID [PARTY]: revokes consent (default: the provider's).
gov_revoke() {
  "$CCRFS" gov contract revoke --url "$GOV_URL" --party "${2:-provider}" --key "$TMP/${2:-provider}.pem" "$1" >/dev/null
}

# gov_events ID: the service's events for a contract, one JSON object a line.
gov_events() {
  "$CCRFS" gov events --url "$GOV_URL" --contract "$1"
}

# gov_api METHOD PATH [BODY]: prints "STATUS BODY".
gov_api() {
  local out
  out=$(curl -s -o "$TMP/api.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $CCRFS_GOV_TOKEN" \
    -H 'Content-Type: application/json' ${3+--data-binary "$3"} "$GOV_URL$2")
  echo "$out $(cat "$TMP/api.out")"
}

# count_events FILE TYPE: number of events of TYPE in an audit log.
count_events() {
  grep -c "\"type\":\"$2\"" "$1" || true
}

# gov_sidecar_start CONTRACT [PORT] [gov serve options]: `ccrfs gov serve` as the Azure Clean
# Room governance sidecar stand-in for CONTRACT, on the database and credentials of gov_start;
# sets GOV_PID, GOV_PORT and GOV_URL. Stop it with gov_stop.
gov_sidecar_start() {
  local contract=$1 port=${2:-0}
  shift
  [ $# -gt 0 ] && shift
  gov_start "$port" --contract "$contract" "$@"
}

# gov_credentials: the service's token file $TMP/gov.token (kept across restarts), one
# credential per NAME with its line also in $TMP/cred.NAME (a client's token file):
#   admin      party operator, role admin (CCRFS_GOV_TOKEN of gov_start)
#   provider   party provider, role provider      consumer   party consumer, role consumer
#   cleanroom  party consumer, role cleanroom     auditor    party auditor, role auditor
#   broker     party broker, role broker
# More with gov_credential before gov_start.
gov_credentials() {
  [ -f "$TMP/gov.token" ] && return 0
  : >"$TMP/gov.token"
  chmod 600 "$TMP/gov.token"
  gov_credential admin operator admin
  gov_credential provider provider provider
  gov_credential consumer consumer consumer
  gov_credential cleanroom consumer cleanroom
  gov_credential auditor auditor auditor
  gov_credential broker broker broker
}

# gov_credential NAME PARTY ROLES: adds a credential to $TMP/gov.token and writes $TMP/cred.NAME
# (the service reads its token file when it starts).
gov_credential() {
  local line
  [ -f "$TMP/gov.token" ] || gov_credentials
  line="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_') $2 $3"
  echo "$line" >>"$TMP/gov.token"
  (umask 077 && echo "$line" >"$TMP/cred.$1")
}

# gov_token_of NAME: the token of credential NAME.
gov_token_of() {
  cut -d' ' -f1 "$TMP/cred.$1"
}

# gov_api_as NAME METHOD PATH [BODY]: as gov_api, with credential NAME; prints "STATUS BODY".
gov_api_as() {
  local out name=$1
  shift
  out=$(curl -s -o "$TMP/api.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(gov_token_of "$name")" \
    -H 'Content-Type: application/json' ${3+--data-binary "$3"} "$GOV_URL$2")
  echo "$out $(cat "$TMP/api.out")"
}

# gov_chain_of LOG: the chain id of the first event of an audit log (a mount's stream id).
gov_chain_of() {
  head -n 1 "$1" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["chain"])'
}
