#!/usr/bin/env bash
# P2: a sandbox failover (mysqld of the master killed, its sshd alive: MHA's stopssh path, binlog saved)
# with our hooks, against the same failover with no-op hooks (bench/p2-noop-hook.sh). Goal: <= 3 % longer.
#
#   bench/p2-failover.sh            # ROUNDS=3 by default (one run of each variant per round)
#   ROUNDS=5 bench/p2-failover.sh
#
# Every run: `mha-backup sandbox down --base 40` + `sandbox up --base 40` (a fresh cluster on 127.0.0.41-43),
# `mha-backup check` (timeline 1, as the integration tests do), for the no-op variant the four *_script
# lines of app.cnf rewritten to the no-op hook, masterha_manager started and monitoring, then
# bench/p2-poll.py kills h1's mysqld (kill -9) and notes, from its own 20 ms polling, when the manager
# log shows "Master is down!", the phases, "Master failover to ... completed successfully." and when
# the manager exits. Odd rounds run ours first, even rounds no-op first.
# Results: bench/results/p2-<date>.txt; raw logs: bench/out/p2-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$PWD/bench/out/p2-$STAMP
RESULT=bench/results/p2-$STAMP.txt
mkdir -p "$OUT" bench/results
. bench/p2-lib.sh
ROUNDS=${ROUNDS:-3}
trap 'sb_down' EXIT

build
{
    echo "P2: sandbox failover (--mysqld: mysqld killed, sshd alive), our hooks vs no-op hooks"
    echo "command: ROUNDS=$ROUNDS bench/p2-failover.sh   (started $(date -u '+%F %T') UTC)"
    machine_header
    echo "per run: sandbox down+up --base $BASE, mha-backup check, [no-op: app.cnf hooks -> $NOOP],"
    echo "  masterha_manager --conf=$APP --ignore_last_failover (PERL5LIB=$ROOT/perl5),"
    echo "  kill -9 of h1 mysqld; times in seconds from the kill, by our own 20 ms polling"
    echo
    printf '%-5s %-5s %-16s %7s %7s %7s %7s %9s %8s  %s\n' round hooks "load before" down phase3 phase4 phase5 completed mgr_exit "rc/new master"
} > "$RESULT"

one_run() { # round variant
    local r=$1 v=$2 la json rc new
    log "round $r: $v"
    sb_fresh
    "$BIN" check > "$OUT/check-$r-$v.log" 2>&1 || true
    [ "$v" = noop ] && hooks_noop
    cp "$APP" "$OUT/app-$r-$v.cnf"
    start_manager
    sleep 2
    la=$(loadavg)
    json=$(python3 "$POLL" --kill-pid "$(master_mysqld_pid)" --manager-pid "$MPID" --log "$MLOG" --timeout 180)
    rc=0; wait "$MPID" || rc=$?
    rm -f "$ROOT/mha/manager.pid"
    cp "$MLOG" "$OUT/manager-$r-$v.log"
    [ "$v" = ours ] && { "$BIN" audit --last > "$OUT/audit-$r-$v.txt" 2>&1 || true; }
    new=$(grep -o 'Master failover to [0-9.]*' "$MLOG" | tail -1 | awk '{print $4}' || true)
    echo "$json" > "$OUT/poll-$r-$v.json"
    python3 - "$json" "$r" "$v" "$la" "$rc" "${new:-none}" >> "$RESULT" <<'EOF'
import json, sys
j, r, v, la, rc, new = json.loads(sys.argv[1]), *sys.argv[2:]
m = j["markers"]
f = lambda k: "%.3f" % m[k] if k in m else "-"
print("%-5s %-5s %-16s %7s %7s %7s %7s %9s %8s  %s/%s%s" % (r, v, la, f("down"), f("phase3"), f("phase4"), f("phase5"),
      f("completed"), "%.3f" % j["manager_exit"] if "manager_exit" in j else "-", rc, new, " TIMEOUT" if j.get("timeout") else ""))
EOF
    tail -1 "$RESULT" >&2
}

for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then one_run "$r" ours; one_run "$r" noop; else one_run "$r" noop; one_run "$r" ours; fi
done
sb_down

python3 - "$OUT" "$ROUNDS" >> "$RESULT" <<'EOF'
import json, sys, glob, statistics as st
out, rounds = sys.argv[1], int(sys.argv[2])
def vals(v, key):
    xs = []
    for r in range(1, rounds + 1):
        j = json.load(open("%s/poll-%d-%s.json" % (out, r, v)))
        x = j.get("manager_exit") if key == "manager_exit" else j["markers"].get(key)
        if x is not None and not j.get("timeout"): xs.append(x)
    return xs
print()
print("medians (seconds from the kill; n = runs):")
for key, label in [("manager_exit", "kill -> manager exit"), ("completed", "kill -> 'completed successfully' line"),
                   ("down", "kill -> 'Master is down!'")]:
    o, n = vals("ours", key), vals("noop", key)
    if not o or not n: print("  %-40s  missing" % label); continue
    mo, mn = st.median(o), st.median(n)
    print("  %-40s ours %.3f (n=%d, %.3f-%.3f)  no-op %.3f (n=%d, %.3f-%.3f)  ratio %.3f (%+.1f %%, %+.3f s)"
          % (label, mo, len(o), min(o), max(o), mn, len(n), min(n), max(n), mo / mn, (mo / mn - 1) * 100, mo - mn))
    if key in ("manager_exit", "completed"):
        # detection time (kill -> "Master is down!") varies with the 1 s ping phase; without it:
        od, nd = vals("ours", "down"), vals("noop", "down")
        if len(od) == len(o) and len(nd) == len(n):
            ro = st.median([a - b for a, b in zip(o, od)]); rn = st.median([a - b for a, b in zip(n, nd)])
            print("  %-40s ours %.3f  no-op %.3f  ratio %.3f (%+.3f s)" % ("  the same from 'Master is down!'", ro, rn, ro / rn, ro - rn))
import re
held = []
for r in range(1, rounds + 1):
    try: t = open("%s/audit-%d-ours.txt" % (out, r)).read()
    except OSError: continue
    m = re.search(r"our hooks held MHA (\d+) ms: (.*)", t)
    if m: held.append(int(m.group(1))); print("  round %d: our hooks held MHA %s ms (%s)" % (r, m.group(1), m.group(2)))
if held:
    print("our hooks' hold on MHA per failover (each hook call from main to exit, audited): median %d ms, max %d ms (n=%d); goal <= 100 ms: %s"
          % (st.median(held), max(held), len(held), "met" if st.median(held) <= 100 else "NOT met"))
EOF
echo "load average at end: $(loadavg)" >> "$RESULT"
log "results: $RESULT"
cat "$RESULT"
