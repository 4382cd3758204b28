#!/bin/sh
# Writes the manual pages from the program's own --help text, so a page cannot say
# something the program does not: ccrfs(1) from 'ccrfs --help', ccrfs-COMMAND(1) for every
# command that list names, and mount.ccrfs(8) from the helper's usage and 'ccrfs mount --help'.
#   gen-man.sh CCRFS OUT_DIR        writes OUT_DIR/man1/*.1 and OUT_DIR/man8/mount.ccrfs.8
# The date is SOURCE_DATE_EPOCH's when set (reproducible builds).
set -eu

if [ $# -ne 2 ]; then
  echo "usage: gen-man.sh CCRFS OUT_DIR" >&2
  exit 2
fi
ccrfs=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
conv=$here/help2roff.awk

version=$("$ccrfs" --version | sed -n 's/^ccrfs //p')
[ -n "$version" ] || { echo "gen-man.sh: '$ccrfs --version' printed no version" >&2; exit 1; }
date=$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)
top_help=$("$ccrfs" --help)
# "  NAME       summary" lines under "commands:".
commands=$(printf '%s\n' "$top_help" | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
[ -n "$commands" ] || { echo "gen-man.sh: 'ccrfs --help' lists no commands" >&2; exit 1; }
summary_of() {
  printf '%s\n' "$top_help" | awk -v c="$1" '$1 == c {sub(/^  [^ ]+ +/, ""); print; exit}'
}

mkdir -p "$out/man1" "$out/man8"
see_also=""
for c in $commands; do see_also="$see_also ccrfs-$c(1)"; done
see_also="ccrfs(1)$see_also mount.ccrfs(8) fusermount3(1) mount(8)"

# ccrfs(1): the command list, and where each command is described.
printf '%s\n' "$top_help" | awk -f "$conv" -v name=ccrfs -v section=1 -v version="$version" -v date="$date" \
  -v summary="encrypted datasets for confidential clean rooms: pack, push, mount, audit" \
  -v see_also="$see_also" >"$out/man1/ccrfs.1"

for c in $commands; do
  help=$("$ccrfs" "$c" --help) || { echo "gen-man.sh: 'ccrfs $c --help' failed" >&2; exit 1; }
  printf '%s\n' "$help" | awk -f "$conv" -v name="ccrfs-$c" -v section=1 -v version="$version" -v date="$date" \
    -v summary="$(summary_of "$c")" -v see_also="$see_also" >"$out/man1/ccrfs-$c.1"
done

# mount.ccrfs(8): the helper prints its usage line when called without arguments; its options
# are those of 'ccrfs mount -o'.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$(cd "$(dirname "$ccrfs")" && pwd)/$(basename "$ccrfs")" "$tmp/mount.ccrfs"
usage=$("$tmp/mount.ccrfs" 2>&1 | sed -n 's/^mount\.ccrfs: usage: \(mount\.ccrfs [^(]*[^ (]\).*/\1/p') || true
[ -n "$usage" ] || { echo "gen-man.sh: mount.ccrfs printed no usage line" >&2; exit 1; }
{
  echo "usage: $usage"
  echo "       mount -t ccrfs SOURCE DIR -o OPTIONS"
  echo "       mount -t fuse.ccrfs SOURCE DIR -o OPTIONS"
  echo
  echo "mount(8) runs mount.ccrfs for file systems of type ccrfs or fuse.ccrfs (the command line,"
  echo "/etc/fstab, systemd mount units). It mounts as 'ccrfs mount -o OPTIONS SOURCE DIR' does:"
  echo "the key source and the governance settings are given as -o options (key_file=, kbs=,"
  echo "resource=, attest=, governance=, contract=, ...), never secrets themselves, only the files"
  echo "that hold them. The options are those of ccrfs-mount(1)."
  echo
  "$ccrfs" mount --help | awk '/^usage: / {skip = 1; next} skip && /^       / {next} {skip = 0; print}'
} | awk -f "$conv" -v name=mount.ccrfs -v section=8 -v version="$version" -v date="$date" \
  -v summary="mount a ccrfs dataset (mount(8) helper)" -v see_also="$see_also" >"$out/man8/mount.ccrfs.8"
