#!/usr/bin/env bash
# Module dependencies point one way:
#   cli -> launch -> governance -> fs -> keys -> format -> fetch -> net -> common
# A file may include headers of its own module or of modules to its right; an include that points
# back up (fetch/ including format/, fs/ including governance/, ...) fails this check. tests/ and
# bench/ may include anything. The fs core must not see FUSE: only fs/fuse_*.c, fs/mount.c and
# fs/internal-to-adapter headers include <fuse_lowlevel.h>.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A rank=([common]=0 [net]=1 [fetch]=2 [format]=3 [keys]=4 [fs]=5 [governance]=6 [launch]=7 [cli]=8)
bad=0
while IFS= read -r file; do
  module=${file%%/*}
  [[ -n "${rank[$module]:-}" ]] || continue
  while IFS= read -r dep; do
    if [[ -z "${rank[$dep]:-}" ]]; then
      echo "check-includes: $file includes \"$dep/...\": not a module of this project" >&2
      bad=1
    elif ((rank[$dep] > rank[$module])); then
      echo "check-includes: $file includes \"$dep/...\": $module/ may not depend on $dep/ (dependencies point cli -> launch -> governance -> fs -> keys -> format -> fetch -> net -> common)" >&2
      bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([A-Za-z0-9_]*\)\/.*/\1/p' "$file" | sort -u)
done < <(git ls-files '*.c' '*.h')

# The filesystem core knows nothing of FUSE: only the adapters and the mount (which creates the
# FUSE session) include libfuse.
while IFS= read -r file; do
  case "$file" in
    fs/fuse_*|fs/mount.c|fs/adapter*.h) ;;
    *)
      echo "check-includes: $file includes libfuse; only the FUSE adapters (fs/fuse_*.c) and fs/mount.c may" >&2
      bad=1 ;;
  esac
done < <(git grep -l -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*<fuse' -- 'fs/*.c' 'fs/*.h' 'governance/*' 'launch/*' 'keys/*' 'format/*' 'fetch/*' 'net/*' 'common/*' || true)

if ((bad)); then
  exit 1
fi
echo "check-includes: module dependencies point one way"
