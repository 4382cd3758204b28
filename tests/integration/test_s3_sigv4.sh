#!/usr/bin/env bash
# s3:// against a stand-in that recomputes every request's SigV4 signature with botocore (the
# AWS SDK for Python) and refuses a wrong one: push (multipart, payload hashes over plain
# http), verify, listing in pages with continuation tokens, a wrong secret refused with
# SignatureDoesNotMatch, 503 SlowDown answered with backoff, and credentials from each link of
# the chain: the environment, the shared credentials file with AWS_PROFILE, a web-identity
# token exchanged at STS, and instance metadata (IMDSv2).
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
. "$CCRFS_SRC/tests/integration/lib/s3.sh"
start_s3_standin data || skip_all "the S3 stand-in cannot run (see above)"
# Nothing of the machine's own AWS setup may leak in.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export AWS_CONFIG_FILE=$TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$TMP/aws-credentials AWS_EC2_METADATA_DISABLED=true
export CCRFS_S3_ENDPOINT=$S3SI_ENDPOINT AWS_REGION=eu-west-1
"$CCRFS" keygen -o "$TMP/dek" >/dev/null 2>&1
mkdir -p "$TMP/src/sub"
head -c 40000000 /dev/urandom >"$TMP/src/large.bin"
for i in $(seq 1 12); do head -c $((i * 700)) /dev/urandom >"$TMP/src/sub/f $i"; done
ID=$("$CCRFS" pack --key "$TMP/dek" "$TMP/src" "$TMP/ds" | tail -1)
nblobs=$(ls "$TMP/ds/blobs" | wc -l)

with_env_keys() { AWS_ACCESS_KEY_ID=$S3SI_AKID AWS_SECRET_ACCESS_KEY=$S3SI_SECRET "$@"; }

if out=$(with_env_keys "$CCRFS" push "$TMP/ds" s3://data/sets/one 2>&1) && [ "$(tail -1 <<<"$out")" = "$ID" ]; then
  pass "push with keys from the environment; every signature checked by botocore"
else
  fail "push: $out"
fi
check "the large blob went up as a multipart upload" grep -q "^sets/one/blobs/.* 5$" "$S3SI_DIR/multipart.log"
check "verify" with_env_keys "$CCRFS" verify --key "$TMP/dek" --id "$ID" s3://data/sets/one
out=$(CCRFS_S3_LIST_PAGE=3 with_env_keys "$CCRFS" push "$TMP/ds" s3://data/sets/one 2>&1)
if grep -q "0 objects uploaded" <<<"$out" && grep -q "$nblobs already there" <<<"$out" && grep -q continued "$S3SI_DIR/list.log"; then
  pass "push again lists in pages of 3 through continuation tokens and uploads nothing"
else
  fail "push again: $out"
fi

# CompleteMultipartUpload answering 200 with an <Error> body is retried; a refused part
# aborts the upload, and the push fails naming S3's error.
echo 1 >"$S3SI_DIR/complete-error"
check "a 200 carrying an Error from CompleteMultipartUpload is retried" \
  with_env_keys "$CCRFS" push "$TMP/ds" s3://data/sets/two
check "until the upload completes" grep -q "^sets/two/blobs/" "$S3SI_DIR/multipart.log"
echo 1 >"$S3SI_DIR/part-error"
out=$(with_env_keys "$CCRFS" push "$TMP/ds" s3://data/sets/three 2>&1)
check "a refused part fails the push, naming S3's error" grep -q "InvalidArgument\|Part number" <<<"$out"
check "and the multipart upload is aborted" grep -q "^sets/three/blobs/" "$S3SI_DIR/aborted.log"
check_fails "and no manifest was written" with_env_keys "$CCRFS" verify --key "$TMP/dek" s3://data/sets/three

# A wrong secret: S3's error is named, nothing changes, the secret is not printed.
WRONG="wrong-secret-$$-$RANDOM"
out=$(AWS_ACCESS_KEY_ID=$S3SI_AKID AWS_SECRET_ACCESS_KEY=$WRONG "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -q "SignatureDoesNotMatch" <<<"$out" && ! grep -qF "$WRONG" <<<"$out"; then
  pass "a wrong secret is refused with SignatureDoesNotMatch, and not printed"
else
  fail "wrong secret (exit $rc): $out"
fi
out=$(AWS_ACCESS_KEY_ID=$S3SI_AKID AWS_SECRET_ACCESS_KEY=$WRONG "$CCRFS" push "$TMP/ds" s3://data/sets/refused 2>&1)
check "a push with it fails" [ $? -eq 1 ]
check_fails "and uploads nothing" grep -q "sets/refused" "$S3SI_DIR/multipart.log"

# SlowDown: three 503 answers, then the reads go through.
echo 3 >"$S3SI_DIR/slowdown"
check "503 SlowDown is retried with backoff" with_env_keys "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one
check "all three were spent" [ "$(cat "$S3SI_DIR/slowdown")" = 0 ]
echo 1000 >"$S3SI_DIR/slowdown"
out=$(CCRFS_STORE_RETRY_BUDGET_MS=1500 with_env_keys "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
check "endless SlowDown gives up within the retry budget, naming it" grep -q "SlowDown" <<<"$out"
echo 0 >"$S3SI_DIR/slowdown"

# The shared credentials file, with a profile.
printf '[default]\naws_access_key_id = AKIDNOTTHISONE\naws_secret_access_key = nope\n\n[clean-room]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$S3SI_AKID" "$S3SI_SECRET" >"$AWS_SHARED_CREDENTIALS_FILE"
check "keys from the shared credentials file for AWS_PROFILE" \
  env AWS_PROFILE=clean-room "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one
out=$("$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
check "the default profile's keys are the ones used without it" grep -q "InvalidAccessKeyId" <<<"$out"
out=$(AWS_PROFILE=absent "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
check "an absent profile is named" grep -q "AWS_PROFILE absent" <<<"$out"
: >"$AWS_SHARED_CREDENTIALS_FILE"
printf '[profile cfg]\nregion = eu-west-1\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$S3SI_AKID" "$S3SI_SECRET" >"$AWS_CONFIG_FILE"
check "keys from the config file's profile" env AWS_PROFILE=cfg "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one

# Web identity: a token file and a role exchanged at STS for temporary keys and a session token.
echo "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2NyZnMifQ.c2lnbmF0dXJl" >"$S3SI_DIR/web-identity.jwt"
cp "$S3SI_DIR/web-identity.jwt" "$TMP/token"
check "web identity through STS (AssumeRoleWithWebIdentity)" \
  env AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ccrfs \
  AWS_ENDPOINT_URL_STS="$S3SI_ENDPOINT" "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one
echo "not-the-token" >"$TMP/bad-token"
out=$(AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/bad-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ccrfs \
  AWS_ENDPOINT_URL_STS="$S3SI_ENDPOINT" "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
check "a token STS refuses is named (InvalidIdentityToken)" grep -q "InvalidIdentityToken" <<<"$out"
check_fails "and not printed" grep -q "not-the-token" <<<"$out"

# Instance metadata (IMDSv2): a session token, the role, its temporary keys.
: >"$AWS_CONFIG_FILE"
check "instance metadata (IMDSv2) credentials" \
  env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$S3SI_ENDPOINT" \
  "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one
# Keys that expire within the renewal margin (10 minutes) are renewed before the next request.
echo 300 >"$S3SI_DIR/lifetime"
: >"$S3SI_DIR/issued.log"
check "short-lived instance metadata keys still read the dataset" \
  env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$S3SI_ENDPOINT" \
  "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one
issued=$(wc -l <"$S3SI_DIR/issued.log")
check "and are renewed before they expire ($issued keys issued)" [ "$issued" -gt 1 ]
# A renewal that fails while the keys in hand still hold keeps them, and says so.
echo 1 >"$S3SI_DIR/imds-budget"
check "a failed renewal keeps the keys that still hold" \
  env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$S3SI_ENDPOINT" CCRFS_STORE_RETRY_BUDGET_MS=500 \
  "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>"$TMP/renew.err"
check "and warns once, not on every request" [ "$(grep -c "renewing the instance metadata credentials failed" "$TMP/renew.err")" = 1 ]
rm -f "$S3SI_DIR/imds-budget"
echo 3600 >"$S3SI_DIR/lifetime"
out=$(env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(h_free_port)" \
  "$CCRFS" verify --key "$TMP/dek" s3://data/sets/one 2>&1)
check "with nothing anywhere, the places looked at are named" grep -q "no AWS credentials" <<<"$out"

# ETag pinning: an object changed under a mounted reader fails the read, never mixes bytes.
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  cp "$TMP/dek" "$TMP/key"
  export AWS_ACCESS_KEY_ID=$S3SI_AKID AWS_SECRET_ACCESS_KEY=$S3SI_SECRET
  MNT=$TMP/mnt
  mount_foreground s3://data/sets/one "$MNT" -o prefetch_max=1M,cache_size=4M 2>"$TMP/daemon.log"
  check "the dataset mounts from the stand-in" mount_is_mounted "$MNT"
  check "the first megabyte reads" cmp -s <(head -c 1000000 "$MNT/large.bin") <(head -c 1000000 "$TMP/src/large.bin")
  big=$(ls -S "$TMP/ds/blobs" | head -1)
  curl -s -X POST "$S3SI_ENDPOINT/_tamper/sets/one/blobs/$big" >/dev/null
  check_fails "after the blob changes in the bucket, a read of it fails" \
    dd if="$MNT/large.bin" of=/dev/null bs=1M skip=30 count=1 iflag=direct status=none
  check "the If-Match precondition is what failed (HTTP 412)" grep -q "412" "$TMP/daemon.log"
  check "the mount stays up" mount_is_mounted "$MNT"
  mount_stop "$MNT"
else
  skip "ETag pinning through a mount: needs root, /dev/fuse and fusermount3"
fi
finish
