#!/usr/bin/env bash
# The manual pages and the bash completion are generated from --help (packaging/gen-man.sh,
# packaging/gen-completion.sh): every command has a page, and every option each command's
# --help names is in its page and its completion, every mount -o name in mount.ccrfs(8).
# A help text that gains an option the pages do not have is caught.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

gen_man=$CCRFS_SRC/packaging/gen-man.sh
gen_comp=$CCRFS_SRC/packaging/gen-completion.sh

commands_of() { "$1" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'; }
# Option names in a help text: every --name, and -x in usage and option lines.
options_in() {
  grep -o -- '--[a-z][a-z0-9-]*' <<<"$1" | sort -u
  grep -E '^(usage:| +(ccrfs|\[|-))' <<<"$1" | grep -E -o '(^| |\[)-[a-zA-Z]\b' | tr -d ' [' | sort -u
}
# A page as plain text: the roff escapes the generator writes, undone.
page_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIR]//g' -e 's/\\e/\\/g' -e 's/\\&//g' "$1"; }
has_word() { grep -q -E -- "(^|[^a-zA-Z0-9_-])$2([^a-zA-Z0-9_-]|\$)" "$1"; }

# covers CCRFS MANDIR COMPLETION: names what the pages or the completion lack; fails if anything.
covers() {
  local ccrfs=$1 man=$2 comp=$3 c help opt missing=0 text=$TMP/page.txt
  . "$comp" # the tables it completes from: _ccrfs_commands, _ccrfs_options[COMMAND]
  for c in $(commands_of "$ccrfs"); do
    if [ ! -s "$man/man1/ccrfs-$c.1" ]; then
      echo "no page ccrfs-$c.1"
      missing=1
      continue
    fi
    page_text "$man/man1/ccrfs-$c.1" >"$text"
    help=$("$ccrfs" "$c" --help)
    for opt in $(options_in "$help"); do
      has_word "$text" "$opt" || { echo "ccrfs-$c.1 lacks $opt"; missing=1; }
      [[ " ${_ccrfs_options[$c]:-} " == *" $opt "* ]] || { echo "completion of ccrfs $c lacks $opt"; missing=1; }
    done
    grep -q "^ccrfs-$c - [^ ]" "$text" || { echo "ccrfs-$c.1 has no NAME line"; missing=1; }
    [[ " $_ccrfs_commands " == *" $c "* ]] || { echo "completion lacks the command $c"; missing=1; }
  done
  page_text "$man/man8/mount.ccrfs.8" >"$text"
  for opt in $("$ccrfs" mount --help | awk '/^  -o OPTS/ {on = 1; next} on && !/^     / {on = 0} on' |
    grep -E -o '\b[a-z_]+=' | sort -u); do
    grep -q -F -- "$opt" "$text" || { echo "mount.ccrfs.8 lacks -o $opt"; missing=1; }
  done
  return $missing
}

check "the manual pages are generated" sh "$gen_man" "$CCRFS" "$TMP/man"
check "the bash completion is generated" sh "$gen_comp" "$CCRFS" "$TMP/ccrfs.bash"
check "ccrfs(1) and mount.ccrfs(8) are there" test -s "$TMP/man/man1/ccrfs.1" -a -s "$TMP/man/man8/mount.ccrfs.8"
ln -s "$CCRFS" "$TMP/mount.ccrfs"
check "mount.ccrfs --help prints its usage and exits 0" \
  bash -c '"$1" --help | grep -q "^usage: mount.ccrfs SOURCE DIR"' _ "$TMP/mount.ccrfs"
n=$(commands_of "$CCRFS" | wc -l)
check "one page per command ($n commands, each with --help)" test "$(ls "$TMP/man/man1" | grep -c '^ccrfs-')" -eq "$n"
check "every command, option and -o name of --help is in the pages and the completion" \
  covers "$CCRFS" "$TMP/man" "$TMP/ccrfs.bash"
if command -v groff >/dev/null 2>&1; then
  check "every page formats without a warning" bash -c 'for f in "$1"/man*/*; do
      w=$(groff -man -Tutf8 -ww -z "$f" 2>&1); [ -z "$w" ] || { echo "$f: $w"; exit 1; }; done' _ "$TMP/man"
else
  skip "groff is not installed: pages not formatted"
fi

# The completion works in bash: commands, nested subcommands, options, mount -o names.
complete_words() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ccrfs; echo "${COMPREPLY[*]}"' _ \
    "$TMP/ccrfs.bash" "$@"
}
check "completion: ccrfs p -> pack push" test "$(complete_words ccrfs p)" = "pack push"
check "completion: ccrfs gov contract s -> sign show" test "$(complete_words ccrfs gov contract s)" = "sign show"
check "completion: ccrfs pack --bl -> --block-size" test "$(complete_words ccrfs pack --bl)" = "--block-size"
check "completion: ccrfs mount -o key_file=k,cache_s -> key_file=k,cache_size=" \
  test "$(complete_words ccrfs mount -o key_file=k,cache_s)" = "key_file=k,cache_size="

# A help text with an option the pages were not made from: the check names it.
real=$CCRFS
cat >"$TMP/ccrfs-newer" <<WRAP
#!/usr/bin/env bash
case \$(basename "\$0") in mount.ccrfs) exec -a mount.ccrfs "$real" "\$@" ;; esac
if [ "\${1:-}" = pack ] && [ "\${2:-}" = --help ]; then
  "$real" pack --help
  echo "  --frobnicate N     a new option"
  exit 0
fi
exec "$real" "\$@"
WRAP
chmod +x "$TMP/ccrfs-newer"
covers "$TMP/ccrfs-newer" "$TMP/man" "$TMP/ccrfs.bash" >"$TMP/stale.out"
check "pages made before an option was added are caught" grep -q "ccrfs-pack.1 lacks --frobnicate" "$TMP/stale.out"
check "so is the completion" grep -q "completion of ccrfs pack lacks --frobnicate" "$TMP/stale.out"
check "pages made again from that help cover it" sh "$gen_man" "$TMP/ccrfs-newer" "$TMP/man2"
check "the completion made again covers it" sh "$gen_comp" "$TMP/ccrfs-newer" "$TMP/ccrfs2.bash"
check "nothing is missing then" covers "$TMP/ccrfs-newer" "$TMP/man2" "$TMP/ccrfs2.bash"

finish
