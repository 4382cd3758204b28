#!/usr/bin/env bash
# Delivery that loses nothing, driven through the hooks by the driver standing in for the
# daemon: SIGKILL mid-run then restart (no event lost, none twice); governance down (reads go
# on for the grace period, then are refused) and back (serving again, every event delivered
# exactly once); consent disabled before the mount and revoked in the middle of reads.
set -u
source "$CCRFS_SRC/tests/integration/lib/gov.sh"
trap gov_cleanup EXIT

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
LOG=$WORK/a.log
"$GOV_DRIVER" --spool "$WORK/s1" --audit-log "$LOG" --threads 2 --files 400 --reads 4 --delay-ms 2 \
    --progress "$WORK/p1" >"$WORK/d1.out" 2>&1 &
DRIVER_PID=$!
sleep 1.5
kill -9 "$DRIVER_PID"; wait "$DRIVER_PID" 2>/dev/null; DRIVER_PID=
check "driver killed mid-run" bash -c "! grep -q opens_ok '$WORK/d1.out' && [ -s '$WORK/p1' ]"
"$GOV_DRIVER" --spool "$WORK/s1" --audit-log "$LOG" --threads 0 >"$WORK/d1b.out" 2>&1
check "log verifies across the crash (one chain)" bash -c "'$CCRFS' audit verify --strict '$LOG' | grep -q 'in 1 chain'"
check "every allowed open recorded exactly once" every_open_logged "$WORK/p1" "$LOG"
check "spool emptied after delivery" bash -c "[ \$(cat '$WORK/s1/acked') -eq \$(wc -l <'$LOG') ]"

# --- 2. SIGKILL while governance is down; delivered once it is back -----------------------
gov_start_service || exit 1
gov_active_contract c1 || { not_ok "contract c1"; exit 1; }
PORT=$GOV_PORT
gov_stop_service
"$GOV_DRIVER" --spool "$WORK/s2" --governance "http://127.0.0.1:$PORT" --contract c1 --grace 600 --threads 2 \
    --files 400 --reads 4 --delay-ms 2 --progress "$WORK/p2" >"$WORK/d2.out" 2>&1 &
DRIVER_PID=$!
sleep 1.5
kill -9 "$DRIVER_PID"; wait "$DRIVER_PID" 2>/dev/null; DRIVER_PID=
check "nothing delivered yet, events spooled" bash -c "[ ! -e '$WORK/s2/acked' ] && [ -s '$WORK/p2' ]"
gov_start_service "$PORT" || exit 1
"$GOV_DRIVER" --spool "$WORK/s2" --governance "$GOV_URL" --contract c1 --threads 0 >"$WORK/d2b.out" 2>&1
"$GOV_DRIVER" --spool "$WORK/s2" --governance "$GOV_URL" --contract c1 --threads 1 --files 1 --progress "$WORK/p2" \
    >>"$WORK/d2b.out" 2>&1
check "restart replays the spool" grep -q "undelivered events from an earlier run will be delivered" "$WORK/d2b.out"
service_events c1 "$WORK/e2"
check "service holds one verified chain" bash -c "'$CCRFS' audit verify --strict '$GOV_URL' --contract c1 | grep -q 'in 1 chain'"
check "every allowed open delivered exactly once" every_open_logged "$WORK/p2" "$WORK/e2"

# --- 3. governance goes down mid-run, then comes back ------------------------------------
gov_active_contract c3 || { not_ok "contract c3"; exit 1; }
"$GOV_DRIVER" --spool "$WORK/s3" --governance "$GOV_URL" --contract c3 --check-consent --grace 2 \
    --consent-interval 1 --duration 11 --threads 2 --files 3 --reads 10 --delay-ms 20 --progress "$WORK/p3" \
    >"$WORK/d3.out" 2>&1 &
DRIVER_PID=$!
t_start=$(now)
sleep 2
gov_stop_service
t_down=$(now)
sleep 5
check "reads went on within the grace period, then refused" grep -q "^refusing at" "$WORK/d3.out"
refused_at=$(grep -m1 "^refusing at" "$WORK/d3.out" | awk '{print $3}')
check "refused only after the grace period (refused at +$refused_at s)" \
    awk "BEGIN { exit !(${refused_at:-0} >= $t_down - $t_start + 1.5) }"
gov_start_service "$PORT" || exit 1
wait "$DRIVER_PID"; DRIVER_PID=
check "serving again once governance is back" grep -q "^serving at" "$WORK/d3.out"
check "driver finished, some accesses refused" grep -Eq "opens_refused=[1-9]|reads_refused=[1-9]" "$WORK/d3.out"
service_events c3 "$WORK/e3"
check "service events verify, no gaps, no duplicates" "$CCRFS" audit verify --strict "$GOV_URL" --contract c3
check "every allowed open delivered exactly once" every_open_logged "$WORK/p3" "$WORK/e3"
check "the refusals were recorded as denials" grep -q '"reason":"governance unreachable for more than 2 s"' "$WORK/e3"

# --- 3b. governance down long enough to fill the spool, then back -------------------------
gov_active_contract c6 || { not_ok "contract c6"; exit 1; }
"$GOV_DRIVER" --spool "$WORK/s6" --governance "$GOV_URL" --contract c6 --check-consent --grace 600 \
    --spool-max 65536 --consent-interval 1 --duration 11 --threads 2 --files 3 --reads 10 --delay-ms 5 \
    --progress "$WORK/p6" >"$WORK/d6.out" 2>&1 &
DRIVER_PID=$!
sleep 1
gov_stop_service
sleep 5
check "spool full: refusing while governance is down" grep -q "^refusing at" "$WORK/d6.out"
gov_start_service "$PORT" || exit 1
wait "$DRIVER_PID"; DRIVER_PID=
check "serving again after the spool drained" bash -c "grep -A100 '^refusing at' '$WORK/d6.out' | grep -q '^serving at'"
service_events c6 "$WORK/e6"
check "c6 events verify" "$CCRFS" audit verify --strict "$GOV_URL" --contract c6
check "every allowed open delivered exactly once" every_open_logged "$WORK/p6" "$WORK/e6"
check "the spool-full refusals were recorded" grep -q '"reason":"the audit spool is full' "$WORK/e6"

# --- 4. consent: disabled before mounting; revoked in the middle of reads -----------------
gov_make_contract c4 "$WORK/c4.json"
"$CCRFS" gov contract propose --url "$GOV_URL" "$WORK/c4.json" >/dev/null
"$GOV_DRIVER" --spool "$WORK/s4" --governance "$GOV_URL" --contract c4 --check-consent --threads 1 \
    >"$WORK/d4.out" 2>&1; rc=$?
check "consent disabled: no mount, clear error" bash -c "[ $rc -eq 3 ] && grep -q 'consent for contract c4 is disabled: proposed: contract c4 is not signed yet' '$WORK/d4.out'"

gov_active_contract c5 || { not_ok "contract c5"; exit 1; }
"$GOV_DRIVER" --spool "$WORK/s5" --governance "$GOV_URL" --contract c5 --check-consent --consent-interval 1 \
    --duration 6 --threads 2 --files 2 --reads 50 --delay-ms 10 >"$WORK/d5.out" 2>&1 &
DRIVER_PID=$!
t_start=$(now)
sleep 2
"$CCRFS" gov contract revoke --url "$GOV_URL" --party provider --key "$WORK/provider.pem" c5 >/dev/null
t_revoke=$(now)
wait "$DRIVER_PID"; DRIVER_PID=
revoked_at=$(grep -m1 "^revoked at" "$WORK/d5.out" | awk '{print $3}' | tr -d :)
check "revocation noticed within 2.5 s (at +$revoked_at s)" \
    awk "BEGIN { exit !(${revoked_at:-99} - ($t_revoke - $t_start) < 2.5) }"
check "reads refused after revocation" grep -q "revoked=1" "$WORK/d5.out"
check "nothing served after revocation" bash -c "! grep -A100 '^revoked at' '$WORK/d5.out' | grep -q '^serving at'"
service_events c5 "$WORK/e5"
check "revocation event recorded" grep -q '"type":"revocation"' "$WORK/e5"
check "denials after revocation recorded" grep -q '"reason":"consent revoked: revoked: contract c5 was revoked by provider' "$WORK/e5"
check "c5 events verify" "$CCRFS" audit verify --strict "$GOV_URL" --contract c5

finish
