#!/bin/sh
# Writes the bash completion for ccrfs from the program's own --help text, so it offers what
# the program accepts: the commands 'ccrfs --help' lists, each command's subcommands (the
# words after "ccrfs COMMAND" in its usage lines), its options, and the -o names of mount.
#   gen-completion.sh CCRFS OUT_FILE
set -eu

if [ $# -ne 2 ]; then
  echo "usage: gen-completion.sh CCRFS OUT_FILE" >&2
  exit 2
fi
ccrfs=$1
out=$2
commands=$("$ccrfs" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
[ -n "$commands" ] || { echo "gen-completion.sh: 'ccrfs --help' lists no commands" >&2; exit 1; }

words() { tr '\n' ' ' | sed 's/ *$//'; }
tmp=$out.tmp
{
  echo "# bash completion for ccrfs. Generated from 'ccrfs --help' and 'ccrfs COMMAND --help' by"
  echo "# packaging/gen-completion.sh; do not edit."
  echo "_ccrfs_commands='$(printf '%s\n' $commands | words)'"
  echo "declare -gA _ccrfs_subcommands=()"
  echo "declare -gA _ccrfs_options=()"
  for c in $commands; do
    help=$("$ccrfs" "$c" --help) || { echo "gen-completion.sh: 'ccrfs $c --help' failed" >&2; exit 1; }
    # Option names: every --name, and the short -x options of usage and option lines.
    opts=$({
      printf '%s\n' "$help" | grep -o -- '--[a-z][a-z0-9-]*' || true
      printf '%s\n' "$help" | grep -E '^(usage:| +(ccrfs|\[|-))' | grep -E -o '(^| |\[)-[a-zA-Z]\b' |
        tr -d ' [' || true
    } | sort -u | words)
    echo "_ccrfs_options[$c]='$opts --help'"
    # "usage: ccrfs C SUB ..." and "       ccrfs C SUB [SUBSUB] ...": lower-case words only.
    subs=$(printf '%s\n' "$help" | awk -v c="$c" '
      { sub(/^usage: /, ""); sub(/^ +/, "") }
      $1 == "ccrfs" && $2 == c && $3 ~ /^[a-z][a-z0-9-]*$/ {
        if (!seen[$3]++) top = top " " $3
        if ($4 ~ /^[a-z][a-z0-9-]*$/ && !seen2[$3, $4]++) nested[$3] = nested[$3] " " $4
      }
      END {
        if (top != "") print c "\t" substr(top, 2)
        for (s in nested) print c " " s "\t" substr(nested[s], 2)
      }')
    printf '%s\n' "$subs" | while IFS='	' read -r key list; do
      if [ -n "$key" ]; then echo "_ccrfs_subcommands[$key]='$list'"; fi
    done
  done
  # The -o names of 'ccrfs mount': name= and the bare flags.
  mopts=$("$ccrfs" mount --help | awk '/^  -o OPTS/ {on = 1; next} on && !/^     / {on = 0} on' |
    grep -E -o '\b[a-z_]+=|\b(allow_other|noallow_other|governance_optional)\b' | sort -u | words)
  echo "_ccrfs_mount_o='$mopts'"
  cat <<'FUNC'

_ccrfs() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmd=${COMP_WORDS[1]} key i w

    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        mapfile -t COMPREPLY < <(compgen -W "$_ccrfs_commands --help --version" -- "$cur")
        return
    fi
    if [ "$cmd" = mount ] && [ "$prev" = -o ]; then
        compopt -o nospace 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -W "$_ccrfs_mount_o" -- "${cur##*,}")
        [ "$cur" = "${cur%,*}" ] || COMPREPLY=("${COMPREPLY[@]/#/${cur%,*},}")
        return
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${_ccrfs_options[$cmd]:-}" -- "$cur")
        return
    fi
    # The subcommand chain so far: "gov", "gov contract", ...
    key=$cmd
    for ((i = 2; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [ -n "${_ccrfs_subcommands[$key]:-}" ] && [[ " ${_ccrfs_subcommands[$key]} " == *" $w "* ]]; then
            key="$key $w"
        else
            break
        fi
    done
    if [ "$i" -eq "$COMP_CWORD" ] && [ -n "${_ccrfs_subcommands[$key]:-}" ]; then
        mapfile -t COMPREPLY < <(compgen -W "${_ccrfs_subcommands[$key]}" -- "$cur")
        return
    fi
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -F _ccrfs ccrfs
FUNC
} >"$tmp"
mv "$tmp" "$out"
