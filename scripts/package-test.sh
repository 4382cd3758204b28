#!/usr/bin/env bash
# Builds the Debian package from this tree (dpkg-buildpackage -us -uc -b), checks it with
# lintian (no errors), installs it with apt-get, checks what it installed (program, mount
# helper, a manual page for every command, bash completion, systemd units that
# systemd-analyze accepts), runs the demo with the installed ccrfs, purges the package and
# checks that nothing of it is left. As root, on Debian 12. Fails loudly on the first problem.
# CCRFS_PACKAGE_OUT=DIR keeps the package; CCRFS_PACKAGE_DEB=FILE checks one built before.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

T0=$(date +%s)
step() { printf '\n== package-test: %s (at %d s)\n' "$*" $(($(date +%s) - T0)); }
fail() { printf 'package-test: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and removes the package)"
if dpkg-query -W -f='${Status}' ccrfs 2>/dev/null | grep -q 'install ok installed'; then
  fail "a ccrfs package is installed already; remove it first (apt-get purge ccrfs)"
fi

# The packaging tools, only those missing.
tools=(dpkg-dev debhelper lintian bash-completion man-db)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/install-deps.sh

W=$(mktemp -d /tmp/ccrfs-package.XXXXXX)
installed_by_us=0
MOUNTED=
cleanup() {
  if [ -n "$MOUNTED" ] && mountpoint -q "$MOUNTED"; then fusermount3 -u -z "$MOUNTED" || true; fi
  if [ -n "${UNIT_PID:-}" ]; then kill "$UNIT_PID" 2>/dev/null || true; fi
  if [ "$installed_by_us" = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ccrfs >/dev/null 2>&1 || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT

# What is there before, to tell afterwards what the package left.
leftovers() {
  {
    ls -d /etc/ccrfs /var/lib/ccrfs /var/lib/private/ccrfs 2>/dev/null || true
    find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
      -name '*ccrfs*' 2>/dev/null || true
  } | sort
}
leftovers >"$W/before"

if [ -n "${CCRFS_PACKAGE_DEB:-}" ]; then
  # CCRFS_PACKAGE_DEB=FILE checks a package built before (by CCRFS_PACKAGE_OUT=DIR) again.
  step "using $CCRFS_PACKAGE_DEB"
  cp "$CCRFS_PACKAGE_DEB" "$W/" || fail "CCRFS_PACKAGE_DEB=$CCRFS_PACKAGE_DEB: no such package"
else
  step "building the package"
  # A copy of the tree (tracked and new files, not build output): dpkg-buildpackage writes next
  # to the source folder and into debian/.
  mkdir -p "$W/src"
  git ls-files -z --cached --others --exclude-standard | grep -z -v '^build' |
    xargs -0 tar -cf - --no-recursion | tar -xf - -C "$W/src"
  start=$(date +%s)
  (cd "$W/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" nice dpkg-buildpackage -us -uc -b >"$W/build.log" 2>&1) ||
    { tail -n 40 "$W/build.log" >&2; fail "dpkg-buildpackage failed (log above)"; }
  echo "built $(basename "$W"/ccrfs_*.deb) in $(($(date +%s) - start)) s"
  # CCRFS_PACKAGE_OUT=DIR keeps the package.
  if [ -n "${CCRFS_PACKAGE_OUT:-}" ]; then
    mkdir -p "$CCRFS_PACKAGE_OUT" && cp "$W"/ccrfs*_* "$CCRFS_PACKAGE_OUT/"
  fi
fi
deb=$(ls "$W"/ccrfs_*.deb)

step "lintian"
lintian --fail-on error --display-info --tag-display-limit 0 "$deb" | tee "$W/lintian.log" ||
  fail "lintian reports errors (above)"
grep -q '^E: ' "$W/lintian.log" && fail "lintian reports errors (above)"
echo "lintian: no errors, $(grep -c '^W: ' "$W/lintian.log" || true) warnings, $(grep -c '^I: ' "$W/lintian.log" || true) notes"

step "installing it with apt-get"
(cd "$W" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$(basename "$deb")" >"$W/install.log" 2>&1) ||
  { cat "$W/install.log" >&2; fail "apt-get install ./$(basename "$deb") failed"; }
installed_by_us=1
dpkg -L ccrfs | sort >"$W/files"

step "checking what it installed"
need() { [ -e "$1" ] || fail "missing after install: $1"; echo "ok  $1"; }
need /usr/bin/ccrfs
need /usr/sbin/mount.ccrfs
[ "$(readlink -f /usr/sbin/mount.ccrfs)" = "$(readlink -f /usr/bin/ccrfs)" ] || fail "/usr/sbin/mount.ccrfs is not ccrfs"
/usr/bin/ccrfs --version | grep -q '^ccrfs ' || fail "the installed ccrfs does not run"
need /usr/share/man/man1/ccrfs.1.gz
need /usr/share/man/man8/mount.ccrfs.8.gz
commands=$(/usr/bin/ccrfs --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
for c in $commands; do need "/usr/share/man/man1/ccrfs-$c.1.gz"; done
for page in ccrfs ccrfs-mount mount.ccrfs; do
  man -w "$page" >/dev/null 2>&1 || fail "man cannot find $page"
  [ "$(MANWIDTH=80 man "$page" 2>/dev/null | wc -l)" -gt 10 ] || fail "man $page shows nothing"
done
echo "ok  man finds and renders ccrfs, ccrfs-mount, mount.ccrfs"
need /usr/share/bash-completion/completions/ccrfs
got=$(bash -c '. /usr/share/bash-completion/completions/ccrfs
  COMP_WORDS=(ccrfs gov contract s); COMP_CWORD=3; _ccrfs; echo "${COMPREPLY[*]}"')
[ "$got" = "sign show" ] || fail "bash completion of 'ccrfs gov contract s' gave '$got'"
echo "ok  bash completion completes 'ccrfs gov contract s' to: $got"
for unit in ccrfs-kbs.service ccrfs-gov.service ccrfs-mount@.service; do
  need "/lib/systemd/system/$unit"
done
need /usr/share/doc/ccrfs/examples/mount.conf.example
if command -v systemd-analyze >/dev/null 2>&1; then
  # A template is checked as an instance of it.
  cp /lib/systemd/system/ccrfs-kbs.service /lib/systemd/system/ccrfs-gov.service "$W/"
  cp /lib/systemd/system/ccrfs-mount@.service "$W/ccrfs-mount@data.service"
  if ! systemd-analyze verify --man=yes "$W"/ccrfs-*.service >"$W/verify.log" 2>&1 || [ -s "$W/verify.log" ]; then
    cat "$W/verify.log" >&2
    fail "systemd-analyze verify finds problems in the units (above)"
  fi
  echo "ok  systemd-analyze verify accepts the three units"
else
  echo "skip systemd-analyze verify: systemd-analyze is not installed"
fi

step "running the units' commands as systemd would"
# Without systemd as PID 1 the units cannot be started here, so their lines are run the way
# systemd runs them: Environment=, then EnvironmentFile=, StateDirectory= and LoadCredential=
# made under a scratch folder (%S, %d, /etc/ccrfs pointed there), ExecStartPre=, ExecStart=,
# SIGTERM, ExecStopPost=; the services as an unprivileged user without capabilities (as
# DynamicUser= and CapabilityBoundingSet= leave them), the mount with only CAP_SYS_ADMIN and
# CAP_IPC_LOCK and no new privileges. Ports 0: the machine's 8080 and 8290 may be taken.
U=$W/unit
S=$U/state CRED=$U/cred ETC=$U/etc
mkdir -p "$S" "$CRED" "$ETC"
chmod 0755 "$W" "$U" "$S"
# unit_value UNIT KEY INSTANCE: the unit's KEY= values, specifiers and /etc/ccrfs replaced.
unit_value() {
  sed -n "s/^$2=//p" "/lib/systemd/system/$1" |
    sed -e "s|%S|$S|g" -e "s|%d|$CRED|g" -e "s|%[iI]|$3|g" -e "s|/etc/ccrfs|$ETC|g"
}
# unit_run UNIT INSTANCE KEY SETPRIV_ARGS...: runs the unit's KEY= command in its environment,
# in place of the calling shell: call it in a subshell, ( ... ) or &, so that $! is the program.
unit_run() {
  local unit=$1 inst=$2 key=$3 f cmd
  shift 3
  set -a
  eval "$(unit_value "$unit" Environment "$inst")"
  for f in $(unit_value "$unit" EnvironmentFile "$inst"); do
    f=${f#-}
    if [ -e "$f" ]; then . "$f" || exit 1; fi
  done
  set +a
  cmd=$(unit_value "$unit" "$key" "$inst")
  eval "exec setpriv $* ${cmd#-}"
}
# unit_start UNIT INSTANCE OWNER SETPRIV_ARGS...: state folders and credentials as systemd makes
# them (owned by OWNER), ExecStartPre=, then ExecStart= in the background (UNIT_PID).
unit_start() {
  local unit=$1 inst=$2 owner=$3 c d
  shift 3
  for c in $(unit_value "$unit" LoadCredential "$inst"); do
    cp "${c#*:}" "$CRED/${c%%:*}" && chown "$owner" "$CRED/${c%%:*}" && chmod 0400 "$CRED/${c%%:*}"
  done
  for d in $(unit_value "$unit" StateDirectory "$inst"); do
    mkdir -p "$S/$d" && chown "$owner" "$S/$d" && chmod 0700 "$S/$d"
  done
  if [ -n "$(unit_value "$unit" ExecStartPre "$inst")" ]; then
    (unit_run "$unit" "$inst" ExecStartPre "$@") || fail "$unit: ExecStartPre failed"
  fi
  unit_run "$unit" "$inst" ExecStart "$@" >"$U/$unit$inst.log" 2>&1 &
  UNIT_PID=$!
}
unit_stop() {
  kill -TERM "$UNIT_PID" 2>/dev/null || true
  wait "$UNIT_PID" 2>/dev/null || true
  UNIT_PID=
}
wait_for() { for _ in $(seq 1 200); do "$@" && return 0; sleep 0.1; done; return 1; }
service=(--reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs)
mounter=(--inh-caps=-all --bounding-set=-all,+sys_admin,+ipc_lock --no-new-privs)

head -c 24 /dev/urandom | base64 >"$ETC/kbs-admin.token"
printf 'KBS_LISTEN=127.0.0.1:0\nKBS_ARGS="--port-file %s"\n' "$S/ccrfs/kbs/port" >"$ETC/kbs.conf"
unit_start ccrfs-kbs.service "" 65534 "${service[@]}"
wait_for test -s "$S/ccrfs/kbs/port" || { cat "$U/ccrfs-kbs.service.log" >&2; fail "ccrfs-kbs.service did not start"; }
/usr/bin/ccrfs kbs list --url "http://127.0.0.1:$(cat "$S/ccrfs/kbs/port")" --token-file "$ETC/kbs-admin.token" \
  >/dev/null || fail "ccrfs-kbs.service does not answer its admin with the token credential"
unit_stop
test -s "$S/ccrfs/kbs/master.key" || fail "ccrfs-kbs.service kept no state in StateDirectory"
echo "ok  ccrfs-kbs.service: serves unprivileged, the token as a credential, state in /var/lib/ccrfs/kbs"

printf '%s operator admin\n' "$(head -c 24 /dev/urandom | base64)" >"$ETC/gov.tokens"
printf 'GOV_PORT=0\nGOV_ARGS="--port-file %s"\n' "$S/ccrfs/gov/port" >"$ETC/gov.conf"
unit_start ccrfs-gov.service "" 65534 "${service[@]}"
wait_for test -s "$S/ccrfs/gov/port" || { cat "$U/ccrfs-gov.service.log" >&2; fail "ccrfs-gov.service did not start"; }
CCRFS_GOV_TOKEN=$(cut -d' ' -f1 "$ETC/gov.tokens") /usr/bin/ccrfs gov contract list \
  --url "http://127.0.0.1:$(cat "$S/ccrfs/gov/port")" >/dev/null ||
  fail "ccrfs-gov.service does not accept the token credential"
unit_stop
test -s "$S/ccrfs/gov/gov.db" || fail "ccrfs-gov.service kept no database in StateDirectory"
echo "ok  ccrfs-gov.service: serves unprivileged, tokens as a credential, database in /var/lib/ccrfs/gov"

mkdir -p "$U/plain/sub" && head -c 300000 /dev/urandom >"$U/plain/sub/data.bin"
/usr/bin/ccrfs keygen -o "$ETC/data.key" 2>/dev/null
/usr/bin/ccrfs pack --key "$ETC/data.key" "$U/plain" "$U/dataset" >/dev/null
printf 'SOURCE=%s\nMOUNTPOINT=%s\nOPTIONS=key_file=%s\n' "$U/dataset" "$U/mnt/data" "$ETC/data.key" >"$ETC/data.conf"
unit_start ccrfs-mount@.service data root "${mounter[@]}"
MOUNTED=$U/mnt/data
wait_for mountpoint -q "$U/mnt/data" || { cat "$U/ccrfs-mount@.servicedata.log" >&2; fail "ccrfs-mount@data did not mount"; }
cmp -s "$U/plain/sub/data.bin" "$U/mnt/data/sub/data.bin" || fail "ccrfs-mount@data serves other bytes"
unit_stop
mountpoint -q "$U/mnt/data" && fail "SIGTERM did not unmount ccrfs-mount@data"
(unit_run ccrfs-mount@.service data ExecStopPost "${mounter[@]}") >/dev/null 2>&1 || true
MOUNTED=
echo "ok  ccrfs-mount@data: mounts from /etc/ccrfs/data.conf with CAP_SYS_ADMIN and CAP_IPC_LOCK only, SIGTERM unmounts"

step "running the demo with the installed ccrfs"
CCRFS=/usr/bin/ccrfs bash demo/run.sh >"$W/demo.log" 2>&1 || { tail -n 40 "$W/demo.log" >&2; fail "the demo failed"; }
tail -n 3 "$W/demo.log"

step "purging the package"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ccrfs >"$W/purge.log" 2>&1 ||
  { cat "$W/purge.log" >&2; fail "apt-get purge ccrfs failed"; }
installed_by_us=0
dpkg-query -W -f='${Status}' ccrfs 2>/dev/null | grep -q 'installed' && fail "ccrfs is still installed"
left=()
while read -r f; do
  # Folders the package shares with others (/usr/share/man, ...) stay; its own files must go.
  if [ -d "$f" ]; then
    [[ $f == *ccrfs* ]] && left+=("$f")
  elif [ -e "$f" ] || [ -L "$f" ]; then
    left+=("$f")
  fi
done <"$W/files"
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
leftovers >"$W/after"
diff "$W/before" "$W/after" >/dev/null || fail "left after purge: $(comm -13 "$W/before" "$W/after" | tr '\n' ' ')"
echo "ok  nothing of the package is left"
echo "package-test: passed in $(($(date +%s) - T0)) s"
