# shellcheck shell=bash
# The ccrfs services and stand-ins the tests start, on loopback ports the kernel picks, with
# their logs in the scratch folder and stopped at exit (sourced by harness.sh).
#   Key broker:   kbs_start NAME [serve options]  sets KBS_URL, KBS_PID; files $KBS_DIR/NAME.{log,port,state}
#                                                  (KBS_DIR defaults to $TMP)
#                 kbs_stop                         stops the broker KBS_PID names
#   Governance:   gov_start [PORT [OPTIONS...]]   sets GOV_URL, GOV_PORT, GOV_PID, CCRFS_GOV_TOKEN;
#                                                  database $TMP/gov.db, log $TMP/logs/gov.log
#                 gov_stop
#   SKR stand-in: skr_start [options]             sets SKR_URL, SKR_PID; log $TMP/skr.log
#   Fault server: faultserver_start ROOT          sets FAULT_URL, FAULT_PID (lib/faultserver.py)

# h_wait_port_file FILE SECONDS PID: true once FILE holds a port, false when PID died first or
# the time ran out.
h_wait_port_file() {
  local file=$1 limit=$2 pid=$3
  wait_until "$limit" h_port_file_ready "$file" "$pid" && [ -s "$file" ]
}

h_port_file_ready() {
  [ -s "$1" ] || ! kill -0 "$2" 2>/dev/null
}

# --- key broker (`ccrfs kbs serve`) ----------------------------------------------------------

KBS_PID=
KBS_URL=
KBS_DIR=${KBS_DIR:-} # where the broker's files go (default: $TMP)

# kbs_start NAME [serve options...]: a broker with state $KBS_DIR/NAME.state, the admin token
# $KBS_DIR/token (kbs_setup_common makes it), its log in $KBS_DIR/NAME.log.
kbs_start() {
  local name=$1 dir=${KBS_DIR:-$TMP}
  shift
  rm -f "$dir/$name.port"
  "$CCRFS" kbs serve --state "$dir/$name.state" --admin-token-file "$dir/token" \
    --port-file "$dir/$name.port" "$@" 2>>"$dir/$name.log" &
  KBS_PID=$!
  H_PIDS+=("$KBS_PID")
  if ! h_wait_port_file "$dir/$name.port" 10 "$KBS_PID"; then
    echo "broker $name did not start:" >&2
    cat "$dir/$name.log" >&2
    return 1
  fi
  KBS_URL="http://127.0.0.1:$(cat "$dir/$name.port")"
}

kbs_stop() {
  h_stop "$KBS_PID"
}

# --- governance service (`ccrfs gov serve`) ----------------------------------------------------

GOV_PID=
GOV_PORT=
GOV_URL=

# gov_start [PORT [serve options...]]: starts the service on PORT (default: a free one; a
# restart passes the old one) with the credentials of gov_credentials, and waits until it
# answers. CCRFS_GOV_TOKEN is the admin's token, so older tests call every route as before.
gov_start() {
  local port=${1:-0}
  [ $# -gt 0 ] && shift
  gov_credentials
  export CCRFS_GOV_TOKEN
  CCRFS_GOV_TOKEN=$(gov_token_of admin)
  rm -f "$TMP/gov.port"
  h_spawn gov "$CCRFS" gov serve --db "$TMP/gov.db" --token-file "$TMP/gov.token" --port "$port" \
    --port-file "$TMP/gov.port" "$@"
  GOV_PID=$H_PID
  if wait_until 10 gov_answers; then
    return 0
  fi
  echo "the governance service did not start:"
  cat "$TMP/logs/gov.log"
  return 1
}

gov_answers() {
  [ -s "$TMP/gov.port" ] || return 1
  GOV_PORT=$(cat "$TMP/gov.port")
  GOV_URL="http://127.0.0.1:$GOV_PORT"
  curl -sf "$GOV_URL/health" >/dev/null
}

gov_stop() {
  h_stop "$GOV_PID"
  GOV_PID=
}

# --- Azure SKR sidecar stand-in (lib/skr_standin.py) ---------------------------------------

SKR_PID=
SKR_URL=

# skr_start [skr_standin.py options]: --port-file is given here; the log is $TMP/skr.log.
skr_start() {
  rm -f "$TMP/skr.port"
  python3 "$H_LIB/skr_standin.py" --port-file "$TMP/skr.port" "$@" 2>>"$TMP/skr.log" &
  SKR_PID=$!
  H_PIDS+=("$SKR_PID")
  if ! h_wait_port_file "$TMP/skr.port" 10 "$SKR_PID"; then
    echo "the SKR stand-in did not start:" >&2
    cat "$TMP/skr.log" >&2
    return 1
  fi
  SKR_URL="http://127.0.0.1:$(cat "$TMP/skr.port")"
}

skr_stop() {
  h_stop "$SKR_PID"
}

# --- misbehaving HTTP server (lib/faultserver.py) -------------------------------------------

FAULT_PID=
FAULT_URL=

# faultserver_start ROOT: serves ROOT at $FAULT_URL/MODE/PATH (modes: see faultserver.py).
faultserver_start() {
  rm -f "$TMP/faultserver.port"
  h_spawn faultserver python3 "$H_LIB/faultserver.py" "$1" "$TMP/faultserver.port"
  FAULT_PID=$H_PID
  if ! h_wait_port_file "$TMP/faultserver.port" 10 "$FAULT_PID"; then
    echo "the fault server did not start:" >&2
    cat "$TMP/logs/faultserver.log" >&2
    return 1
  fi
  FAULT_URL="http://127.0.0.1:$(cat "$TMP/faultserver.port")"
}
