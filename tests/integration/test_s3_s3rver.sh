#!/usr/bin/env bash
# s3:// against s3rver on loopback with the AWS CLI as the independent client: a dataset pushed
# by ccrfs is listed and fetched by the AWS CLI and verifies and unpacks from the store; a
# dataset uploaded with the AWS CLI (multipart for its large file) mounts read-only and
# no-egress and reads back; a sink mount uploads its outputs; an unknown access key is refused
# with S3's error named; the secret never shows in /proc/mounts, command lines or logs.
# (s3rver does not check SigV4 signatures and cannot make continuation tokens here:
# test_s3_sigv4.sh covers both with a stand-in that checks every signature with botocore.)
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
. "$CCRFS_SRC/tests/integration/lib/s3.sh"
mount_lib_init
require_cmd aws
start_s3rver data || skip_all "s3rver is not available (see above)"
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=$TMP/none AWS_SHARED_CREDENTIALS_FILE=$TMP/none
# The secret must never be printed: a value that cannot appear by chance.
export AWS_SECRET_ACCESS_KEY="s3rver-accepts-any-secret-$$-$RANDOM"
SECRET=$AWS_SECRET_ACCESS_KEY
awss3() { aws --endpoint-url "$S3RVER_ENDPOINT" --region us-east-1 s3 "$@"; }

SRC=$TMP/src
mount_make_tree "$SRC"
head -c 40000000 /dev/urandom >"$SRC/data/large.bin" # above the single PUT limit: multipart
ID=$(mount_pack "$SRC" "$TMP/ds")

# ccrfs pushes (the endpoint as an option); the AWS CLI lists and fetches.
if out=$("$CCRFS" push --s3-endpoint "$S3RVER_ENDPOINT" "$TMP/ds" s3://data/one 2>&1) &&
  [ "$(tail -1 <<<"$out")" = "$ID" ]; then
  pass "push to s3rver"
else
  fail "push: $out"
fi
awss3 ls --recursive s3://data/one/ >"$TMP/aws.ls" 2>&1
check "the AWS CLI lists the manifest" grep -q " one/manifest.ccrfs$" "$TMP/aws.ls"
check "and every blob" [ "$(grep -c " one/blobs/" "$TMP/aws.ls")" = "$(ls "$TMP/ds/blobs" | wc -l)" ]
big=$(ls -S "$TMP/ds/blobs" | head -1)
awss3 cp --quiet "s3://data/one/blobs/$big" "$TMP/big.got" 2>"$TMP/aws.err"
check "the AWS CLI fetches the blob uploaded in parts, byte for byte" cmp -s "$TMP/big.got" "$TMP/ds/blobs/$big"
awss3 cp --quiet s3://data/one/manifest.ccrfs "$TMP/manifest.got" 2>>"$TMP/aws.err"
check "and the manifest" cmp -s "$TMP/manifest.got" "$TMP/ds/manifest.ccrfs"

check "verify from s3rver (--s3-endpoint)" "$CCRFS" verify --s3-endpoint "$S3RVER_ENDPOINT" --key "$TMP/key" \
  --id "$ID" s3://data/one
if "$CCRFS" unpack --s3-endpoint "$S3RVER_ENDPOINT" --key "$TMP/key" s3://data/one "$TMP/out-opt" >/dev/null \
  2>"$TMP/err" && diff -r "$SRC" "$TMP/out-opt" >/dev/null; then
  pass "unpack from s3rver with --s3-endpoint gives the same tree"
else
  fail "unpack --s3-endpoint: $(cat "$TMP/err")"
fi
export CCRFS_S3_ENDPOINT=$S3RVER_ENDPOINT
check "verify from s3rver" "$CCRFS" verify --key "$TMP/key" --id "$ID" s3://data/one
rm -rf "$TMP/out"
if "$CCRFS" unpack --key "$TMP/key" s3://data/one "$TMP/out" >/dev/null 2>"$TMP/err" && diff -r "$SRC" "$TMP/out" >/dev/null; then
  pass "unpack from s3rver gives the same tree"
else
  fail "unpack: $(cat "$TMP/err")"
fi
out=$("$CCRFS" push "$TMP/ds" s3://data/one 2>&1)
check "push again uploads nothing" grep -q "0 objects uploaded.*manifest already there" <<<"$out"

# The AWS CLI uploads a dataset; ccrfs mounts it.
unset CCRFS_S3_ENDPOINT
awss3 cp --quiet --recursive "$TMP/ds" s3://data/byaws 2>"$TMP/aws.err"
check "the AWS CLI uploads a dataset" [ -z "$(cat "$TMP/aws.err")" ]
MNT=$TMP/mnt
mount_start s3://data/byaws "$MNT" --s3-endpoint "$S3RVER_ENDPOINT" --s3-region us-east-1 \
  --dataset-id "$ID" 2>"$TMP/mount.err"
check "the dataset the AWS CLI uploaded mounts (read-only)" mount_is_mounted "$MNT"
same_tree() {
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/a.sums"
  (cd "$2" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TMP/b.sums"
  cmp -s "$TMP/a.sums" "$TMP/b.sums"
}
check "every file reads back as packed" same_tree "$SRC" "$MNT"
check "/proc/mounts names the bucket" grep -q "s3://data/byaws $MNT " /proc/mounts
check_fails "and holds no secret" grep -qF "$SECRET" /proc/mounts
pid=$(mount_daemon_pid "$MNT")
check_fails "nor does the daemon's command line" grep -qF "$SECRET" "/proc/$pid/cmdline"
mount_stop "$MNT"

mount_start s3://data/byaws "$MNT" --s3-endpoint "$S3RVER_ENDPOINT" -o mode=no-egress 2>"$TMP/mount.err"
check "a no-egress mount over s3://" mount_is_mounted "$MNT"
echo scratch >"$MNT/scratch.txt" 2>/dev/null
check "takes writes into its overlay" grep -q scratch "$MNT/scratch.txt"
check "and reads the dataset" cmp -s "$MNT/data/large.bin" "$SRC/data/large.bin"
mount_stop "$MNT"
awss3 ls --recursive s3://data/byaws/ >"$TMP/after.ls"
check_fails "nothing written in a no-egress mount reached the bucket" grep -q scratch "$TMP/after.ls"

# A sink mount uploads each closed file as a one-file dataset for the recipient.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/recipient.pem" 2>/dev/null
openssl pkey -in "$TMP/recipient.pem" -pubout -out "$TMP/recipient.pub.pem" 2>/dev/null
SINK=$TMP/sink
mkdir -p "$SINK"
h_track_mount "$SINK"
if "$CCRFS" mount --s3-endpoint "$S3RVER_ENDPOINT" -o "mode=sink,recipient=$TMP/recipient.pub.pem" \
  s3://data/outputs "$SINK" 2>"$TMP/sink.err"; then
  head -c 50000000 /dev/urandom >"$TMP/model.bin" # sealed, it is uploaded in parts
  cp "$TMP/model.bin" "$SINK/model.bin"
  echo "loss 0.1" >"$SINK/train.log"
  uploaded() { awss3 ls "s3://data/outputs/$1/manifest.ccrfs" >/dev/null 2>&1; }
  check "the sink uploads the model when closed" wait_until 30 uploaded model.bin
  check "and the log" wait_until 30 uploaded train.log
  rm -rf "$TMP/got"
  CCRFS_S3_ENDPOINT=$S3RVER_ENDPOINT "$CCRFS" unpack --unwrap-key "$TMP/recipient.pem" s3://data/outputs/model.bin \
    "$TMP/got" >/dev/null 2>"$TMP/unpack.err"
  check "the recipient unpacks the model from the bucket" cmp -s "$TMP/got/model.bin" "$TMP/model.bin"
  mount_stop "$SINK"
else
  fail "sink mount: $(cat "$TMP/sink.err")"
fi

# Refusals name S3's error and print no secret.
out=$(AWS_ACCESS_KEY_ID=NOSUCHKEY CCRFS_S3_ENDPOINT=$S3RVER_ENDPOINT "$CCRFS" verify --key "$TMP/key" s3://data/one 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -q "InvalidAccessKeyId" <<<"$out" && ! grep -qF "$SECRET" <<<"$out"; then
  pass "an unknown access key is refused with InvalidAccessKeyId"
else
  fail "unknown access key (exit $rc): $out"
fi
check_fails "no secret in any log of this test" grep -rqF "$SECRET" "$TMP" --include='*.err' --include='*.log'
finish
