#!/usr/bin/env bash
# The mount over HTTP from nginx on loopback: small files cost one request each, also when a
# folder read in order is fetched ahead; every file's hash, and the store stopped in the
# middle of reading then started again: reads fail with EIO while it is down, the mount stays
# up, and reading recovers once it is back.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init

SRC=$TMP/src
DS=$TMP/ds
MNT=$TMP/mnt
mount_make_tree "$SRC"
head -c 60000000 /dev/urandom >"$SRC/data/sixty_mb.bin"
mkdir -p "$SRC/small"
for i in $(seq 1 20); do head -c $((100 + i * 37)) /dev/urandom >"$SRC/small/f$i"; done
# A folder read in name order (cat of its files): fetch-ahead takes the next files ahead of
# the reader.
mkdir -p "$SRC/ordered"
for i in $(seq -w 1 20); do head -c $((200 + 10#$i * 411)) /dev/urandom >"$SRC/ordered/o$i"; done
ID=$(mount_pack "$SRC" "$DS")
chmod -R a+rX "$TMP"
start_nginx "$TMP"
case $? in 0) ;; 77) skip_all "nginx is not installed" ;; *) fail "nginx would not start"; finish ;; esac
URL="http://127.0.0.1:$NGINX_PORT/ds"
check "the dataset verifies over http" "$CCRFS" verify --key "$TMP/key" "$URL"

# Short retries so a stopped store turns into EIO quickly.
export CCRFS_STORE_RETRY_BUDGET_MS=1500 CCRFS_STORE_CONNECT_TIMEOUT_MS=500
# A small fetch-ahead, so that reading far into a file must ask the store.
mount_foreground "$URL" "$MNT" --dataset-id "$ID" -o prefetch_max=4M,cache_size=16M 2>"$TMP/daemon.log"
check "mounted over http" mount_is_mounted "$MNT"
# A small file costs one store request: its whole blob, header and blocks in one ranged GET
# (which also gives the blob's size through Content-Range, so no HEAD).
before=$(mount_stat "$MNT" store_requests)
for i in $(seq 1 20); do cat "$MNT/small/f$i" >/dev/null; done
after=$(mount_stat "$MNT" store_requests)
check "20 small files read with $((after - before)) store requests (one each)" [ $((after - before)) -le 20 ]
# In directory order, one process: the files after the first few are fetched ahead by the
# workers, several at once, and none is fetched twice.
before=$(mount_stat "$MNT" store_requests)
used0=$(mount_stat "$MNT" ahead_files_used)
check "a folder read in order with cat is intact" \
  cmp -s <(cat "$MNT"/ordered/o*) <(cat "$SRC"/ordered/o*)
after=$(mount_stat "$MNT" store_requests)
used=$(( $(mount_stat "$MNT" ahead_files_used) - used0 ))
check "20 files read in order with $((after - before)) store requests (none twice)" [ $((after - before)) -le 20 ]
check "opens found $used files fetched ahead" [ "$used" -gt 0 ]
check "the stats count files queued ahead" [ "$(mount_stat "$MNT" ahead_files_queued)" -gt 0 ]
same_hashes() {
  (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/src.sums"
  (cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/mnt.sums"
  cmp -s "$TMP/src.sums" "$TMP/mnt.sums"
}
check "sha256sum of every file over nginx equals the source" same_hashes
check "sqlite3 over nginx" [ "$(sqlite3 -readonly "$MNT/data/db.sqlite" "SELECT count(*) FROM t WHERE n = 5")" = \
  "$(sqlite3 -readonly "$SRC/data/db.sqlite" "SELECT count(*) FROM t WHERE n = 5")" ]
requests=$(mount_stat "$MNT" store_requests)
check "the stats count store requests ($requests)" [ "${requests:-0}" -gt 0 ]

# Stop the store in the middle of a file.
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
exec 7<"$MNT/data/sixty_mb.bin"
check "the first 8 MB read while the store is up" \
  cmp -s <(head -c 8000000 <&7) <(head -c 8000000 "$SRC/data/sixty_mb.bin")
stop_nginx
# Far beyond anything fetched ahead: the store must be asked, and is not there.
check_fails "a read while the store is down fails" dd if="$MNT/data/sixty_mb.bin" bs=1M skip=50 count=1 iflag=direct status=none
check "with EIO" bash -c "dd if='$MNT/data/sixty_mb.bin' bs=1M skip=51 count=1 iflag=direct status=none 2>&1 >/dev/null | grep -q 'Input/output error'"
check "the mount stays up" mount_is_mounted "$MNT"
check "blocks just read are still served from the block cache" \
  cmp -s <(dd if="$MNT/data/sixty_mb.bin" bs=1M skip=7 count=1 iflag=direct status=none) \
  <(dd if="$SRC/data/sixty_mb.bin" bs=1M skip=7 count=1 status=none)
restart_nginx
check "the store is back" curl -sf -o /dev/null "$URL/manifest.ccrfs"
check "the reader holding the file open reads the rest correctly" \
  cmp -s <(cat <&7) <(tail -c +8000001 "$SRC/data/sixty_mb.bin")
exec 7<&-
check "the blocks that failed read correctly now" \
  cmp -s <(dd if="$MNT/data/sixty_mb.bin" bs=1M skip=50 count=2 iflag=direct status=none) \
  <(dd if="$SRC/data/sixty_mb.bin" bs=1M skip=50 count=2 status=none)
errors=$(mount_stat "$MNT" store_errors)
check "store errors were counted ($errors)" [ "${errors:-0}" -gt 0 ]
check "and no integrity failure" [ "$(mount_stat "$MNT" integrity_failures)" = 0 ]
mount_stop "$MNT"
wait "$FG_PID"

# An unreachable store refuses the mount once its retries are spent, and leaves nothing.
closed=$(h_free_port)
check_fails "a store nobody answers refuses to mount" \
  "$CCRFS" mount --key "$TMP/key" "http://127.0.0.1:$closed/ds" "$MNT" 2>"$TMP/unreach.err"
check "saying it could not connect" grep -qi "connect" "$TMP/unreach.err"
check_fails "and leaves no mount" mount_is_mounted "$MNT"

finish
