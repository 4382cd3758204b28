# shellcheck shell=bash
# Source trees for the tests and a stable listing to compare trees (sourced by harness.sh).

# make_tree DIR BS: a random tree with the awkward cases: nested and empty folders, empty
# files, spaces and UTF-8 in names, and sizes around the block size BS.
make_tree() {
  local dir=$1 bs=$2
  mkdir -p "$dir/nested/deeper/deepest" "$dir/empty folder" "$dir/données"
  : >"$dir/empty"
  head -c 1 /dev/urandom >"$dir/one"
  head -c $((bs - 1)) /dev/urandom >"$dir/nested/bs-minus-1"
  head -c "$bs" /dev/urandom >"$dir/nested/deeper/bs"
  head -c $((bs + 1)) /dev/urandom >"$dir/nested/deeper/deepest/bs plus 1"
  head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$dir/données/big ünïcode.bin"
  printf 'a,b\n1,2\n' >"$dir/données/table.csv"
  chmod 0600 "$dir/one"
  chmod 0750 "$dir/nested/deeper"
  touch -d '2021-02-03 04:05:06.123456789' "$dir/nested/bs-minus-1"
}

# tree_listing DIR: content and metadata in a stable form, for comparing two trees.
tree_listing() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %s %T@ %p\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

# mount_make_tree DIR: the shapes that matter to a mount: empty, one byte, block edges, several
# blocks, nested folders, a CSV and an SQLite database.
mount_make_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/empty_dir" "$d/data"
  : >"$d/empty"
  printf 'x' >"$d/one"
  head -c 65536 /dev/urandom >"$d/block_exact"
  head -c 65537 /dev/urandom >"$d/block_plus_one"
  head -c 3000000 /dev/urandom >"$d/sub/three_mb.bin"
  head -c 20000000 /dev/urandom >"$d/data/twenty_mb.bin"
  echo "hello from deeper" >"$d/sub/deeper/note.txt"
  chmod 0600 "$d/sub/deeper/note.txt"
  chmod 0750 "$d/sub"
  python3 - "$d/data/table.csv" <<'PY'
import csv, sys
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "name", "value"])
    for i in range(50000):
        w.writerow([i, "row%d" % i, i * 3])
PY
  sqlite3 "$d/data/db.sqlite" <<'SQL'
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, hex(randomblob(16)), x % 97 FROM c;
CREATE INDEX t_n ON t(n);
SQL
  touch -d '2021-03-04 05:06:07' "$d/one"
}
