# Shared settings and helpers for the bench/ scripts (sourced, not run).
# Everything here talks to the sandbox made by `mha-backup sandbox up`; nothing starts or stops it.

# BENCH_BASE=N: the sandbox of `mha-backup sandbox up --base N` (127.0.0.(N+1)-(N+3)); default 10.
BENCH_BASE=${BENCH_BASE:-10}
if [ "$BENCH_BASE" = 10 ]; then SANDBOX=${SANDBOX:-/var/lib/mha-backup-sandbox}; else SANDBOX=${SANDBOX:-/var/lib/mha-backup-sandbox-$BENCH_BASE}; fi
SSH_KEY=$SANDBOX/ssh/id_ed25519
SSH_KNOWN=$SANDBOX/ssh/known_hosts
SSH_OPTS=(-i "$SSH_KEY" -o UserKnownHostsFile="$SSH_KNOWN" -o BatchMode=yes -o ConnectTimeout=5)
BENCH_DB=bench

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# host number (1..3) <-> address 127.0.0.(BENCH_BASE+N)
host_addr() { echo "127.0.0.$((BENCH_BASE + $1))"; }
sock() { echo "$SANDBOX/h$1/mysqld.sock"; }

# sql N 'statement...'  — root over the host's socket, tab-separated, no headers.
sql() {
    local n=$1; shift
    mariadb --no-defaults -uroot --socket="$(sock "$n")" -N -B -e "$*"
}

# The current master: the one host without replication configured and not read-only.
find_master() {
    local n
    for n in 1 2 3; do
        [ -S "$(sock "$n")" ] || continue
        if [ -z "$(sql "$n" 'SHOW SLAVE STATUS')" ] && [ "$(sql "$n" 'SELECT @@read_only')" = 0 ]; then
            echo "$n"; return 0
        fi
    done
    return 1
}

# Waits until every other host has applied the master's binlog position (MASTER_GTID_WAIT), in
# short steps so a replica whose SQL thread stopped with an error is reported at once, not after
# the whole timeout (the error is printed; nothing restarts it behind the operator's back).
wait_replicas() {
    local m=$1 pos n r waited err
    pos=$(sql "$m" 'SELECT @@gtid_binlog_pos')
    for n in 1 2 3; do
        [ "$n" = "$m" ] && continue
        [ -S "$(sock "$n")" ] || continue
        waited=0
        while :; do
            r=$(sql "$n" "SELECT MASTER_GTID_WAIT('$pos', 10)")
            [ "$r" = 0 ] && break
            err=$(mariadb --no-defaults -uroot --socket="$(sock "$n")" -e 'SHOW SLAVE STATUS\G' |
                  awk -F': ' '/Slave_SQL_Running:/ { run = $2 } /Last_SQL_Error:/ { e = $2 } END { if (run != "Yes") print "SQL thread " run ": " e }')
            [ -z "$err" ] || die "host $n stopped replicating before GTID $pos: ${err:0:300} (check, then START SLAVE SQL_THREAD there)"
            waited=$((waited + 10))
            [ "$waited" -lt "${WAIT_TIMEOUT:-1800}" ] || die "host $n did not reach GTID $pos in ${WAIT_TIMEOUT:-1800} s"
        done
    done
}

# Bytes of the bench tables' .ibd files on host N.
ibd_bytes() { du -cb "$SANDBOX/h$1/data/$BENCH_DB"/*.ibd 2>/dev/null | tail -1 | cut -f1; }

# ini SECTION KEY: a value from the mha-backup config $CONF (no interpolation; the config is ours).
ini() {
    awk -v sec="[$1]" -v key="$2" '
        /^\[/ { insec = ($0 == sec); next }
        insec && $0 ~ "^[ \t]*" key "[ \t]*=" { sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]+$/, ""); print; exit }' "$CONF"
}

human() { numfmt --to=iec-i --suffix=B --format=%.2f "$1"; }
