#!/usr/bin/env bash
# The broker gates key release on the contract (issue 13, finding 1). A broker started with
# --governance releases a key only to evidence whose init-data names an active contract that
# grants the dataset in that mode with a use left, and counts the release there. The attack:
# the provider revokes the contract; the same mount command without --governance/--contract
# still got the key. Now it gets none, and neither does any guest without init-data.
set -uo pipefail
. "$CCRFS_SRC/tests/integration/lib/harness.sh"

kbs_setup_common || { fail "setup: sim-init, keygen or pack"; finish; }
kbs_policy_for_build >"$TMP/policy.json"
gov_start || { fail "the governance service did not start"; finish; }
DS="sha256:$(sha256sum "$TMP/ds/manifest.ccrfs" | cut -d' ' -f1)"
gov_contract gate "$DS" max_mounts=1
check "contract gate proposed and signed by both parties" gov_register gate

if ! kbs_start gated --trust-sim-root "$TMP/sim" --governance "$GOV_URL" --governance-token-file "$TMP/gov.token"; then
  fail "a broker with --governance did not start"
  finish
fi
GATED=$KBS_URL
GATED_PID=$KBS_PID
"$CCRFS" kbs put --url "$GATED" --token-file "$TMP/token" --resource hosp/dek/v1 --policy "$TMP/policy.json" \
  --value-file "$TMP/dek.key" >/dev/null || fail "admin put on the gated broker"
check "the broker says it gates releases on governance" \
  sh -c "curl -sf '$GATED/ccrfs/v0/gate' | grep -q '\"governance\":true'"
grep -q "every release is gated on the contract" "$TMP/gated.log" && pass "the broker logs that it gates" ||
  fail "no gate line in the broker log"

MP=$TMP/mnt
mkdir -p "$MP"
h_track_mount "$MP"

# The first finding: after revocation, the attacker's mount (no --governance, no --contract).
gov_revoke gate
expect_fail "revoked contract: the mount without --governance/--contract gets no key" \
  "no key|contract gate refused|no init-data" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim" "$TMP/ds" "$MP"
h_is_mounted "$MP" && fail "the dataset was mounted" || pass "nothing is mounted"
expect_fail "the same through verify --kbs" "contract gate refused hosp/dek/v1" \
  "$CCRFS" verify --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim" "$TMP/ds"
grep -q "release refused: resource=hosp/dek/v1 reason=contract gate: the evidence carries no init-data" \
  "$TMP/gated.log" && pass "the broker logs the refusal with its reason" || fail "no refusal line in the broker log"
grep -q "released: resource=hosp/dek/v1" "$TMP/gated.log" && fail "the broker released the key" ||
  pass "the broker released nothing"

# An ungated broker (no --governance) says so; a mount then counts its own use.
kbs_start plain --trust-sim-root "$TMP/sim" || fail "a broker without --governance did not start"
check "a broker without --governance says it does not gate" \
  sh -c "curl -sf '$KBS_URL/ccrfs/v0/gate' | grep -q '\"governance\":false'"
expect_fail "--governance-token-file without --governance is a usage error" "go with --governance" \
  timeout 10 "$CCRFS" kbs serve --state "$TMP/unused.state" --admin-token-file "$TMP/token" --governance-token-file "$TMP/gov.token"
expect_fail "a malformed --resource-dataset is refused" "expected REPO/TYPE/TAG=sha256" \
  timeout 10 "$CCRFS" kbs serve --state "$TMP/unused.state" --admin-token-file "$TMP/token" --governance "$GOV_URL" \
  --resource-dataset hosp/dek/v1
kbs_stop
KBS_PID=$GATED_PID

# Releases to guests launched with init-data: they need `ccrfs mount --init-data`.
if ! "$CCRFS" mount --help 2>&1 | grep -q -- "--init-data"; then
  skip "releases under init-data (active, budget spent, unlisted dataset, wrong mode, governance down): this build's mount has no --init-data (covered in-process by unit/test_broker_gate)"
  finish
fi

# init_data NAME CONTRACT MODE DATASET: $TMP/NAME.toml naming them, and a simulated guest
# $TMP/sim-NAME launched with it (HOST_DATA = its SHA-256).
init_data() {
  local name=$1 contract=$2 mode=$3 ds=$4
  cat >"$TMP/$name.toml" <<TOML
version = "0.1.0"
algorithm = "sha256"
[data]
"ccrfs.json" = '''{"governance":"$GOV_URL","governanceApi":"ccrfs","contract":"$contract","datasets":[{"id":"$ds","mode":"$mode"}],"broker":"$GATED","resources":["hosp/dek/v1"]}'''
TOML
  "$CCRFS" attest sim-init "$TMP/sim-$name" --host-data "$(sha256sum "$TMP/$name.toml" | cut -d' ' -f1)" >/dev/null
}
for n in live other mode; do init_data "$n" "$n" read-only "$DS"; done
# Each guest has its own simulated root; the broker trusts one: restart it per guest.
gated_for() {
  kbs_stop
  kbs_start gated --trust-sim-root "$TMP/sim-$1" --governance "$GOV_URL" --governance-token-file "$TMP/gov.token"
  GATED=$KBS_URL
}
gov_contract live "$DS" max_mounts=1
gov_register live
gated_for live
check "an active contract: the mount with init-data gets its key" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim-live" --init-data "$TMP/live.toml" \
  "$TMP/ds" "$MP"
check "it serves" cmp -s "$MP/data.bin" "$TMP/src/data.bin"
mount_stop "$MP"
check "one use is counted, by the broker" sh -c "curl -sf -H 'Authorization: Bearer $CCRFS_GOV_TOKEN' \
  '$GOV_URL/contracts/live' | grep -q '\"used\":1'"
expect_fail "a spent budget: no key" "use budget spent|BudgetSpent|budget" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim-live" --init-data "$TMP/live.toml" \
  "$TMP/ds" "$MP"
gov_contract other "sha256:$(printf 'cd%.0s' $(seq 32))"
gov_register other
gated_for other
expect_fail "a contract that does not name the dataset: no key" "does not name dataset" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim-other" --init-data "$TMP/other.toml" \
  "$TMP/ds" "$MP"
gov_contract mode "$DS" mode=no-egress
gov_register mode
gated_for mode
expect_fail "a contract granting another mode: no key" "grants dataset .* as no-egress" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim-mode" --init-data "$TMP/mode.toml" \
  "$TMP/ds" "$MP"
gov_stop
expect_fail "governance down: no key" "cannot be reached|governance" \
  "$CCRFS" mount --kbs "$GATED" --resource hosp/dek/v1 --attest "sim:$TMP/sim-mode" --init-data "$TMP/mode.toml" \
  "$TMP/ds" "$MP"

finish
