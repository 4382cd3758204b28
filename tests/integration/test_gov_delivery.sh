#!/usr/bin/env bash
# Delivery that loses nothing, driven through the hooks by the driver standing in for the
# daemon: SIGKILL mid-run then restart (no event lost, none twice); governance down (reads go
# on for the grace period, then are refused) and back (serving again, every event delivered
# exactly once); consent disabled before the mount and revoked in the middle of reads.
set -u
. "$CCRFS_SRC/tests/integration/lib/harness.sh"
gov_driver_require

now() { date +%s.%N; }
# every_open_logged PROGRESS EVENTS_FILE: each path the driver was allowed to open has an open event.
every_open_logged() {
    python3 - "$1" "$2" <<'PY'
import collections, json, sys
opened = collections.Counter(l.strip() for l in open(sys.argv[1]) if l.strip())
evs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
logged = collections.Counter(e["path"] for e in evs if e["type"] == "open")
missing = [p for p in opened if logged[p] < opened[p]]
ids = [e["id"] for e in evs]
assert not missing, "opens missing from the log: %s" % missing[:5]
assert len(ids) == len(set(ids)), "duplicate event ids"
# The driver notes an open after the hook allowed it: a kill in between may leave one
# recorded open per thread unnoted, never more.
extra = sum(logged.values()) - sum(opened.values())
assert 0 <= extra <= 2, "%d opens recorded that were never made" % extra
print("%d opens allowed, all recorded, once" % sum(opened.values()))
PY
}
service_events() { # service_events CONTRACT FILE: the service's events for CONTRACT, one per line
    gov_api GET "/events?contract=$1" | cut -d' ' -f2- |
        python3 -c 'import json,sys; [print(json.dumps(e, separators=(",", ":"), sort_keys=True)) for e in json.load(sys.stdin)["events"]]' >"$2"
}

# --- 1. SIGKILL mid-run, audit log sink ---------------------------------------------------
LOG=$TMP/a.log
"$GOV_DRIVER" --full --spool "$TMP/s1" --audit-log "$LOG" --threads 2 --files 400 --reads 4 --delay-ms 2 \
    --progress "$TMP/p1" >"$TMP/d1.out" 2>&1 &
DRIVER_PID=$!
h_adopt "$DRIVER_PID"
sleep 1.5
kill -9 "$DRIVER_PID"; wait "$DRIVER_PID" 2>/dev/null; DRIVER_PID=
check "driver killed mid-run" bash -c "! grep -q opens_ok '$TMP/d1.out' && [ -s '$TMP/p1' ]"
"$GOV_DRIVER" --full --spool "$TMP/s1" --audit-log "$LOG" --threads 0 >"$TMP/d1b.out" 2>&1
check "log verifies across the crash (one chain)" bash -c "'$CCRFS' audit verify --strict '$LOG' | grep -q 'in 1 chain'"
check "every allowed open recorded exactly once" every_open_logged "$TMP/p1" "$LOG"
check "spool emptied after delivery" bash -c "[ \$(cat '$TMP/s1/acked') -eq \$(wc -l <'$LOG') ]"

# --- 2. SIGKILL while governance is down; delivered once it is back -----------------------
gov_start || { fail "the governance service did not start"; finish; }
gov_active_contract c1 || { fail "contract c1"; finish; }
PORT=$GOV_PORT
gov_stop
"$GOV_DRIVER" --full --spool "$TMP/s2" --governance "http://127.0.0.1:$PORT" --contract c1 --grace 600 --threads 2 \
    --files 400 --reads 4 --delay-ms 2 --progress "$TMP/p2" >"$TMP/d2.out" 2>&1 &
DRIVER_PID=$!
h_adopt "$DRIVER_PID"
sleep 1.5
kill -9 "$DRIVER_PID"; wait "$DRIVER_PID" 2>/dev/null; DRIVER_PID=
check "nothing delivered yet, events spooled" bash -c "[ ! -e '$TMP/s2/acked' ] && [ -s '$TMP/p2' ]"
gov_start "$PORT" || { fail "the governance service did not start"; finish; }
"$GOV_DRIVER" --full --spool "$TMP/s2" --governance "$GOV_URL" --contract c1 --threads 0 >"$TMP/d2b.out" 2>&1
"$GOV_DRIVER" --full --spool "$TMP/s2" --governance "$GOV_URL" --contract c1 --threads 1 --files 1 --progress "$TMP/p2" \
    >>"$TMP/d2b.out" 2>&1
check "restart replays the spool" grep -q "undelivered events from an earlier run will be delivered" "$TMP/d2b.out"
service_events c1 "$TMP/e2"
check "service holds one verified chain" bash -c "'$CCRFS' audit verify --strict '$GOV_URL' --contract c1 | grep -q 'in 1 chain'"
check "every allowed open delivered exactly once" every_open_logged "$TMP/p2" "$TMP/e2"

# --- 3. governance goes down mid-run, then comes back ------------------------------------
gov_active_contract c3 || { fail "contract c3"; finish; }
"$GOV_DRIVER" --full --spool "$TMP/s3" --governance "$GOV_URL" --contract c3 --check-consent --grace 2 \
    --consent-interval 1 --duration 11 --threads 2 --files 3 --reads 10 --delay-ms 20 --progress "$TMP/p3" \
    >"$TMP/d3.out" 2>&1 &
DRIVER_PID=$!
h_adopt "$DRIVER_PID"
t_start=$(now)
sleep 2
gov_stop
t_down=$(now)
sleep 5
check "reads went on within the grace period, then refused" grep -q "^refusing at" "$TMP/d3.out"
refused_at=$(grep -m1 "^refusing at" "$TMP/d3.out" | awk '{print $3}')
check "refused only after the grace period (refused at +$refused_at s)" \
    awk "BEGIN { exit !(${refused_at:-0} >= $t_down - $t_start + 1.5) }"
gov_start "$PORT" || { fail "the governance service did not start"; finish; }
wait "$DRIVER_PID"; DRIVER_PID=
check "serving again once governance is back" grep -q "^serving at" "$TMP/d3.out"
check "driver finished, some accesses refused" grep -Eq "opens_refused=[1-9]|reads_refused=[1-9]" "$TMP/d3.out"
service_events c3 "$TMP/e3"
check "service events verify, no gaps, no duplicates" "$CCRFS" audit verify --strict "$GOV_URL" --contract c3
check "every allowed open delivered exactly once" every_open_logged "$TMP/p3" "$TMP/e3"
check "the refusals were recorded as denials" grep -q '"reason":"governance unreachable for more than 2 s"' "$TMP/e3"

# --- 3b. governance down long enough to fill the spool, then back -------------------------
gov_active_contract c6 || { fail "contract c6"; finish; }
"$GOV_DRIVER" --full --spool "$TMP/s6" --governance "$GOV_URL" --contract c6 --check-consent --grace 600 \
    --spool-max 65536 --consent-interval 1 --duration 11 --threads 2 --files 3 --reads 10 --delay-ms 5 \
    --progress "$TMP/p6" >"$TMP/d6.out" 2>&1 &
DRIVER_PID=$!
h_adopt "$DRIVER_PID"
sleep 1
gov_stop
sleep 5
check "spool full: refusing while governance is down" grep -q "^refusing at" "$TMP/d6.out"
gov_start "$PORT" || { fail "the governance service did not start"; finish; }
wait "$DRIVER_PID"; DRIVER_PID=
check "serving again after the spool drained" bash -c "grep -A100 '^refusing at' '$TMP/d6.out' | grep -q '^serving at'"
service_events c6 "$TMP/e6"
check "c6 events verify" "$CCRFS" audit verify --strict "$GOV_URL" --contract c6
check "every allowed open delivered exactly once" every_open_logged "$TMP/p6" "$TMP/e6"
check "the spool-full refusals were recorded" grep -q '"reason":"the audit spool is full' "$TMP/e6"

# --- 4. consent: disabled before mounting; revoked in the middle of reads -----------------
gov_make_contract c4 "$TMP/c4.json"
"$CCRFS" gov contract propose --url "$GOV_URL" "$TMP/c4.json" >/dev/null
"$GOV_DRIVER" --full --spool "$TMP/s4" --governance "$GOV_URL" --contract c4 --check-consent --threads 1 \
    >"$TMP/d4.out" 2>&1; rc=$?
check "consent disabled: no mount, clear error" bash -c "[ $rc -eq 3 ] && grep -q 'consent for contract c4 is disabled: proposed: contract c4 is not signed yet' '$TMP/d4.out'"

gov_active_contract c5 || { fail "contract c5"; finish; }
"$GOV_DRIVER" --full --spool "$TMP/s5" --governance "$GOV_URL" --contract c5 --check-consent --consent-interval 1 \
    --duration 6 --threads 2 --files 2 --reads 50 --delay-ms 10 >"$TMP/d5.out" 2>&1 &
DRIVER_PID=$!
h_adopt "$DRIVER_PID"
t_start=$(now)
sleep 2
"$CCRFS" gov contract revoke --url "$GOV_URL" --party provider --key "$TMP/provider.pem" c5 >/dev/null
t_revoke=$(now)
wait "$DRIVER_PID"; DRIVER_PID=
revoked_at=$(grep -m1 "^revoked at" "$TMP/d5.out" | awk '{print $3}' | tr -d :)
check "revocation noticed within 2.5 s (at +$revoked_at s)" \
    awk "BEGIN { exit !(${revoked_at:-99} - ($t_revoke - $t_start) < $(scaled 2.5)) }"
check "reads refused after revocation" grep -q "revoked=1" "$TMP/d5.out"
check "nothing served after revocation" bash -c "! grep -A100 '^revoked at' '$TMP/d5.out' | grep -q '^serving at'"
service_events c5 "$TMP/e5"
check "revocation event recorded" grep -q '"type":"revocation"' "$TMP/e5"
check "denials after revocation recorded" grep -q '"reason":"consent revoked: revoked: contract c5 was revoked by provider' "$TMP/e5"
check "c5 events verify" "$CCRFS" audit verify --strict "$GOV_URL" --contract c5

finish
