# Shared helpers of the failover benchmarks P2 (p2-failover.sh), P3 (p3-salvage.sh) and P8 (p8-lock.sh).
# Sourced, not run. Everything runs on sandbox base 40 (BENCH_BASE=N for another) only (127.0.0.41-43, /var/lib/mha-backup-sandbox-40),
# never on the 127.0.0.11-13 / 21-23 / 31-33 sandboxes others use.
#
# The manager is started here the way Sandbox.startManager does it (env PERL5LIB=<root>/perl5 and
# MHA_BACKUP_CONFIG, `masterha_manager --conf=app.cnf --ignore_last_failover`, pid in <root>/mha/manager.pid
# so `sandbox down` kills it too), but by this script, so the kill time and the manager's exit are
# observed by our own poller (bench/p2-poll.py) with sub-second resolution.

BASE=${BENCH_BASE:-40}
ROOT=/var/lib/mha-backup-sandbox-$BASE
APP=$ROOT/mha/app.cnf
CNF=$ROOT/mha-backup/mha-backup.cnf
MLOG=$ROOT/mha/manager.log
H1=127.0.0.$((BASE + 1)) H2=127.0.0.$((BASE + 2)) H3=127.0.0.$((BASE + 3))
BIN=$PWD/.build/release/mha-backup
NOOP=$PWD/bench/p2-noop-hook.sh
POLL=$PWD/bench/p2-poll.py
export PATH=/opt/swift/usr/bin:$PATH
export MHA_BACKUP_CONFIG=$CNF
# Pin the hooks/ wrappers to the release build (they otherwise pick the newest of release and debug).
export MHA_BACKUP_BIN_DIR=$PWD/.build/release

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }

# sqlh N 'statement' — root over host N's socket, batch, no headers.
sqlh() { local n=$1; shift; mariadb --no-defaults -uroot --socket="$ROOT/h$n/mysqld.sock" -N -B -e "$*"; }

build() {
    if [ -n "${SKIP_BUILD:-}" ]; then
        # Another SwiftPM (someone's swift test) may hold .build's lock for many minutes: measure the
        # release build that is there, if no source is newer than it.
        [ -z "$(find Sources Package.swift -newer .build/release/mha-backup -type f | head -1)" ] || die "SKIP_BUILD: sources are newer than .build/release/mha-backup"
        VERSION="$(git rev-parse --short HEAD) (SKIP_BUILD: the existing release build of $(date -u -r .build/release/mha-backup '+%F %T') UTC; no source newer)"
        return 0
    fi
    log "building: swift build -c release --static-swift-stdlib"
    swift build -c release --static-swift-stdlib > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log" >&2; die "build failed"; }
    VERSION="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' + uncommitted changes in Sources')"
}

sb_down() { "$BIN" sandbox down --base $BASE > /dev/null 2>&1 || true; }
# A new sandbox: down (whatever was there, the folder is deleted) and up.
sb_fresh() {
    sb_down
    "$BIN" sandbox up --base $BASE > "$OUT/up.log" 2>&1 || { cat "$OUT/up.log" >&2; die "sandbox up failed"; }
    grep -q "^master_ip_failover_script=$PWD/hooks/master_ip_failover " "$APP" || die "app.cnf does not point at $PWD/hooks"
}

# Appends lines under [SECTION] of our config (keeps mode 0600).
cnf_add() { # section line...
    local sec=$1; shift
    python3 - "$CNF" "$sec" "$@" <<'EOF'
import sys
path, sec, lines = sys.argv[1], sys.argv[2], sys.argv[3:]
t = open(path).read()
h = "[%s]\n" % sec
t = t.replace(h, h + "".join(l + "\n" for l in lines), 1) if h in t else t + "\n" + h + "".join(l + "\n" for l in lines)
open(path, "w").write(t)
EOF
    chmod 600 "$CNF"
}

# The four *_script lines of app.cnf pointed at the no-op hook (plain MHA with a minimal hook:
# status 0, shutdown_script stopssh 10 like ours without a power manager, everything else 0).
hooks_noop() {
    sed -i -E \
        -e "s|^master_ip_failover_script=.*|master_ip_failover_script=$NOOP --hook=master_ip_failover|" \
        -e "s|^shutdown_script=.*|shutdown_script=$NOOP --hook=shutdown|" \
        -e "s|^report_script=.*|report_script=$NOOP --hook=report|" \
        -e "s|^master_ip_online_change_script=.*|master_ip_online_change_script=$NOOP --hook=online_change|" "$APP"
    [ "$(grep -c "^[a-z_]*script=$NOOP " "$APP")" = 4 ] || die "could not rewrite the four hook lines of $APP"
}

# The app user a client would use: no SUPER/READ ONLY ADMIN, so read_only=1 refuses its writes.
make_app_user() {
    sqlh 1 "CREATE USER IF NOT EXISTS 'benchapp'@'%' IDENTIFIED BY 'benchapp-pw'; GRANT SELECT, INSERT ON lab.* TO 'benchapp'@'%';"
    local g; g=$(sqlh 1 "SELECT @@gtid_binlog_pos")
    sqlh 2 "SELECT MASTER_GTID_WAIT('$g', 30)" > /dev/null
    sqlh 3 "SELECT MASTER_GTID_WAIT('$g', 30)" > /dev/null
}

# Starts masterha_manager in the background; waits until it monitors the master. Sets MPID.
start_manager() {
    : > "$ROOT/mha/manager.out"
    PERL5LIB=$ROOT/perl5${PERL5LIB:+:$PERL5LIB} setsid masterha_manager --conf="$APP" --ignore_last_failover \
        < /dev/null >> "$ROOT/mha/manager.out" 2>&1 &
    MPID=$!
    echo "$MPID" > "$ROOT/mha/manager.pid"
    local i
    for i in $(seq 1 600); do
        grep -q "waiting until MySQL doesn't respond" "$MLOG" 2>/dev/null && return 0
        kill -0 "$MPID" 2>/dev/null || { tail -20 "$MLOG" >&2; die "masterha_manager exited before monitoring"; }
        sleep 0.1
    done
    die "masterha_manager did not start monitoring in 60 s"
}

master_mysqld_pid() { cat "$ROOT/h1/mysqld.pid"; }

# Waits for the manager to be gone (after a poller timed out, kills it).
reap_manager() {
    if kill -0 "$MPID" 2>/dev/null; then kill "$MPID" 2>/dev/null; sleep 0.3; kill -9 "$MPID" 2>/dev/null; fi
    wait "$MPID" 2>/dev/null || true
    rm -f "$ROOT/mha/manager.pid"
}

machine_header() {
    echo "machine: $(nproc) cores, $(cpu_model); $(uname -r); load average at start: $(loadavg)"
    echo "tools: $(mariadbd --version 2>/dev/null | head -1); $(ssh -V 2>&1); MHA $(dpkg-query -W -f='${Version}' mha4mysql-manager 2>/dev/null)"
    echo "build: $VERSION, swift build -c release --static-swift-stdlib (static: $(ldd "$BIN" | grep -q libswiftCore && echo no || echo yes))"
}

# python3 stats over numbers on stdin: "n median min max"
stats() { python3 -c '
import sys, statistics
v = [float(x) for x in sys.stdin.read().split()]
print(len(v), "%.3f" % statistics.median(v), "%.3f" % min(v), "%.3f" % max(v)) if v else print("0 nan nan nan")'; }
