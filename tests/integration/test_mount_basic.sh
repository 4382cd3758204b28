#!/usr/bin/env bash
# A dataset over the file store, mounted for real, read by unmodified programs: sha256sum,
# cp -r, tar, find, stat, python's csv module, sqlite3, getfattr, concurrent readers, another
# user; every change refused; mount.ccrfs and mount -t fuse.ccrfs.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
mount_make_tree "$SRC"
ID=$(mount_pack "$SRC" "$DS")
case "$ID" in sha256:*) pass "packed the source tree" ;; *) fail "pack printed no dataset id"; finish ;; esac

if ! mount_start "$DS" "$MNT" --dataset-id "$ID" -o uid=1000,gid=1000 2>"$TMP/mount.err"; then
  fail "mount: $(cat "$TMP/mount.err")"
  finish
fi
check "the command returns with the mount live" mount_is_mounted "$MNT"
check "the mount warns that the key was not released by attestation" grep -q "NOT released by attestation" "$TMP/mount.err"

# Every file's bytes.
same_hashes() {
  (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/src.sums"
  (cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/mnt.sums"
  cmp -s "$TMP/src.sums" "$TMP/mnt.sums"
}
check "sha256sum of every file equals the source" same_hashes

check "find lists the same paths" \
  cmp -s <(cd "$SRC" && find . | sort) <(cd "$MNT" && find . | sort)

stat_agrees() {
  local f s m
  while IFS= read -r f; do
    local fmt='%s %a %F %Y'
    [ -d "$SRC/$f" ] && fmt='%a %F %Y' # a folder's size means nothing portable
    s=$(stat -c "$fmt" "$SRC/$f") || return 1
    m=$(stat -c "$fmt" "$MNT/$f") || return 1
    if [ "$s" != "$m" ]; then
      echo "  $f: source '$s', mount '$m'"
      return 1
    fi
  done < <(cd "$SRC" && find . -mindepth 1)
}
check "stat: size, mode, type and mtime agree with the source" stat_agrees
check "files are owned by -o uid=,gid=" [ "$(stat -c '%u:%g' "$MNT/one")" = "1000:1000" ]
check "inode numbers are stable" [ "$(stat -c %i "$MNT/sub/three_mb.bin")" = "$(stat -c %i "$MNT/sub/three_mb.bin")" ]

check "cp -r copies the whole tree" bash -c "cp -r '$MNT' '$TMP/copy' && diff -r '$SRC' '$TMP/copy' >/dev/null"
check "tar -c of the tree extracts to the same files" \
  bash -c "mkdir '$TMP/untar' && tar -C '$MNT' -cf - . | tar -C '$TMP/untar' -xf - && diff -r '$SRC' '$TMP/untar' >/dev/null"

csv_sum() {
  python3 - "$1" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    print(sum(int(r["value"]) for r in csv.DictReader(f)))
EOF
}
check "python3's csv module reads the CSV" [ "$(csv_sum "$MNT/data/table.csv")" = "$(csv_sum "$SRC/data/table.csv")" ]

Q="SELECT count(*), sum(n) FROM t WHERE n = 42; SELECT v FROM t WHERE id IN (7, 99999, 199993) ORDER BY id;"
check "sqlite3 runs queries on the database on the mount" \
  [ "$(sqlite3 -readonly "$MNT/data/db.sqlite" "$Q" 2>&1)" = "$(sqlite3 -readonly "$SRC/data/db.sqlite" "$Q")" ]

# xattrs.
check "user.ccrfs.dataset_id" [ "$(getfattr --absolute-names --only-values -n user.ccrfs.dataset_id "$MNT/one")" = "$ID" ]
check "user.ccrfs.sha256 is the plaintext hash" \
  [ "$(getfattr --absolute-names --only-values -n user.ccrfs.sha256 "$MNT/sub/three_mb.bin")" = "$(sha256sum <"$SRC/sub/three_mb.bin" | cut -d' ' -f1)" ]
check "user.ccrfs.block_size" [ "$(getfattr --absolute-names --only-values -n user.ccrfs.block_size "$MNT/one")" = "65536" ]
check "user.ccrfs.blob names an object in the store" \
  test -f "$DS/blobs/$(getfattr --absolute-names --only-values -n user.ccrfs.blob "$MNT/one")"
check "getfattr --absolute-names -d lists the file attributes" bash -c "getfattr --absolute-names -d '$MNT/one' | grep -q user.ccrfs.sha256"
check "user.ccrfs.stats on the root is JSON with the counters" \
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["bytes_served"] > 0 and d["cache_misses"] > 0 and d["integrity_failures"] == 0 and "requests_in_flight" in d' \
  "$(getfattr --absolute-names --only-values -n user.ccrfs.stats "$MNT")"
check_fails "an unknown attribute is absent" getfattr -n user.nothing "$MNT/one"

# Read-only.
check_fails "writing a file is refused" bash -c "echo x >'$MNT/one'"
check_fails "creating a file is refused" touch "$MNT/new"
check_fails "mkdir is refused" mkdir "$MNT/newdir"
check_fails "rm is refused" rm -f "$MNT/one"
check_fails "mv is refused" mv "$MNT/one" "$MNT/two"
check_fails "chmod is refused" chmod 0777 "$MNT/one"
check_fails "setfattr is refused" setfattr -n user.x -v y "$MNT/one"
check "statfs answers" bash -c "df '$MNT' >/dev/null && stat -f -c %T '$MNT' >/dev/null"

# Permissions enforced by the kernel: files are 1000's.
check "uid 1000 reads its 0600 file" setpriv --reuid=1000 --regid=1000 --clear-groups cat "$MNT/sub/deeper/note.txt"
check_fails "uid 1001 cannot enter the 0750 folder" \
  setpriv --reuid=1001 --regid=1001 --clear-groups cat "$MNT/sub/deeper/note.txt"

# Concurrent readers, on the same file and on different files.
concurrent() {
  local i pids=() want
  want=$(sha256sum <"$SRC/data/twenty_mb.bin")
  for i in 1 2 3 4 5 6 7 8; do
    (sha256sum <"$MNT/data/twenty_mb.bin" >"$TMP/c.same.$i") &
    pids+=($!)
  done
  for i in 1 2 3 4 5 6 7 8; do
    (case $((i % 4)) in
       0) sha256sum <"$MNT/sub/three_mb.bin" ;;
       1) sha256sum <"$MNT/data/table.csv" ;;
       2) sha256sum <"$MNT/data/db.sqlite" ;;
       3) sha256sum <"$MNT/block_plus_one" ;;
     esac >"$TMP/c.diff.$i") &
    pids+=($!)
  done
  wait "${pids[@]}" || return 1
  for i in 1 2 3 4 5 6 7 8; do
    [ "$(cat "$TMP/c.same.$i")" = "$want" ] || return 1
  done
  [ "$(cat "$TMP/c.diff.1")" = "$(sha256sum <"$SRC/data/table.csv")" ] &&
    [ "$(cat "$TMP/c.diff.2")" = "$(sha256sum <"$SRC/data/db.sqlite")" ] &&
    [ "$(cat "$TMP/c.diff.3")" = "$(sha256sum <"$SRC/block_plus_one")" ] &&
    [ "$(cat "$TMP/c.diff.4")" = "$(sha256sum <"$SRC/sub/three_mb.bin")" ]
}
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
check "8 concurrent readers of one file and 8 of different files" concurrent

check "fusermount3 -u unmounts" fusermount3 -u "$MNT"
wait_until 5 mount_gone "$MNT"
check_fails "no mount is left" mount_is_mounted "$MNT"
check_fails "the daemon has exited" mount_daemon_pid "$MNT"

# Lazy: opening a file and reading a little fetches only that.
mount_start "$DS" "$MNT" -o cache_size=16M 2>/dev/null
head -c 4096 "$MNT/data/twenty_mb.bin" >/dev/null
fetched=$(mount_stat "$MNT" bytes_fetched)
check "reading 4 KiB of a 20 MB file fetches little ($fetched bytes)" [ "$fetched" -lt 2000000 ]
mount_stop "$MNT"

# No fetch-ahead and the smallest cache (64 blocks): concurrent 1 MiB reads run out of cache
# slots and decrypt into their own buffers.
mount_start "$DS" "$MNT" -o fetch_workers=0,cache_size=1M 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
check "without fetch-ahead, with a tiny cache: every hash still matches" same_hashes
check "and 16 concurrent readers still read the right bytes" concurrent
mount_stop "$MNT"

# The smallest and the largest block sizes.
for bs in 4K 1M; do
  mount_pack "$SRC" "$TMP/ds_$bs" --block-size "$bs" >/dev/null
  mount_start "$TMP/ds_$bs" "$MNT" 2>/dev/null
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  check "blocks of $bs: every hash matches" same_hashes
  check "blocks of $bs: user.ccrfs.block_size says so" \
    [ "$(getfattr --absolute-names --only-values -n user.ccrfs.block_size "$MNT/one")" = "$(numfmt --from=iec "$bs")" ]
  check "blocks of $bs: sqlite3 queries" \
    [ "$(sqlite3 -readonly "$MNT/data/db.sqlite" "$Q" 2>&1)" = "$(sqlite3 -readonly "$SRC/data/db.sqlite" "$Q")" ]
  mount_stop "$MNT"
done

# As a mount helper: mount.ccrfs SOURCE DIR -o opts, and mount -t fuse.ccrfs via mount.fuse3.
mkdir -p "$TMP/bin"
ln -s "$CCRFS" "$TMP/bin/mount.ccrfs"
ln -s "$CCRFS" "$TMP/bin/ccrfs"
if "$TMP/bin/mount.ccrfs" "$DS" "$MNT" -o "rw,nosuid,key_file=$TMP/key,dataset_id=$ID" 2>"$TMP/helper.err"; then
  check "mount.ccrfs SOURCE DIR -o key_file=... mounts" cmp -s "$MNT/one" "$SRC/one"
else
  fail "mount.ccrfs SOURCE DIR -o key_file=...: $(cat "$TMP/helper.err")"
fi
mount_stop "$MNT"
# mount(8) runs mount.fuse3 with a fixed PATH: with ccrfs installed that is
# "mount -t fuse.ccrfs SOURCE DIR"; from the build tree, the same helper is reached with the
# "PROGRAM#SOURCE" form mount.fuse3 also accepts.
if [ -x /sbin/mount.fuse3 ] || [ -x /sbin/mount.fuse ]; then
  if command -v ccrfs >/dev/null && [ "$(readlink -f "$(command -v ccrfs)")" = "$(readlink -f "$CCRFS")" ]; then
    mount_t=(mount -t fuse.ccrfs "$DS" "$MNT")
  else
    mount_t=(mount -t fuse "$TMP/bin/ccrfs#$DS" "$MNT")
  fi
  if "${mount_t[@]}" -o "key_file=$TMP/key" 2>"$TMP/mountt.err"; then
    check "${mount_t[*]:0:3} mounts" cmp -s "$MNT/sub/three_mb.bin" "$SRC/sub/three_mb.bin"
  else
    fail "${mount_t[*]:0:3}: $(cat "$TMP/mountt.err")"
  fi
  mount_stop "$MNT"
fi
check_fails "mount.ccrfs without a key source refuses" "$TMP/bin/mount.ccrfs" "$DS" "$MNT" -o ro
check_fails "and leaves no mount" mount_is_mounted "$MNT"

finish
