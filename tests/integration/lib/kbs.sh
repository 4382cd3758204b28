# Shared helpers for the key-release integration tests: a scratch folder, a simulated
# SEV-SNP guest, a local broker on an ephemeral loopback port, and pass/fail counting.
# Source after setting CCRFS (the binary) and CCRFS_SRC.

KBS_PASS=0
KBS_FAIL=0
KBS_PIDS=()
KBS_TMP=$(mktemp -d /tmp/ccrfs-kbs-it.XXXXXX)

kbs_cleanup() {
  local pid
  for pid in "${KBS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$KBS_TMP"
}

ok() { KBS_PASS=$((KBS_PASS + 1)); echo "ok - $*"; }
not_ok() { KBS_FAIL=$((KBS_FAIL + 1)); echo "not ok - $*"; }

# expect_fail "what" "words the error must contain" command...
expect_fail() {
  local what=$1 words=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    not_ok "$what: succeeded, expected a refusal"
  elif grep -qF -- "$words" <<<"$out"; then
    ok "$what"
  else
    not_ok "$what: error did not say '$words': $out"
  fi
}

kbs_summary() {
  echo "$KBS_PASS passed, $KBS_FAIL failed"
  [ "$KBS_FAIL" -eq 0 ]
}

# kbs_start NAME [serve options...]: starts a broker, sets KBS_URL, logs to $KBS_TMP/NAME.log
kbs_start() {
  local name=$1 i
  shift
  rm -f "$KBS_TMP/$name.port"
  "$CCRFS" kbs serve --state "$KBS_TMP/$name.state" --admin-token-file "$KBS_TMP/token" \
    --port-file "$KBS_TMP/$name.port" "$@" 2>>"$KBS_TMP/$name.log" &
  KBS_PIDS+=($!)
  KBS_PID=$!
  for i in $(seq 1 100); do
    [ -s "$KBS_TMP/$name.port" ] && break
    sleep 0.05
  done
  if [ ! -s "$KBS_TMP/$name.port" ]; then
    echo "broker $name did not start:" >&2
    cat "$KBS_TMP/$name.log" >&2
    return 1
  fi
  KBS_URL="http://127.0.0.1:$(cat "$KBS_TMP/$name.port")"
}

kbs_stop() {
  kill "$KBS_PID" 2>/dev/null || true
  wait "$KBS_PID" 2>/dev/null || true
}

# A policy that releases only to the running ccrfs build, never to a debuggable guest.
kbs_policy_for_build() {
  local m
  m=$(sha384sum "$CCRFS" | cut -d' ' -f1)
  printf '{"version":"1.0.0","anyOf":[{"authority":"ccrfs-local","allOf":[{"claim":"measurement","equals":"%s"},{"claim":"debug","equals":false},{"claim":"vmpl","equals":0}]}]}\n' "$m"
}

kbs_setup_common() {
  head -c 24 /dev/urandom | base64 >"$KBS_TMP/token"
  chmod 600 "$KBS_TMP/token"
  "$CCRFS" attest sim-init "$KBS_TMP/sim" >/dev/null
  mkdir -p "$KBS_TMP/src/sub"
  head -c 300000 /dev/urandom >"$KBS_TMP/src/data.bin"
  echo "hello clean room" >"$KBS_TMP/src/sub/readme.txt"
  "$CCRFS" keygen -o "$KBS_TMP/dek.key" >/dev/null 2>&1
  "$CCRFS" pack --key "$KBS_TMP/dek.key" "$KBS_TMP/src" "$KBS_TMP/ds" >/dev/null 2>&1
}
