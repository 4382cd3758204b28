#!/usr/bin/env bash
# Builds the Debian package from this tree (dpkg-buildpackage -us -uc -b), checks it with
# lintian (no errors), installs it with apt-get, checks what it installed (program, mount
# helper, a manual page for every command, bash completion, systemd units that
# systemd-analyze accepts), runs the demo with the installed ccrfs, purges the package and
# checks that nothing of it is left. As root, on Debian 12. Fails loudly on the first problem.
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
cleanup() {
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

step "building the package"
# A copy of the tree (tracked and new files, not build output): dpkg-buildpackage writes next
# to the source folder and into debian/.
mkdir -p "$W/src"
git ls-files -z --cached --others --exclude-standard | grep -z -v '^build' |
  xargs -0 tar -cf - --no-recursion | tar -xf - -C "$W/src"
start=$(date +%s)
(cd "$W/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" nice dpkg-buildpackage -us -uc -b >"$W/build.log" 2>&1) ||
  { tail -n 40 "$W/build.log" >&2; fail "dpkg-buildpackage failed (log above)"; }
deb=$(ls "$W"/ccrfs_*.deb)
echo "built $(basename "$deb") in $(($(date +%s) - start)) s"

step "lintian"
lintian --fail-on error --tag-display-limit 0 "$W"/ccrfs_*.changes | tee "$W/lintian.log" ||
  fail "lintian reports errors (above)"
grep -q '^E: ' "$W/lintian.log" && fail "lintian reports errors (above)"
echo "lintian: no errors ($(grep -c '^W: ' "$W/lintian.log" || true) warnings)"

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
