# Helpers for the tests that mount under governance: the governance service on a loopback
# ephemeral port, party keys, contracts, and reading audit logs. Source after mount.sh and
# call gm_init first (mount_lib_init, and the daemons' default state folder inside the scratch
# folder, so default spools and audit logs never land in /var/lib/ccrfs).

gm_init() {
  mount_lib_init
  export CCRFS_STATE_DIR=$TMP/state
}

GM_URL=
GM_PORT=
GM_PID=

# gm_start_service [PORT]: starts `ccrfs gov serve` (database and token in $TMP) and waits
# until it answers; sets GM_URL, GM_PORT, GM_PID.
gm_start_service() {
  local port=${1:-0} i
  if [ ! -f "$TMP/gov.token" ]; then
    head -c 24 /dev/urandom | base64 >"$TMP/gov.token"
    mount_lib_on_exit gm_stop_service
  fi
  export CCRFS_GOV_TOKEN
  CCRFS_GOV_TOKEN=$(cat "$TMP/gov.token")
  rm -f "$TMP/gov.port"
  "$CCRFS" gov serve --db "$TMP/gov.db" --token-file "$TMP/gov.token" --port "$port" \
    --port-file "$TMP/gov.port" >>"$TMP/gov-serve.log" 2>&1 &
  GM_PID=$!
  for i in $(seq 1 100); do
    if [ -s "$TMP/gov.port" ]; then
      GM_PORT=$(cat "$TMP/gov.port")
      GM_URL="http://127.0.0.1:$GM_PORT"
      curl -sf "$GM_URL/health" >/dev/null && return 0
    fi
    sleep 0.05
  done
  echo "the governance service did not start:"
  cat "$TMP/gov-serve.log"
  return 1
}

gm_stop_service() {
  if [ -n "$GM_PID" ]; then
    kill "$GM_PID" 2>/dev/null
    wait "$GM_PID" 2>/dev/null
    GM_PID=
  fi
}

# Party keys: $TMP/provider.pem (Ed25519) and $TMP/consumer.pem (P-256), public halves in .pub.
gm_keys() {
  [ -f "$TMP/provider.pem" ] || "$CCRFS" gov keygen --out "$TMP/provider.pem" >"$TMP/provider.pub"
  [ -f "$TMP/consumer.pem" ] || "$CCRFS" gov keygen --alg p256 --out "$TMP/consumer.pem" >"$TMP/consumer.pub"
}

# gm_contract ID DATASET [key=value ...]: writes $TMP/ID.json. Keys: mode (read-only),
# max_mounts (10), max_bytes (none), start (2020-01-01T00:00:00Z), expiry (2099-01-01T00:00:00Z),
# purpose (TRAINING), recipient (a party id, for sinks).
gm_contract() {
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
  gm_keys
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

# gm_register ID [PARTY...]: proposes $TMP/ID.json and signs it by the parties named
# (default: both).
gm_register() {
  local id=$1 p
  shift
  [ $# -gt 0 ] || set -- provider consumer
  "$CCRFS" gov contract propose --url "$GM_URL" "$TMP/$id.json" >/dev/null || return 1
  for p in "$@"; do
    "$CCRFS" gov contract sign --url "$GM_URL" --party "$p" --key "$TMP/$p.pem" "$id" >/dev/null || return 1
  done
}

# gm_show ID FILE: the service's view of the contract, with its signatures (a contract file).
gm_show() {
  "$CCRFS" gov contract show --url "$GM_URL" "$1" >"$2"
}

gm_revoke() {
  "$CCRFS" gov contract revoke --url "$GM_URL" --party "${2:-provider}" --key "$TMP/${2:-provider}.pem" "$1" >/dev/null
}

# gm_events ID: the service's events for a contract, one JSON object a line.
gm_events() {
  "$CCRFS" gov events --url "$GM_URL" --contract "$1"
}

# gm_no_mount MOUNTPOINT: true when nothing is mounted there and no daemon serves it.
gm_no_mount() {
  ! mount_is_mounted "$1" && ! mount_daemon_pid "$1" >/dev/null
}

# gm_read_at FILE OFFSET_BLOCKS [BS]: one direct read of a block (exact ranges reach the daemon);
# prints nothing, returns dd's status.
gm_read_at() {
  dd if="$1" of=/dev/null bs="${3:-4096}" skip="$2" count=1 iflag=direct status=none 2>/dev/null
}
