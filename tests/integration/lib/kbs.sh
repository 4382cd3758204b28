# shellcheck shell=bash
# Key-release test helpers (sourced by harness.sh): a simulated SEV-SNP guest, a packed dataset
# and the broker's admin token, and a release policy for this build. The broker itself:
# kbs_start / kbs_stop in services.sh.

# A policy that releases only to the running ccrfs build, never to a debuggable guest.
kbs_policy_for_build() {
  local m
  m=$(sha384sum "$CCRFS" | cut -d' ' -f1)
  printf '{"version":"1.0.0","anyOf":[{"authority":"ccrfs-local","allOf":[{"claim":"measurement","equals":"%s"},{"claim":"debug","equals":false},{"claim":"vmpl","equals":0}]}]}\n' "$m"
}

# kbs_setup_common: in $KBS_DIR (default $TMP): the admin token "token", a simulated guest
# "sim", a source tree "src" packed with the key "dek.key" into "ds".
kbs_setup_common() {
  local d=${KBS_DIR:-$TMP}
  mkdir -p "$d/src/sub"
  head -c 24 /dev/urandom | base64 >"$d/token"
  chmod 600 "$d/token"
  "$CCRFS" attest sim-init "$d/sim" >/dev/null || return 1
  head -c 300000 /dev/urandom >"$d/src/data.bin"
  echo "hello clean room" >"$d/src/sub/readme.txt"
  "$CCRFS" keygen -o "$d/dek.key" >/dev/null 2>&1 &&
    "$CCRFS" pack --key "$d/dek.key" "$d/src" "$d/ds" >/dev/null 2>&1
}
