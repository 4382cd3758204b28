#!/usr/bin/env bash
# A no-egress mount used by unmodified programs: sqlite3 (a new database beside the data, and
# the dataset's own database modified in place and as a copy), python3 writing and renaming,
# unlink, rmdir, truncate, mkdir, chmod; dataset inode numbers stable; nothing written reaches
# the store or the overlay folder in the clear, the overlay is gone after unmount, and the
# dataset is unchanged. A read-only mount still refuses every change with EROFS.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd sqlite3

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
OVL=$TMP/overlay
MARK="ccrfs-noegress-marker-$$-$RANDOM"
mkdir -p "$OVL"
mount_make_tree "$SRC"
ID=$(mount_pack "$SRC" "$DS")
case "$ID" in sha256:*) pass "packed the source tree" ;; *) fail "pack printed no dataset id"; finish ;; esac
ORIG_ROWS=$(sqlite3 "$SRC/data/db.sqlite" "SELECT count(*) FROM t")

if ! mount_start "$DS" "$MNT" --dataset-id "$ID" -o "mode=no-egress,overlay_dir=$OVL,uid=1000,gid=1000" 2>"$TMP/mount.err"; then
  fail "mount: $(cat "$TMP/mount.err")"
  finish
fi
check "the no-egress mount is live" mount_is_mounted "$MNT"
check "the mount is read-write" bash -c "grep ' $MNT fuse.ccrfs ' /proc/self/mounts | grep -q ' rw,'"
INO_CSV=$(stat -c %i "$MNT/data/table.csv")
INO_NOTE=$(stat -c %i "$MNT/sub/deeper/note.txt")
check "dataset files read as before" cmp -s "$SRC/sub/three_mb.bin" "$MNT/sub/three_mb.bin"

# sqlite3: a new database beside the data; its rollback journal appears during a transaction
# and goes at commit.
sqlite3 "$MNT/data/new.db" >"$TMP/sql1.out" 2>&1 <<EOF
PRAGMA journal_mode=DELETE;
CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
BEGIN;
INSERT INTO notes(body) VALUES ('$MARK one'), ('$MARK two');
.system ls $MNT/data > $TMP/during.ls
COMMIT;
EOF
check "sqlite3 creates a table in a new database on the mount" \
  [ "$(sqlite3 "$MNT/data/new.db" "SELECT count(*) FROM notes WHERE body LIKE '$MARK%'")" = 2 ]
check "the journal exists during the transaction" grep -qx "new.db-journal" "$TMP/during.ls"
check "the journal is gone after commit" [ ! -e "$MNT/data/new.db-journal" ]

# The dataset's own database, opened read-write in place and modified.
sqlite3 "$MNT/data/db.sqlite" "INSERT INTO t(id, v, n) VALUES (900001, '$MARK in place', 1); UPDATE t SET v = 'changed' WHERE id = 5;" 2>"$TMP/sql2.err"
check "the dataset database takes an insert in place" \
  [ "$(sqlite3 "$MNT/data/db.sqlite" "SELECT count(*) FROM t")" = $((ORIG_ROWS + 1)) ]
check "queries see the new and updated rows" \
  [ "$(sqlite3 "$MNT/data/db.sqlite" "SELECT v FROM t WHERE id = 900001; SELECT v FROM t WHERE id = 5;" | tr '\n' ' ')" = "$MARK in place changed " ]
check "the index still answers" [ "$(sqlite3 "$MNT/data/db.sqlite" "PRAGMA integrity_check")" = ok ]
check "no journal is left beside the dataset database" [ ! -e "$MNT/data/db.sqlite-journal" ]
# A WAL-mode copy of it on the mount.
cp "$MNT/data/db.sqlite" "$MNT/data/copy.sqlite"
sqlite3 "$MNT/data/copy.sqlite" "PRAGMA journal_mode=WAL; INSERT INTO t(id, v, n) VALUES (900002, '$MARK copy', 2);" >/dev/null 2>&1
check "a copy of the database in WAL mode takes a write" \
  [ "$(sqlite3 "$MNT/data/copy.sqlite" "SELECT count(*) FROM t WHERE id >= 900001")" = 2 ]

# python3: write, rename over a dataset file (the atomic-save pattern), rename a dataset file.
python3 - "$MNT" "$MARK" >"$TMP/py.out" 2>&1 <<'EOF'
import os, sys
mnt, mark = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(mnt, "out", "run1"))
p = os.path.join(mnt, "out", "run1", "result.txt")
with open(p, "w") as f:
    f.write(mark + " result\n" * 1000)
tmp = os.path.join(mnt, "data", "table.csv.tmp")
with open(tmp, "w") as f:
    f.write("id,name,value\n0," + mark + ",0\n")
os.replace(tmp, os.path.join(mnt, "data", "table.csv"))
os.rename(os.path.join(mnt, "sub", "deeper", "note.txt"), os.path.join(mnt, "note-moved.txt"))
with open(os.path.join(mnt, "one"), "r+b") as f:
    f.seek(0, 2)
    f.write(b"appended")
print("ok")
EOF
check "python3 writes, renames and appends" grep -qx ok "$TMP/py.out"
check "a written file reads back" [ "$(head -c ${#MARK} "$MNT/out/run1/result.txt")" = "$MARK" ]
check "a file renamed over a dataset file shows the new bytes" grep -q "$MARK" "$MNT/data/table.csv"
check "the temporary name is gone" [ ! -e "$MNT/data/table.csv.tmp" ]
check "a renamed dataset file keeps its bytes" cmp -s "$SRC/sub/deeper/note.txt" "$MNT/note-moved.txt"
check "a renamed dataset file keeps its inode number" [ "$(stat -c %i "$MNT/note-moved.txt")" = "$INO_NOTE" ]
check "the old name is gone" [ ! -e "$MNT/sub/deeper/note.txt" ]
check "the replaced file got a new inode number" [ "$(stat -c %i "$MNT/data/table.csv")" != "$INO_CSV" ]
check "appending to a dataset file" [ "$(cat "$MNT/one")" = "xappended" ]

# unlink, rmdir, truncate, mkdir, chmod, touch.
check "unlink a dataset file" rm "$MNT/block_exact"
check "it is gone" [ ! -e "$MNT/block_exact" ]
check_fails "rmdir of a non-empty folder fails" rmdir "$MNT/sub"
check "rmdir an empty dataset folder" rmdir "$MNT/empty_dir"
check "rmdir a folder emptied on the mount" rmdir "$MNT/sub/deeper"
check "truncate a dataset file" truncate -s 1000 "$MNT/sub/three_mb.bin"
check "its size is the new one" [ "$(stat -c %s "$MNT/sub/three_mb.bin")" = 1000 ]
check "its first bytes are the dataset's" cmp -s <(head -c 1000 "$SRC/sub/three_mb.bin") "$MNT/sub/three_mb.bin"
check "mkdir -p" mkdir -p "$MNT/a/b/c"
check "chmod" chmod 0600 "$MNT/block_plus_one"
check "the mode changed" [ "$(stat -c %a "$MNT/block_plus_one")" = 600 ]
check "touch -d sets the mtime" touch -d '2020-01-02 03:04:05' "$MNT/a/b/c"
check "the mtime changed" [ "$(stat -c %Y "$MNT/a/b/c")" = "$(date -d '2020-01-02 03:04:05' +%s)" ]
check "ls lists new and remaining entries" bash -c "ls '$MNT' | grep -qx note-moved.txt && ls '$MNT' | grep -qx out && ! ls '$MNT' | grep -qx block_exact"
if command -v setpriv >/dev/null; then
  as_app() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
  check "the app's user (uid 1000) creates, renames and reads" \
    as_app bash -c "echo '$MARK app' > '$MNT/app.txt' && mkdir '$MNT/appdir' && mv '$MNT/app.txt' '$MNT/appdir/' && grep -q app '$MNT/appdir/app.txt'"
  check "its files are its own" [ "$(stat -c %u:%g "$MNT/appdir/app.txt")" = 1000:1000 ]
  check "the app's user writes to the dataset database" \
    as_app sqlite3 "$MNT/data/db.sqlite" "INSERT INTO t(id, v, n) VALUES (900003, 'app', 3)"
fi
check_fails "hard links are refused" ln "$MNT/one" "$MNT/one-link"
check "untouched dataset files still read as before" cmp -s "$SRC/data/twenty_mb.bin" "$MNT/data/twenty_mb.bin"
check "an untouched file keeps its dataset hash" \
  [ "$(getfattr --only-values -n user.ccrfs.sha256 "$MNT/data/twenty_mb.bin" 2>/dev/null)" = "$(sha256sum <"$SRC/data/twenty_mb.bin" | cut -d' ' -f1)" ]
check_fails "a written dataset file no longer claims the dataset hash" \
  getfattr --only-values -n user.ccrfs.sha256 "$MNT/one"
check "getfattr still shows the dataset id" [ "$(getfattr --only-values -n user.ccrfs.dataset_id "$MNT" 2>/dev/null)" = "$ID" ]
check "the mount counts written bytes" [ "$(mount_stat "$MNT" bytes_written)" -gt 0 ]

# Nothing written is in the clear anywhere on disk: not in the store, not in the overlay
# folder (whose backing file has no name at all).
check_fails "the marker is not in the store" grep -rqa "$MARK" "$DS"
check_fails "the marker is not in the overlay folder" grep -rqa "$MARK" "$OVL"
check "the overlay folder holds no named file" [ -z "$(ls -A "$OVL")" ]
check_fails "the marker is not in /var/tmp" grep -rqa "$MARK" /var/tmp

mount_stop "$MNT"
check_fails "unmounted" mount_is_mounted "$MNT"
check "the overlay folder is empty after unmount" [ -z "$(ls -A "$OVL")" ]
check_fails "the marker is nowhere in the scratch folder" grep -rqa "$MARK" "$TMP" --exclude='*.out' --exclude='*.ls' --exclude='*.err'
check "the dataset verifies, unchanged" "$CCRFS" verify --key "$TMP/key" --id "$ID" "$DS"

# Mounted again, the dataset is as packed: nothing written survived.
if mount_start "$DS" "$MNT" --dataset-id "$ID" 2>"$TMP/mount2.err"; then
  same_hashes() {
    (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/src.sums"
    (cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/mnt.sums"
    cmp -s "$TMP/src.sums" "$TMP/mnt.sums"
  }
  check "remounted, every file equals the source" same_hashes
  check "nothing written survived" [ ! -e "$MNT/data/new.db" ]
  # Read-only (the default) refuses every change, as before.
  erofs() {
    local out
    out=$("$@" 2>&1) && return 1
    case "$out" in *"Read-only file system"*) return 0 ;; *) echo "  $out"; return 1 ;; esac
  }
  check "read-only: create fails with EROFS" erofs touch "$MNT/new"
  check "read-only: write fails with EROFS" erofs bash -c "echo x >> '$MNT/one'"
  check "read-only: unlink fails with EROFS" erofs rm -f "$MNT/one"
  check "read-only: mkdir fails with EROFS" erofs mkdir "$MNT/d"
  check "read-only: rename fails with EROFS" erofs mv "$MNT/one" "$MNT/two"
  check "read-only: chmod fails with EROFS" erofs chmod 0600 "$MNT/one"
  check "read-only: truncate fails with EROFS" erofs truncate -s 0 "$MNT/one"
  check_fails "read-only: sqlite3 cannot write" sqlite3 "$MNT/data/db.sqlite" "INSERT INTO t(id, v, n) VALUES (1000000, 'x', 1)"
  mount_stop "$MNT"
else
  fail "remount: $(cat "$TMP/mount2.err")"
fi

finish
