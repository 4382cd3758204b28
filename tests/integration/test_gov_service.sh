#!/usr/bin/env bash
# The governance service and `ccrfs gov`: contract lifecycle (propose, sign by each party,
# consent, use budget, revoke), authentication, malformed requests answered 4xx with a reason
# and changing nothing, events stored once, and everything surviving a restart.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
gov_driver_require

gov_start || { fail "the governance service did not start"; finish; }
U=$GOV_URL
consent() { gov_api POST "/consentcheck/execution?contract=$1" | cut -d' ' -f2- | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

check "health needs no token" bash -c "curl -sf '$U/health' | grep -q ok"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/consentcheck/execution?contract=x")
check "no token: 401" [ "$st" = 401 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token-0123456789' "$U/contracts")
check "wrong token: 401" [ "$st" = 401 ]

gov_make_contract c1 "$TMP/c1.json"
check "propose" "$CCRFS" gov contract propose --url "$U" "$TMP/c1.json"
check "propose again (same): accepted" "$CCRFS" gov contract propose --url "$U" "$TMP/c1.json"
sed 's/"TRAINING"/"OTHER"/' "$TMP/c1.json" >"$TMP/c1b.json"
"$CCRFS" gov contract propose --url "$U" "$TMP/c1b.json" >/dev/null 2>"$TMP/err"
check "same id, other content: refused 409" grep -q "409.*exists with different content" "$TMP/err"
check "unknown contract: consent disabled" [ "$(consent nope)" = disabled ]
check "proposed only: consent disabled" [ "$(consent c1)" = disabled ]

"$CCRFS" gov contract sign --url "$U" --party provider --key "$TMP/consumer.pem" c1 >/dev/null 2>"$TMP/err"
check "sign with another party's key: refused" grep -q "does not verify" "$TMP/err"
"$CCRFS" gov contract sign --url "$U" --party provider --key "$TMP/provider.pem" --file "$TMP/c1b.json" c1 \
    >/dev/null 2>"$TMP/err"
check "sign a contract other than the reviewed file: refused" grep -q "not signing" "$TMP/err"
check "provider signs" "$CCRFS" gov contract sign --url "$U" --party provider --key "$TMP/provider.pem" \
    --file "$TMP/c1.json" c1
check "one signature: still disabled" [ "$(consent c1)" = disabled ]
# A forged signature sent straight to the API.
r=$(gov_api POST /contracts/c1/sign '{"party":"consumer","signature":"AAAA"}')
check "forged signature: 403 with reason" bash -c "[[ '$r' == 403*BadSignature* ]]"
r=$(gov_api POST /contracts/c1/sign '{"party":"mallory","signature":"AAAA"}')
check "not a party: 403" bash -c "[[ '$r' == 403*NotAParty* ]]"
check "consumer signs" "$CCRFS" gov contract sign --url "$U" --party consumer --key "$TMP/consumer.pem" c1
check "all signed: consent enabled" [ "$(consent c1)" = enabled ]
"$CCRFS" gov contract list --url "$U" --party consumer >"$TMP/list"
check "list by party" grep -q '"id":"c1"' "$TMP/list"
"$CCRFS" gov contract list --url "$U" --party nobody >"$TMP/list"
check "list by another party: empty" bash -c "! grep -q c1 '$TMP/list'"

# Use budget: two mounts, the third refused; an unknown dataset refused.
check "use 1" "$CCRFS" gov contract use --url "$U" --dataset "$GOV_DATASET" c1
check "use 2" "$CCRFS" gov contract use --url "$U" --dataset "$GOV_DATASET" c1
"$CCRFS" gov contract use --url "$U" --dataset "$GOV_DATASET" c1 >/dev/null 2>"$TMP/err"
check "use 3: budget spent" grep -q "409.*spent (2 of 2" "$TMP/err"
r=$(gov_api POST "/contracts/c1/use?dataset=sha256:$(printf 'cd%.0s' $(seq 32))")
check "use of a dataset the contract does not name: 404" bash -c "[[ '$r' == 404* ]]"

# Malformed requests: 4xx with a reason, nothing changed.
before=$(gov_api GET /contracts/c1)
for req in "POST /contracts {not json" "POST /contracts []" 'POST /contracts {"id":"x"}' \
    "POST /contracts/c1/sign {}" 'POST /contracts/c1/sign {"party":"consumer","signature":"AAAA","x":1}' \
    "PUT /events?id=a&scope=s {}" 'PUT /events {"id":"a"}' "DELETE /contracts/c1 x" "GET /nowhere x" \
    "GET /events x"; do
    set -- $req
    r=$(gov_api "$1" "$2" "$3")
    code=${r%% *}
    if [[ "$code" == 4* ]] && [[ "$r" == *'"message":"'* ]]; then pass "malformed $1 $2: $code $(echo "${r#* }" | cut -c1-90)"
    else fail "malformed $1 $2: $r"; fi
done
head -c 2000000 /dev/zero | tr '\0' a >"$TMP/big"
r=$(curl -s -w ' %{http_code}' -X POST -H "Authorization: Bearer $CCRFS_GOV_TOKEN" --data-binary @"$TMP/big" "$U/contracts")
check "oversized body: 413" bash -c "[[ '$r' == *413 ]]"
check "nothing changed" [ "$(gov_api GET /contracts/c1)" = "$before" ]
echo '{"id": 1}' >"$TMP/bad.json"
"$CCRFS" gov contract propose --url "$U" "$TMP/bad.json" >/dev/null 2>"$TMP/err"; rc=$?
check "malformed contract file: exit 1 naming the field" bash -c "[ $rc -eq 1 ] && grep -q 'bad.json: contract: top level: \"id\" must be a string' '$TMP/err'"

# Events: stored once, a replay harmless, a different body under the same id refused.
"$GOV_DRIVER" --full --spool "$TMP/spool" --governance "$U" --contract c1 --files 2 --reads 3 --threads 1 >/dev/null 2>&1
n=$(gov_api GET "/events?contract=c1" | cut -d' ' -f2- | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')
check "events stored ($n)" [ "$n" -gt 5 ]
ev=$(gov_api GET "/events?contract=c1" | cut -d' ' -f2- | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["events"][1],separators=(",",":"),sort_keys=True))')
id=$(echo "$ev" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
r=$(gov_api PUT "/events?id=$id&scope=ccrfs" "$ev")
check "replayed event: accepted as duplicate" bash -c "[[ '$r' == 200*duplicate* ]]"
r=$(gov_api PUT "/events?id=$id&scope=ccrfs" "${ev/\"seq\":1/\"seq\":1 }")
check "same id, same content reformatted: duplicate" bash -c "[[ '$r' == 200*duplicate* ]]"
bad=$(echo "$ev" | sed 's/"type":"[a-z_]*"/"type":"open"/; s/"v":1/"v":1,"path":"forged"/')
r=$(gov_api PUT "/events?id=$id&scope=ccrfs" "$bad")
check "edited event: refused 400 (hash)" bash -c "[[ '$r' == 400*hash* ]]"
check "service events verify" "$CCRFS" audit verify "$U" --contract c1
check "service events verify, fetched 3 at a time" "$CCRFS" audit verify --page 3 "$U" --contract c1
all=$(gov_api GET "/events?contract=c1" | cut -d' ' -f2- | python3 -c 'import json,sys; print([e["id"] for e in json.load(sys.stdin)["events"]])')
paged=$(python3 - "$U" <<'PY'
import json, os, sys, urllib.request
ids, after = [], None
while True:
    q = "%s/events?contract=c1&limit=4%s" % (sys.argv[1], "&after=" + after if after else "")
    req = urllib.request.Request(q, headers={"Authorization": "Bearer " + os.environ["CCRFS_GOV_TOKEN"]})
    page = json.load(urllib.request.urlopen(req))
    ids += [e["id"] for e in page["events"]]
    after = page.get("next")
    if not after:
        break
print(ids)
PY
)
check "paging returns every event once, in order" [ "$all" = "$paged" ]
"$CCRFS" gov events --url "$U" --contract c1 >"$TMP/exported.log"
check "exported events form an audit log that verifies" "$CCRFS" audit verify --strict "$TMP/exported.log"
"$CCRFS" gov events --url "$U" --contract c1 --path t0/r0/f1 >"$TMP/one.log"
check "events of one path" bash -c "[ -s '$TMP/one.log' ] && ! grep -v '\"path\":\"t0/r0/f1\"' '$TMP/one.log'"
"$CCRFS" gov events --url "$U" --contract c1 --from 2099-01-01T00:00:00Z >"$TMP/none.log"
check "events after a future time: none" [ ! -s "$TMP/none.log" ]
"$CCRFS" gov events --url "$U" --contract c1 --from yesterday >/dev/null 2>&1
check "events with a bad time: usage error" [ $? -eq 2 ]
for q in "limit=0" "limit=x" "after=zz-1" "after=$(printf '0%.0s' $(seq 32))-x"; do
    r=$(gov_api GET "/events?contract=c1&$q")
    check "bad paging ($q): 400" bash -c "[[ '$r' == 400* ]]"
done
check "event query by path" bash -c "'$CCRFS' audit report --format csv '$U' --contract c1 | grep -q '\"t0/r0/f0\",1,3'"
r=$(gov_api GET "/events?contract=c1&from=2099-01-01T00:00:00Z")
check "event query by time range" bash -c "[[ '$r' == '200 {\"events\":[]}' ]]"

# Revocation by a party, then restart: state survives.
check "consumer revokes" "$CCRFS" gov contract revoke --url "$U" --party consumer --key "$TMP/consumer.pem" c1
check "revoked: consent disabled" [ "$(consent c1)" = disabled ]
"$CCRFS" gov contract sign --url "$U" --party consumer --key "$TMP/consumer.pem" c1 >/dev/null 2>&1
check "revoked contract cannot be signed again" [ $? -ne 0 ]
gov_stop
gov_start "$GOV_PORT" || { fail "the governance service did not start"; finish; }
check "after restart: still revoked" [ "$(consent c1)" = disabled ]
check "after restart: events still there" "$CCRFS" audit verify "$GOV_URL" --contract c1
r=$(gov_api GET /contracts/c1)
check "after restart: signatures and uses kept" bash -c "[[ '$r' == *'\"used\":2'* && '$r' == *'\"revokedBy\":\"consumer\"'* ]]"

finish
