#!/usr/bin/env bash
# A sink mount: `ccrfs mount -o mode=sink,recipient=PUB.pem STORE MNT` needs no dataset and no
# key; files written are uploaded when closed as one-file datasets at STORE/<path>/, sealed
# for the recipient; `ccrfs unpack --unwrap-key` gives the recipient the same bytes and
# anyone else a clear refusal and nothing; nothing is in the clear in the store or the
# overlay folder. (The on_upload refusal is tested through the library: test_fs_sink.)
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
mount_lib_init
require_cmd openssl

STORE=$TMP/outputs
MNT=$TMP/sink
OVL=$TMP/overlay
MARK="ccrfs-sink-marker-$$-$RANDOM"
mkdir -p "$STORE" "$OVL" "$MNT"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/recipient.pem" 2>/dev/null
openssl pkey -in "$TMP/recipient.pem" -pubout -out "$TMP/recipient.pub.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/intruder.pem" 2>/dev/null

# Bad input first: no recipient, a recipient that is not a public key.
check_fails "a sink mount without a recipient is refused" \
  "$CCRFS" mount -o mode=sink "$STORE" "$MNT"
"$CCRFS" mount -o "mode=sink,recipient=$TMP/recipient.pem.missing" "$STORE" "$MNT" 2>"$TMP/bad.err"
check "a missing recipient file is named" grep -q "recipient.pem.missing" "$TMP/bad.err"
check_fails "nothing was mounted" mount_is_mounted "$MNT"

h_track_mount "$MNT"
if ! "$CCRFS" mount -o "mode=sink,recipient=$TMP/recipient.pub.pem,overlay_dir=$OVL" "$STORE" "$MNT" \
  2>"$TMP/mount.err"; then
  fail "sink mount: $(cat "$TMP/mount.err")"
  finish
fi
check "the sink mount is live without a dataset or a key" mount_is_mounted "$MNT"
check "it starts empty" [ -z "$(ls -A "$MNT")" ]

# The app writes outputs: a model in a folder tree, a log written in pieces, an empty file.
mkdir -p "$MNT/model/epoch-3"
head -c 3000000 /dev/urandom >"$TMP/weights.bin"
printf '%s\n' "$MARK" >>"$TMP/weights.bin"
cp "$TMP/weights.bin" "$MNT/model/epoch-3/weights.bin"
python3 - "$MNT/train.log" "$MARK" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write("step %d loss %f %s\n" % (i, 1.0 / (i + 1), sys.argv[2]))
EOF
: >"$MNT/empty.out"

# Uploads happen at the last close; wait for the manifests (written last).
wait_for() {
  wait_until 10 test -e "$1"
}
check "the model is uploaded when closed" wait_for "$STORE/model/epoch-3/weights.bin/manifest.ccrfs"
check "the log is uploaded when closed" wait_for "$STORE/train.log/manifest.ccrfs"
check "an empty output is uploaded too" wait_for "$STORE/empty.out/manifest.ccrfs"
check "the wrapped key sits beside it" [ -s "$STORE/model/epoch-3/weights.bin/dek.wrapped.json" ]
check "the wrapped key is RSA-OAEP-256, as ccrfs wrap writes it" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["version"]==1 and d["alg"]=="RSA-OAEP-256" and d["wrapped_key"]' \
  "$STORE/train.log/dek.wrapped.json"
check "exactly one blob per output" [ "$(ls "$STORE/model/epoch-3/weights.bin/blobs" | wc -l)" = 1 ]
check "uploaded files stay readable on the mount" cmp -s "$TMP/weights.bin" "$MNT/model/epoch-3/weights.bin"
check "the mount counts its uploads" [ "$(mount_stat "$MNT" uploads)" = 3 ]
check "no upload failed" [ "$(mount_stat "$MNT" upload_failures)" = 0 ]
check_fails "the marker is not in the store in the clear" grep -rqa "$MARK" "$STORE"
check_fails "the marker is not in the overlay folder" grep -rqa "$MARK" "$OVL"
check "the overlay folder holds no named file" [ -z "$(ls -A "$OVL")" ]

mount_stop "$MNT"
check_fails "unmounted" mount_is_mounted "$MNT"
check "the overlay folder is empty after unmount" [ -z "$(ls -A "$OVL")" ]

# The recipient gets the bytes back; anyone else a refusal and nothing.
check "the recipient unpacks the model" \
  "$CCRFS" unpack --unwrap-key "$TMP/recipient.pem" "$STORE/model/epoch-3/weights.bin" "$TMP/got-model"
check "the model decrypts to the same bytes" cmp -s "$TMP/weights.bin" "$TMP/got-model/weights.bin"
check "the recipient verifies the log" \
  "$CCRFS" verify --unwrap-key "$TMP/recipient.pem" "$STORE/train.log"
check "the recipient unpacks the log" \
  "$CCRFS" unpack --unwrap-key "$TMP/recipient.pem" "$STORE/train.log" "$TMP/got-log"
check "the log has every line" [ "$(grep -c "$MARK" "$TMP/got-log/train.log")" = 2000 ]
check "the empty output unpacks empty" \
  bash -c "'$CCRFS' unpack --unwrap-key '$TMP/recipient.pem' '$STORE/empty.out' '$TMP/got-empty' && [ ! -s '$TMP/got-empty/empty.out' ]"
"$CCRFS" unpack --unwrap-key "$TMP/intruder.pem" "$STORE/train.log" "$TMP/stolen" 2>"$TMP/intruder.err"
rc=$?
check "another key is refused (exit 1)" [ "$rc" = 1 ]
check "the refusal says why" grep -q "not wrapped for the private key" "$TMP/intruder.err"
check "and writes nothing" [ ! -e "$TMP/stolen" ]
check_fails "another key cannot verify either" \
  "$CCRFS" verify --unwrap-key "$TMP/intruder.pem" "$STORE/train.log"
check_fails "a public key is no unwrap key" \
  "$CCRFS" unpack --unwrap-key "$TMP/recipient.pub.pem" "$STORE/train.log" "$TMP/stolen2"
check_fails "--unwrap-key with --key is a usage error" \
  "$CCRFS" unpack --unwrap-key "$TMP/recipient.pem" --key "$TMP/key" "$STORE/train.log" "$TMP/stolen3"

finish
