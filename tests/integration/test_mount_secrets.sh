#!/usr/bin/env bash
# Secrets in store URLs stay out of what others can read. Mounts of a dataset in Azurite with a
# SAS token (az:// with the token from the environment, and the blob endpoint as an http:// URL
# carrying the SAS query), and over nginx with a pre-signed-style ?sig= query: /proc/mounts,
# /proc/self/mountinfo, the daemon's command line, its log, the audit log and the output of
# `ccrfs mount` hold neither the signature nor any userinfo, and the fsname is the URL without
# them. Refusals (no dataset there, a wrong key, a URL with userinfo, an az:// URL with a query)
# print neither.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd curl

mkdir -p "$TMP/src/sub"
head -c 700000 /dev/urandom >"$TMP/src/data.bin"
echo "hello from the clean room" >"$TMP/src/sub/note.txt"
ID=$(mount_pack "$TMP/src" "$TMP/ds")

# leaks_in SECRET FILE...: prints the files holding SECRET (as is or percent-encoded).
leaks_in() {
  local secret=$1 enc f
  shift
  enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$secret")
  for f in "$@"; do
    [ -f "$f" ] || continue
    if grep -qF -e "$secret" -e "$enc" "$f"; then
      echo "$f:"
      grep -nF -e "$secret" -e "$enc" "$f" | head -n 3
    fi
  done
}

# no_leak WHAT SECRET FILE...: passes when no file holds SECRET; otherwise names the line.
no_leak() {
  local what=$1 secret=$2 found
  shift 2
  found=$(leaks_in "$secret" "$@")
  if [ -z "$found" ]; then
    pass "$what"
  else
    fail "$what: leaked in"
    sed 's/^/    | /' <<<"$found"
  fi
}

# fsname_of MOUNTPOINT FILE: the source (fsname) of the mount in a mounts or mountinfo file.
fsname_of() {
  awk -v mp="$1" '
    FILENAME ~ /mountinfo/ { for (i = 1; i <= NF; i++) if ($i == "-") { if ($5 == mp) print $(i + 2); next } }
    FILENAME !~ /mountinfo/ && $2 == mp { print $1 }' "$2"
}

# mount_and_look NAME URL PUBLIC SECRET... [-- extra mount options]: mounts URL in the background
# (the output of `ccrfs mount` kept), reads every file, copies what others can see (mounts,
# mountinfo, the daemon's command line), unmounts, then mounts again in the foreground to keep
# the daemon's log; checks the fsname is PUBLIC and no file holds any SECRET.
mount_and_look() {
  local name=$1 url=$2 public=$3 mp=$TMP/mnt-$1 pid secret
  shift 3
  local secrets=() opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    secrets+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift && opts=("$@")
  mkdir -p "$mp"
  h_track_mount "$mp"
  if ! "$CCRFS" mount --key "$TMP/key" --dataset-id "$ID" --audit-log "$TMP/$name-audit.log" \
    --spool "$TMP/$name-spool" "${opts[@]}" "$url" "$mp" >"$TMP/$name-mount.out" 2>&1; then
    fail "$name: mount ($(head -c 300 "$TMP/$name-mount.out"))"
    return
  fi
  check "$name: the files read back" diff -r "$TMP/src" "$mp"
  cp /proc/self/mounts "$TMP/$name-mounts"
  cp /proc/self/mountinfo "$TMP/$name-mountinfo"
  pid=$(mount_daemon_pid "$mp")
  tr '\0' ' ' <"/proc/$pid/cmdline" >"$TMP/$name-cmdline" 2>/dev/null
  check "$name: /proc/mounts shows the URL without secrets as the source" \
    test "$(fsname_of "$mp" "$TMP/$name-mounts")" = "$public"
  check "$name: so does /proc/self/mountinfo" test "$(fsname_of "$mp" "$TMP/$name-mountinfo")" = "$public"
  mount_stop "$mp"

  # The foreground daemon's stderr is its log.
  mount_foreground "$url" "$mp" --dataset-id "$ID" --audit-log "$TMP/$name-audit.log" \
    --spool "$TMP/$name-spool" "${opts[@]}" 2>"$TMP/logs/$name-daemon.log"
  check "$name: mounted in the foreground" mount_is_mounted "$mp"
  cat "$mp/data.bin" "$mp/sub/note.txt" >/dev/null
  mount_stop "$mp"
  check "$name: the audit log records the reads" grep -q '"path":"data.bin"' "$TMP/$name-audit.log"
  for secret in "${secrets[@]}"; do
    no_leak "$name: no '${secret:0:6}...' in /proc/mounts, mountinfo, the daemon's log, the audit log or the output of ccrfs mount" \
      "$secret" "$TMP/$name-mounts" "$TMP/$name-mountinfo" "$TMP/logs/$name-daemon.log" \
      "$TMP/$name-audit.log" "$TMP/$name-mount.out"
    # /proc/PID/cmdline is readable by every user, as /proc/mounts is.
    no_leak "$name: no '${secret:0:6}...' in the daemon's command line" "$secret" "$TMP/$name-cmdline"
  done
}

# --- Azurite: a container SAS ---------------------------------------------------------------
start_azurite
case $? in
0)
  azurite_create_container data || fail "cannot create a container in Azurite"
  export CCRFS_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
  check "push the dataset to Azurite" "$CCRFS" push "$TMP/ds" "az://$AZURITE_ACCOUNT/data/ds"
  SAS=$(azurite_sas data rl)
  SIG=$(sed 's/.*sig=//; s/&.*//' <<<"$SAS")
  SIG=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$SIG")
  ACCOUNT_KEY=$AZURE_STORAGE_KEY
  unset AZURE_STORAGE_KEY

  # az:// takes the token from the environment.
  AZURE_STORAGE_SAS_TOKEN=$SAS mount_and_look az-sas "az://$AZURITE_ACCOUNT/data/ds" \
    "az://$AZURITE_ACCOUNT/data/ds" "$SIG"
  # The blob endpoint as an http:// URL carrying the SAS: the query goes on every request.
  mount_and_look az-http "$AZURITE_ENDPOINT/data/ds?$SAS" "$AZURITE_ENDPOINT/data/ds" "$SIG"
  # An az:// URL with the SAS in it is refused, without printing the signature.
  mkdir -p "$TMP/mnt-azq"
  out=$("$CCRFS" mount --key "$TMP/key" "az://$AZURITE_ACCOUNT/data/ds?$SAS" "$TMP/mnt-azq" 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$TMP/azq.out"
  check "an az:// URL with a query is refused, saying why" \
    bash -c "[ $rc -ne 0 ] && grep -q 'take no query' '$TMP/azq.out'"
  check_fails "and nothing is mounted" mount_is_mounted "$TMP/mnt-azq"
  no_leak "the refusal does not print the signature" "$SIG" "$TMP/azq.out"
  export AZURE_STORAGE_KEY=$ACCOUNT_KEY
  ;;
77) skip "Azurite is not installed: the SAS mounts" ;;
*) fail "Azurite would not start" ;;
esac

# --- nginx: a pre-signed-style query, and userinfo -------------------------------------------
mkdir -p "$TMP/www"
cp -r "$TMP/ds" "$TMP/www/ds"
chmod -R a+rX "$TMP/www"
start_nginx "$TMP/www"
case $? in
0)
  NSIG=S1gN4tur3-$(head -c 12 /dev/urandom | xxd -p)
  PASSWORD=Pa55-$(head -c 8 /dev/urandom | xxd -p)
  H="http://127.0.0.1:$NGINX_PORT"
  mount_and_look nginx-sig "$H/ds?sv=2021-08-06&se=2099-01-01&sig=$NSIG" "$H/ds" "$NSIG"
  check "the query reached nginx" grep -q "sig=$NSIG" "$NGINX_DIR/logs/access.log"

  # A store error names the object: the message carries the URL without the query.
  cp -r "$TMP/ds" "$TMP/www/ds-broken"
  blob=$(ls "$TMP/www/ds-broken/blobs" | head -n 1)
  MP=$TMP/mnt-broken
  mount_foreground "$H/ds-broken?sig=$NSIG" "$MP" --dataset-id "$ID" 2>"$TMP/logs/broken-daemon.log"
  check "a mount over nginx with a query" mount_is_mounted "$MP"
  rm -f "$TMP/www/ds-broken/blobs/$blob"
  for f in data.bin sub/note.txt; do cat "$MP/$f" >/dev/null 2>&1; done
  mount_stop "$MP"
  no_leak "store errors do not print the signature" "$NSIG" "$TMP/logs/broken-daemon.log"

  # Refusals name the store: without the query.
  mkdir -p "$TMP/mnt-refused"
  "$CCRFS" keygen -o "$TMP/other.key" >/dev/null 2>&1
  "$CCRFS" mount --key "$TMP/key" "$H/nothing-here?sig=$NSIG" "$TMP/mnt-refused" >"$TMP/refused-missing.out" 2>&1
  check "a missing dataset behind a signed URL is refused" grep -q "not a dataset" "$TMP/refused-missing.out"
  no_leak "and the refusal does not print the signature" "$NSIG" "$TMP/refused-missing.out"
  "$CCRFS" mount --key "$TMP/other.key" "$H/ds?sig=$NSIG" "$TMP/mnt-refused" >"$TMP/refused-key.out" 2>&1
  check "a wrong key behind a signed URL is refused" test -s "$TMP/refused-key.out"
  check_fails "and nothing is mounted" mount_is_mounted "$TMP/mnt-refused"
  no_leak "and that refusal does not print the signature either" "$NSIG" "$TMP/refused-key.out"

  # Userinfo is not accepted in a store URL; the refusal prints neither it nor the query.
  mkdir -p "$TMP/mnt-userinfo"
  out=$("$CCRFS" mount --key "$TMP/key" --audit-log "$TMP/userinfo-audit.log" --spool "$TMP/userinfo-spool" \
    "http://alice:$PASSWORD@127.0.0.1:$NGINX_PORT/ds?sig=$NSIG" "$TMP/mnt-userinfo" 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$TMP/userinfo.out"
  if [ "$rc" -eq 0 ]; then
    # Should a build accept it, what others see must still be clean.
    cp /proc/self/mounts "$TMP/userinfo-mounts"
    h_track_mount "$TMP/mnt-userinfo"
    check "a URL with userinfo: the fsname has none" \
      test "$(fsname_of "$TMP/mnt-userinfo" "$TMP/userinfo-mounts")" = "$H/ds"
    mount_stop "$TMP/mnt-userinfo"
  else
    check "a URL with userinfo is refused, saying why" grep -q "credentials in the URL" "$TMP/userinfo.out"
    check_fails "and nothing is mounted" mount_is_mounted "$TMP/mnt-userinfo"
  fi
  for secret in "$PASSWORD" "alice:" "$NSIG"; do
    no_leak "a URL with userinfo: no '${secret:0:6}...' in the output, the mounts or the audit log" "$secret" \
      "$TMP/userinfo.out" "$TMP/userinfo-mounts" "$TMP/userinfo-audit.log"
  done
  ;;
77) skip "nginx is not installed: the http mounts" ;;
*) fail "nginx would not start" ;;
esac

finish
