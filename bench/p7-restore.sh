#!/usr/bin/env bash
# P7: our point-in-time restore (full backup of the >= 1 GiB bench dataset + binlog replay) against
# the bare tools doing the same work, in the same run.
#
#   mha-backup sandbox up && bench/make-dataset.sh && bench/p7-restore.sh     # then bench/drop-dataset.sh
#
# Setup (once, not timed): a full backup of the dataset with ours (source: a replica), then a
# binlog workload on the master in ROW format (UPDATEs of P7_UPDATE_ROWS rows of bench.orders in
# batches, plus inserts), FLUSH BINARY LOGS and `mha-backup binlog archive`.
# Then ROUNDS rounds (default 3); odd rounds run ours first, even rounds the bare form first:
#
#   ours         .build/release/mha-backup restore --latest --target-dir DIR
#                (SHA-256 of the backup stream while it unpacks and of every binlog, zstd -d | mbstream -x,
#                mariabackup --prepare --use-memory=1G, --move-back, chown, mariadbd on the datadir,
#                mariadb-binlog | mariadb, shutdown)
#   bare-copy    the issue's bare form: zstd -d | mbstream -x, mariabackup --prepare --use-memory=1G,
#                mariabackup --copy-back, chown, the same mariadbd, mariadb-binlog | mariadb, shutdown
#   bare-move    the same with --move-back (what ours does), to show what the copy costs
#
# Each restore is checked once (not timed): CHECKSUM TABLE of bench.orders and bench.customers on
# the restored server equals the master's. Results: bench/results/p7-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-3}
UPDATE_ROWS=${P7_UPDATE_ROWS:-1000000}
CONF=${MHA_BACKUP_CONFIG:-$SANDBOX/mha-backup/mha-backup.cnf}
export MHA_BACKUP_CONFIG=$CONF
BIN=$PWD/.build/release/mha-backup
STAMP=$(date +%Y%m%d-%H%M%S)
RESULT=bench/results/p7-$STAMP.txt
WORK=${P7_WORK:-/var/lib/mha-backup-p7}
mkdir -p bench/results
command -v python3 >/dev/null || { apt-get update -qq; apt-get install -y -qq python3 >/dev/null; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }   # calc '1.5 / 3' (awk: no bc needed)
rm -rf "$WORK"; mkdir -p "$WORK"; chmod 755 "$WORK"
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"; while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.1; done
    fi
    SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

log "building release"
PATH=/opt/swift/usr/bin:$PATH swift build -c release --product mha-backup >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; die "release build failed"; }

M=$(find_master) || die "no master"
[ "$(sql "$M" "SELECT v FROM $BENCH_DB.meta WHERE k = 'complete'" 2>/dev/null)" != "" ] || die "no bench dataset: run bench/make-dataset.sh first"

log "setup: full backup of the dataset"
"$BIN" backup full --wait 600 --json > "$WORK/backup.json"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/backup.json")
STORE=$(ini mha-backup store_dir)
MANIFEST=$STORE/backups/$ID/manifest.json
read -r FILE POS < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); c=(m.get("replicaOf") or {}).get("coordinates") or m["binlog"]; print(c["file"], c["position"])' "$MANIFEST")
log "backup $ID, point on the master: $FILE:$POS"

log "setup: binlog workload on the master ($UPDATE_ROWS rows updated, ROW format)"
step=250000
for ((lo = 1; lo <= UPDATE_ROWS; lo += step)); do
    sql "$M" "SET SESSION binlog_format = 'ROW'; UPDATE $BENCH_DB.orders SET qty = qty + 1, status = 'replayed' WHERE id BETWEEN $lo AND $((lo + step - 1))"
done
sql "$M" "SET SESSION binlog_format = 'ROW'; INSERT INTO $BENCH_DB.customers SELECT id + 10000000, first_name, last_name, email, phone, city, postcode, created_at, credit_limit, api_key FROM $BENCH_DB.customers WHERE id <= 100000; FLUSH BINARY LOGS"
wait_replicas "$M"
"$BIN" binlog archive >/dev/null
MADDR=$(host_addr "$M")
ARCH=$STORE/binlogs/${MADDR}_3306
FILES=()
for f in $(python3 -c '
import json,sys
idx=json.load(open(sys.argv[1])); start=sys.argv[2]
names=sorted(e["name"] for e in idx["files"])
print(" ".join(n for n in names if n >= start))' "$ARCH/index.json" "$FILE"); do FILES+=("$ARCH/$f"); done
BINLOG_BYTES=$(du -cb "${FILES[@]}" | tail -1 | cut -f1)
WANT=$(sql "$M" "CHECKSUM TABLE $BENCH_DB.orders, $BENCH_DB.customers" | tr '\n\t' '; ')
STREAM=$STORE/backups/$ID/backup.xbstream.zst
log "binlogs to replay: ${#FILES[@]} files, $(human "$BINLOG_BYTES"); backup stream $(human "$(stat -c %s "$STREAM")")"

# The same mariadbd ours starts (ScratchServer), socket only, root through unix_socket.
bare() { # $1 = copy-back | move-back, $2 = datadir
    local mode=$1 dd=$2 x=$WORK/x run=$WORK/run
    rm -rf "$x" "$run" "$dd"; mkdir -p "$x" "$run" "$dd"
    zstd -q -d -c "$STREAM" | mbstream -x -C "$x"
    mariabackup --prepare --use-memory=1G --target-dir="$x" 2>/dev/null
    mariabackup --"$mode" --target-dir="$x" --datadir="$dd" 2>/dev/null
    chown -R mysql:mysql "$dd" "$run"
    mariadbd --no-defaults --datadir="$dd" --socket="$run/s" --pid-file="$run/p" --log-error="$run/err" --skip-log-bin \
        --skip-slave-start --server-id=1 --innodb-buffer-pool-size=1G --max-allowed-packet=1G --gtid-strict-mode=0 \
        --skip-networking --user=mysql >/dev/null 2>&1 &
    SERVER_PID=$!
    until mariadb-admin --no-defaults -uroot --socket="$run/s" ping >/dev/null 2>&1; do sleep 0.1; done
    mariadb-binlog --skip-gtid-strict-mode --start-position="$POS" "${FILES[@]}" | mariadb --no-defaults -uroot --socket="$run/s" --binary-mode --max-allowed-packet=1G
    BARE_SOCKET=$run/s
}

check() { # $1 = socket, $2 = label
    local got
    got=$(mariadb --no-defaults -uroot --socket="$1" -N -B -e "CHECKSUM TABLE $BENCH_DB.orders, $BENCH_DB.customers" | tr '\n\t' '; ')
    [ "$got" = "$WANT" ] || die "$2: restored checksums '$got' differ from the master's '$WANT'"
    log "$2: checksums equal the master's"
}

declare -A T
run_ours() { # $1 = round
    local dd=$WORK/ours t0 t1
    rm -rf "$dd"
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s.%N)
    if [ "$1" = 1 ]; then
        "$BIN" restore --latest --target-dir "$dd" --start --json > "$WORK/ours.json" 2> "$WORK/ours.err"
    else
        "$BIN" restore --latest --target-dir "$dd" --json > "$WORK/ours.json" 2> "$WORK/ours.err"
    fi
    t1=$(date +%s.%N)
    T[ours]+=" $(calc "$t1 - $t0")"
    if [ "$1" = 1 ]; then
        # The first round leaves the server up (--start) for the check; its start/stop is the same work.
        local sock pid
        sock=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"]["socket"])' "$WORK/ours.json")
        pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"]["pid"])' "$WORK/ours.json")
        check "$sock" ours
        kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -rf "$(dirname "$sock")"
    fi
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("    ours steps: " + ", ".join("%s %.1f s" % (s["name"].split(" ")[0], s["seconds"]) for s in r["steps"]))' "$WORK/ours.json" >&2
    rm -rf "$dd"
}
run_bare() { # $1 = copy-back | move-back, $2 = round
    local dd=$WORK/bare t0 t1
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s.%N)
    bare "$1" "$dd"
    [ "$2" = 1 ] || { stop_server; }
    t1=$(date +%s.%N)
    if [ "$2" = 1 ]; then check "$BARE_SOCKET" "bare-$1"; stop_server; fi
    T[bare-$1]+=" $(calc "$t1 - $t0")"
    rm -rf "$dd" "$WORK/x" "$WORK/run"
}

for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r"
    if [ $((r % 2)) = 1 ]; then run_ours "$r"; run_bare copy-back "$r"; run_bare move-back "$r"
    else run_bare copy-back "$r"; run_bare move-back "$r"; run_ours "$r"; fi
    log "  ours${T[ours]##* } s, bare-copy${T[bare-copy-back]##* } s, bare-move${T[bare-move-back]##* } s"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
MO=$(echo "${T[ours]}" | median); MC=$(echo "${T[bare-copy-back]}" | median); MM=$(echo "${T[bare-move-back]}" | median)
{
    echo "P7 restore + binlog replay, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    echo "command: bench/p7-restore.sh (ROUNDS=$ROUNDS P7_UPDATE_ROWS=$UPDATE_ROWS), page cache dropped before every run"
    echo "dataset: $(sql "$M" "SELECT CONCAT(ROUND(SUM(data_length + index_length)/1048576), ' MiB') FROM information_schema.tables WHERE table_schema = '$BENCH_DB'") in $BENCH_DB; backup $ID, stream $(human "$(stat -c %s "$STREAM")")"
    echo "binlogs replayed: ${#FILES[@]} files, $(human "$BINLOG_BYTES") from $FILE:$POS"
    echo "runs (s): ours${T[ours]}; bare-copy${T[bare-copy-back]}; bare-move${T[bare-move-back]}"
    echo "median: ours $MO s, bare-copy $MC s, bare-move $MM s"
    echo "ratio ours / bare-copy (the issue's bare form): $(calc "$MO / $MC")"
    echo "ratio ours / bare-move: $(calc "$MO / $MM")"
    echo "checks: restored CHECKSUM TABLE equals the master's (ours, bare-copy, bare-move in round 1)"
} | tee "$RESULT"
