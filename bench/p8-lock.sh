#!/usr/bin/env bash
# P8: master kill -> the new master accepts an application write, with a backup lock held on the
# replica MHA promotes (127.0.0.42), our hooks against plain MHA. Goal: (b) within 2 s of (a).
#
#   bench/p8-lock.sh                      # ROUNDS=2, VARIANTS="a b c", CAP=60
#   ROUNDS=3 VARIANTS="a b" bench/p8-lock.sh
#
# Variants (a fresh sandbox --base 40 for every run; `mha-backup check` first; app user `benchapp`
# with SELECT, INSERT on lab.* only, so read_only=1 refuses its writes; mysqld of h1 killed -9):
#   a  our hooks, no backup (one row inserted on h1 before the kill, as in b and c)
#   b  our hooks; [backup] tool_options = --log-copy-interval=3000; after the manager monitors,
#      `mha-backup backup full --source 127.0.0.42 --job-id ID` in the background; when
#      <store>/backups/ID/backup.log says "Acquired locks for BACKUP STAGE BLOCK_COMMIT", SIGSTOP of the
#      mariabackup process(es) with --datadir=<root>/h2/data (a slow disk); a row inserted on h1 so
#      h2's SQL thread waits for the backup lock; then the kill
#      (as Tests/IntegrationTests/FailoverTests.swift lockingPhaseOnPromotedReplica)
#   c  plain MHA (no-op hooks, bench/p2-noop-hook.sh); the same lock held by a plain root session on h2
#      (`BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT; SELECT SLEEP(86399)`), a row inserted on h1,
#      the kill; the session is KILLed by us CAP seconds after the master kill
#   n  (optional) no-op hooks, no backup
# Measured by bench/p2-poll.py: kill -> first probe (benchapp over TCP to 127.0.0.42, lock_wait_timeout=1,
# `SELECT @@global.read_only; INSERT INTO lab.t`, every 100 ms) that saw read_only=0 and committed;
# also kill -> "completed successfully" and kill -> manager exit.
# Results: bench/results/p8-<date>.txt; raw logs: bench/out/p8-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$PWD/bench/out/p8-$STAMP
RESULT=bench/results/p8-$STAMP.txt
mkdir -p "$OUT" bench/results
. bench/p2-lib.sh
ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-a b c}
CAP=${CAP:-60}
STORE=$ROOT/mha-backup/store
LOCKPID=""
cleanup() { [ -n "$LOCKPID" ] && kill "$LOCKPID" 2>/dev/null; sb_down; }
trap cleanup EXIT

build
{
    echo "P8: master kill -> new master (127.0.0.42) accepts a write, backup lock held on 127.0.0.42"
    echo "command: ROUNDS=$ROUNDS VARIANTS=\"$VARIANTS\" CAP=$CAP bench/p8-lock.sh   (started $(date -u '+%F %T') UTC)"
    machine_header
    echo "variants: a = our hooks, no backup; b = our hooks, our backup held in BLOCK_COMMIT on h2 (mariabackup SIGSTOPped);"
    echo "          c = no-op hooks (plain MHA), plain session holding BACKUP STAGE BLOCK_COMMIT on h2, KILLed at kill+${CAP} s;"
    echo "          n = no-op hooks, no backup"
    echo "times in seconds from kill -9 of h1's mysqld"
    echo
    printf '%-5s %-3s %-16s %9s %9s %9s %8s  %s\n' round var "load before" writable completed mgr_exit released "rc/new master; notes"
} > "$RESULT"

# Waits for the backup's BLOCK_COMMIT line, SIGSTOPs its mariabackup on h2; prints the pids stopped.
catch_and_stop() { # backup.log
    python3 - "$1" "$ROOT/h2/data" <<'EOF'
import os, signal, sys, time
log, datadir = sys.argv[1], sys.argv[2]
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        if "Acquired locks for BACKUP STAGE BLOCK_COMMIT" in open(log, errors="replace").read():
            break
    except FileNotFoundError:
        pass
    time.sleep(0.005)
else:
    sys.exit("the backup never reached BLOCK_COMMIT")
pids = []
for e in os.listdir("/proc"):
    if not e.isdigit(): continue
    try: raw = open("/proc/%s/cmdline" % e, "rb").read()
    except OSError: continue
    argv = raw.split(b"\0")
    if ("--datadir=" + datadir).encode() in raw and argv[0].endswith(b"mariabackup"):
        os.kill(int(e), signal.SIGSTOP); pids.append(e)
if not pids: sys.exit("no mariabackup with --datadir=%s" % datadir)
print(" ".join(pids))
EOF
}

wait_sql_blocked() {
    local i n
    for i in $(seq 1 100); do
        n=$(sqlh 2 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE '%backup lock%' OR STATE LIKE '%commit lock%'")
        [ "$n" != 0 ] && return 0
        sleep 0.1
    done
    return 1
}

held_modes() { sqlh 2 "SELECT GROUP_CONCAT(m.LOCK_MODE) FROM information_schema.METADATA_LOCK_INFO m WHERE m.LOCK_TYPE = 'Backup lock'"; }

one_run() { # round variant
    local r=$1 v=$2 la json rc new notes="" job="" stopped="" lockid="" release=()
    log "round $r: variant $v"
    sb_fresh
    [ "$v" = b ] && cnf_add backup "tool_options = --log-copy-interval=3000"
    "$BIN" check > "$OUT/check-$r-$v.log" 2>&1 || true
    case $v in c|n) hooks_noop ;; esac
    make_app_user
    start_manager
    case $v in
        b)
            job=p8-$r-$RANDOM
            setsid "$BIN" backup full --source "$H2" --job-id "$job" < /dev/null > "$OUT/backup-$r.out" 2>&1 &
            stopped=$(catch_and_stop "$STORE/backups/$job/backup.log") || { notes+="lock not caught; "; }
            notes+="mariabackup stopped: ${stopped:-none}; held: $(held_modes); "
            ;;
        c)
            mariadb --no-defaults -uroot --socket="$ROOT/h2/mysqld.sock" -N -B \
                -e "BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT; SELECT SLEEP(86399)" > /dev/null 2>&1 &
            LOCKPID=$!
            for i in $(seq 1 50); do
                lockid=$(sqlh 2 "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(86399)%'")
                [ -n "$lockid" ] && break; sleep 0.1
            done
            [ -n "$lockid" ] || die "the plain lock session did not start"
            notes+="plain session $lockid holds: $(held_modes); "
            release=(--release-at "$CAP" --release-cmd "mariadb --no-defaults -uroot --socket=$ROOT/h2/mysqld.sock -e 'KILL $lockid'")
            ;;
    esac
    sqlh 1 "INSERT INTO lab.t (v) VALUES ('p8-before-kill-$v')"
    if [ "$v" = b ] || [ "$v" = c ]; then
        wait_sql_blocked && notes+="h2 SQL thread blocked; " || notes+="h2 SQL thread NOT blocked; "
    else
        sleep 1
    fi
    la=$(loadavg)
    json=$(python3 "$POLL" --kill-pid "$(master_mysqld_pid)" --manager-pid "$MPID" --log "$MLOG" --probe --probe-host "$H2" \
           --timeout $((CAP + 120)) "${release[@]}")
    rc=0; wait "$MPID" || rc=$?
    rm -f "$ROOT/mha/manager.pid"
    [ -n "$LOCKPID" ] && { kill "$LOCKPID" 2>/dev/null || true; wait "$LOCKPID" 2>/dev/null || true; LOCKPID=""; }
    cp "$MLOG" "$OUT/manager-$r-$v.log"
    echo "$json" > "$OUT/poll-$r-$v.json"
    new=$(grep -o 'Master failover to [0-9.]*' "$MLOG" | tail -1 | awk '{print $4}' || true)
    case $v in a|b) "$BIN" audit --last > "$OUT/audit-$r-$v.txt" 2>&1 || true ;; esac
    if [ "$v" = b ]; then
        local p alive=""
        for p in $stopped; do [ -e /proc/$p ] && alive+="$p "; done
        sleep 1
        notes+="job: $("$BIN" list --json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin); d = d if isinstance(d, list) else d.get("backups", [])
print(",".join("%s=%s" % (x.get("id"), x.get("status")) for x in d if str(x.get("id", "")).startswith("p8-")) or "?")' 2>/dev/null || echo '?'); "
        notes+="stopped mariabackup alive after failover: ${alive:-none}; "
    fi
    python3 - "$json" "$r" "$v" "$la" "$rc" "${new:-none}" "$notes" >> "$RESULT" <<'EOF'
import json, sys
j, r, v, la, rc, new, notes = json.loads(sys.argv[1]), *sys.argv[2:]
m = j["markers"]
g = lambda x: "%.3f" % x if x is not None else "-"
print("%-5s %-3s %-16s %9s %9s %9s %8s  %s/%s; %s%s" % (r, v, la, g(j.get("writable")), g(m.get("completed")), g(j.get("manager_exit")),
      g(j.get("released")), rc, new, notes, "TIMEOUT" if j.get("timeout") else ""))
EOF
    tail -1 "$RESULT" >&2
}

for r in $(seq 1 "$ROUNDS"); do
    vs=($VARIANTS)
    [ $((r % 2)) = 0 ] && vs=($(printf '%s\n' "${vs[@]}" | tac))
    for v in "${vs[@]}"; do one_run "$r" "$v"; done
done
sb_down

python3 - "$OUT" "$ROUNDS" "$VARIANTS" "$CAP" >> "$RESULT" <<'EOF'
import json, sys, statistics as st
out, rounds, variants, cap = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), float(sys.argv[4])
def vals(v, key):
    xs = []
    for r in range(1, rounds + 1):
        try: j = json.load(open("%s/poll-%d-%s.json" % (out, r, v)))
        except FileNotFoundError: continue
        x = j.get(key) if key != "completed" else j["markers"].get("completed")
        if x is not None: xs.append(x)
    return xs
print()
print("medians (seconds from the kill):")
med = {}
for v in variants:
    w, c, e = vals(v, "writable"), vals(v, "completed"), vals(v, "manager_exit")
    med[v] = st.median(w) if w else None
    print("  %s: writable %s (n=%d: %s)  completed %s  manager exit %s" % (v,
          "%.3f" % st.median(w) if w else "never", len(w), " ".join("%.3f" % x for x in w),
          "%.3f" % st.median(c) if c else "-", "%.3f" % st.median(e) if e else "-"))
if med.get("a") is not None and med.get("b") is not None:
    d = med["b"] - med["a"]
    print("  (b) - (a) = %+.3f s  -> goal (within 2 s): %s" % (d, "met" if d <= 2 else "NOT met"))
if med.get("a") is not None and med.get("c") is not None:
    print("  (c) - (a) = %+.3f s (plain MHA; the lock was released by us at kill + %.0f s, so (c) is bounded by that cap, not by MHA)" % (med["c"] - med["a"], cap))
EOF
echo "load average at end: $(loadavg)" >> "$RESULT"
log "results: $RESULT"
cat "$RESULT"
