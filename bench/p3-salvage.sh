#!/usr/bin/env bash
# P3: salvage of >= 1 GiB of binlogs over ssh with `mha-backup binlog archive` (the copy function the
# failover salvage uses: `ssh host cat -- FILE` per file, SHA-256 via libcrypto in the same pass, binlog
# scan, fsync, .sha256 file, rename; its ssh prefers aes128-gcm) against plain `ssh host cat` of the
# same files. Goal: >= 0.9x the throughput of plain ssh cat (default options, no checksum), > 1x where a
# faster cipher is allowed by the site's ssh (it is here: the sandbox sshd has OpenSSH's defaults).
#
#   bench/p3-salvage.sh          # ROUNDS=5, GIB=1.1 of binlog, BINLOG_MIB=256 (max_binlog_size)
#
# Setup: fresh sandbox --base 40, `mha-backup check`, replication stopped on h2/h3 (they would copy the
# whole load and write their own binlogs: only h1's files are measured), max_binlog_size = BINLOG_MIB on
# h1, database `bench`, INSERT ... SELECT of random-ish rows (md5/sha2 hex, picked words, numbers,
# dates) from seq_1_to_500000 until h1's binlogs hold GIB GiB (binlog_format ROW, so the rows are in
# the binlog), then FLUSH BINARY LOGS so every file but the new tiny one is closed. The files are in
# the page cache for every variant (just written, 23 GB RAM; caches are never dropped: others share it).
# Variants (one warm-up run each, not counted; then ROUNDS rounds, order reversed every other round):
#   ours           rm -rf <store>/binlogs/127.0.0.41_3306; mha-backup binlog archive --json
#   bare-default   ssh -i KEY -o UserKnownHostsFile=KNOWN root@127.0.0.41 cat FILES > /dev/null
#   bare-gcm-null  the same with -c aes128-gcm@openssh.com (the cipher alone)
#   bare-gcm-sha   ssh -c aes128-gcm@openssh.com ... cat FILES > FILE (same disk); openssl dgst -sha256 FILE
#                  (then, not counted, `sync FILE` is timed: the durability ours pays for with fsync)
#   bare-gcm-durable  the honest bare form (issue 9): ssh -c aes128-gcm ... cat FILES > FILE; sync FILE;
#                  openssl dgst -sha256 FILE, all counted: what a DBA would script, with ours' cipher
#   bare-default-durable  the same with ssh's default cipher
#   mha-save       what a user has without us: MHA's own `save_binary_logs --command=save` of the same
#                  files run over ssh on the host (to its /var/tmp), then `scp` back (default cipher)
# Results: bench/results/p3-<date>.txt; raw logs: bench/out/p3-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$PWD/bench/out/p3-$STAMP
RESULT=bench/results/p3-$STAMP.txt
mkdir -p "$OUT" bench/results
. bench/p2-lib.sh
ROUNDS=${ROUNDS:-5}
GIB=${GIB:-1.1}
BINLOG_MIB=${BINLOG_MIB:-256}
STORE=$ROOT/mha-backup/store
ARCH=$STORE/binlogs/${H1}_3306
BAREFILE=$ROOT/tmp/p3-bare.bin
KEY=$ROOT/ssh/id_ed25519
KNOWN=$ROOT/ssh/known_hosts
trap 'rm -f "$BAREFILE"; sb_down' EXIT

build
log "fresh sandbox"
sb_fresh
"$BIN" check > "$OUT/check.log" 2>&1 || true
sqlh 2 "STOP SLAVE"; sqlh 3 "STOP SLAVE"
sqlh 1 "SET GLOBAL max_binlog_size = $((BINLOG_MIB * 1048576));
CREATE DATABASE bench;
CREATE TABLE bench.rows (id BIGINT UNSIGNED PRIMARY KEY, k CHAR(32) NOT NULL, h CHAR(64) NOT NULL, n INT NOT NULL,
  amount DECIMAL(10,2) NOT NULL, at DATETIME NOT NULL, city VARCHAR(20) NOT NULL, note VARCHAR(120) NULL) ENGINE=InnoDB;"
target=$(python3 -c "print(int($GIB * 1073741824))")
binlog_bytes() { sqlh 1 "SHOW BINARY LOGS" | awk '{ s += $2 } END { print s + 0 }'; }
W="ELT(1 + FLOOR(RAND() * 16), 'please', 'deliver', 'back', 'door', 'call', 'before', 'arrival', 'fragile', 'gift', 'wrap', 'invoice', 'parcel', 'neighbour', 'floor', 'ring', 'twice')"
gen_start=$(date +%s); base=0
while [ "$(binlog_bytes)" -lt "$target" ]; do
    sqlh 1 "INSERT INTO bench.rows SELECT $base + seq, MD5(RAND()), SHA2(RAND(), 256), FLOOR(RAND() * 2000000000),
      ROUND(RAND() * 10000, 2), TIMESTAMP('2020-01-01') + INTERVAL FLOOR(RAND() * 150000000) SECOND,
      ELT(1 + FLOOR(RAND() * 8), 'Berlin', 'Hamburg', 'Munich', 'Cologne', 'Vienna', 'Zurich', 'Lyon', 'Prague'),
      IF(RAND() < 0.3, NULL, CONCAT_WS(' ', $W, $W, $W, IF(RAND() < 0.5, $W, NULL)))
      FROM bench.seq_1_to_500000"
    base=$((base + 500000))
    log "rows $base, binlogs $(numfmt --to=iec-i "$(binlog_bytes)")B"
done
sqlh 1 "FLUSH BINARY LOGS"
gen_s=$(( $(date +%s) - gen_start ))
mapfile -t NAMES < <(sqlh 1 "SHOW BINARY LOGS" | awk '{ print $1 }' | head -n -1)
FILES=(); BYTES=0
for n in "${NAMES[@]}"; do FILES+=("$ROOT/h1/data/$n"); BYTES=$((BYTES + $(stat -c %s "$ROOT/h1/data/$n"))); done
zr=$( { cat "${FILES[@]}" 2>/dev/null || true; } | head -c 268435456 | zstd -q -T0 -3 -c | wc -c)

{
    echo "P3: binlog salvage over ssh: mha-backup binlog archive vs plain ssh cat of the same files"
    echo "command: ROUNDS=$ROUNDS GIB=$GIB BINLOG_MIB=$BINLOG_MIB bench/p3-salvage.sh   (started $(date -u '+%F %T') UTC)"
    machine_header
    echo "data: ${#FILES[@]} closed binlogs of $H1, $BYTES bytes ($(numfmt --to=iec-i "$BYTES")B; max_binlog_size ${BINLOG_MIB} MiB;"
    echo "      $base rows generated in ${gen_s} s; zstd -3 of the first 256 MiB: ratio $(python3 -c "print('%.2f' % (268435456 / $zr))")x)"
    echo "files: ${NAMES[*]}"
    echo "MB/s = bytes / 1e6 / wall seconds (ours: the whole command, from start to exit)"
    echo
    printf '%-5s %-14s %-16s %8s %8s  %s\n' round variant "load before" seconds "MB/s" notes
} > "$RESULT"

SSHO=(-i "$KEY" -o UserKnownHostsFile="$KNOWN")
run_variant() { # round variant
    local r=$1 v=$2 la t0 t1 notes="" s
    la=$(loadavg)
    case $v in
        ours)
            rm -rf "$ARCH"
            t0=$EPOCHREALTIME
            "$BIN" binlog archive --json > "$OUT/ours-$r.json" 2> "$OUT/ours-$r.err" || die "binlog archive failed: $(tail -3 "$OUT/ours-$r.err")"
            t1=$EPOCHREALTIME
            notes=$(python3 - "$OUT/ours-$r.json" "$BYTES" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); want = int(sys.argv[2])
c = [f for f in j["files"] if f["action"] == "copied"]
b = sum(f["size"] for f in c); s = sum(f.get("seconds", 0) for f in c)
print("%d files copied, %d bytes%s; sum of per-file copy seconds %.3f" % (len(c), b, "" if b == want else " (MISMATCH: want %d)" % want, s))
EOF
)
            ;;
        bare-default)
            t0=$EPOCHREALTIME
            ssh "${SSHO[@]}" "root@$H1" cat "${FILES[@]}" > /dev/null
            t1=$EPOCHREALTIME ;;
        bare-gcm-null)
            t0=$EPOCHREALTIME
            ssh "${SSHO[@]}" -c aes128-gcm@openssh.com "root@$H1" cat "${FILES[@]}" > /dev/null
            t1=$EPOCHREALTIME ;;
        bare-gcm-sha)
            rm -f "$BAREFILE"
            t0=$EPOCHREALTIME
            ssh "${SSHO[@]}" -c aes128-gcm@openssh.com "root@$H1" cat "${FILES[@]}" > "$BAREFILE"
            openssl dgst -sha256 "$BAREFILE" > "$OUT/bare-sha-$r.txt"
            t1=$EPOCHREALTIME
            [ "$(stat -c %s "$BAREFILE")" = "$BYTES" ] || notes="SIZE MISMATCH "
            s=$EPOCHREALTIME; sync "$BAREFILE"
            notes+="then sync FILE: $(python3 -c "print('%.3f' % ($EPOCHREALTIME - $s))") s (not counted)"
            rm -f "$BAREFILE" ;;
        bare-gcm-durable|bare-default-durable)
            rm -f "$BAREFILE"
            local c=(); [ "$v" = bare-gcm-durable ] && c=(-c aes128-gcm@openssh.com)
            t0=$EPOCHREALTIME
            ssh "${SSHO[@]}" "${c[@]}" "root@$H1" cat "${FILES[@]}" > "$BAREFILE"
            sync "$BAREFILE"
            openssl dgst -sha256 "$BAREFILE" > "$OUT/bare-durable-$r.txt"
            t1=$EPOCHREALTIME
            [ "$(stat -c %s "$BAREFILE")" = "$BYTES" ] || notes="SIZE MISMATCH "
            rm -f "$BAREFILE" ;;
        mha-save)
            rm -f "$BAREFILE"
            t0=$EPOCHREALTIME
            ssh "${SSHO[@]}" "root@$H1" save_binary_logs --command=save --start_file="${NAMES[0]}" --start_pos=4 \
                --binlog_dir="$ROOT/h1/data" --output_file=/var/tmp/p3-saved.binlog --handle_raw_binlog=1 \
                --disable_log_bin=0 --manager_version=0.58 > "$OUT/mha-save-$r.log" 2>&1 || die "save_binary_logs failed: $(tail -3 "$OUT/mha-save-$r.log")"
            scp -q "${SSHO[@]}" "root@$H1:/var/tmp/p3-saved.binlog" "$BAREFILE"
            t1=$EPOCHREALTIME
            notes="$(stat -c %s "$BAREFILE") bytes saved (one file: the first with its header, the others without)"
            ssh "${SSHO[@]}" "root@$H1" rm -f /var/tmp/p3-saved.binlog
            rm -f "$BAREFILE" ;;
    esac
    python3 -c "
t = $t1 - $t0
print('%-5s %-14s %-16s %8.3f %8.1f  %s' % ('$r', '$v', '$la', t, $BYTES / 1e6 / t, '''$notes'''))" | tee -a "$RESULT" >&2
    echo "$r $v $(python3 -c "print($t1 - $t0)")" >> "$OUT/times"
}

VARS=(ours bare-default bare-gcm-null bare-gcm-sha bare-gcm-durable bare-default-durable mha-save)
log "warm-up (not counted)"
for v in "${VARS[@]}"; do run_variant w "$v"; done
: > "$OUT/times"
for r in $(seq 1 "$ROUNDS"); do
    vs=("${VARS[@]}")
    [ $((r % 2)) = 0 ] && vs=(mha-save bare-default-durable bare-gcm-durable bare-gcm-sha bare-gcm-null bare-default ours)
    for v in "${vs[@]}"; do run_variant "$r" "$v"; done
done
rm -f "$BAREFILE"
sb_down

python3 - "$OUT/times" "$BYTES" >> "$RESULT" <<'EOF'
import sys, statistics as st
t = {}
for line in open(sys.argv[1]):
    r, v, s = line.split(); t.setdefault(v, []).append(float(s))
b = int(sys.argv[2])
m = {v: st.median(x) for v, x in t.items()}
print()
print("medians (n=%d each):" % len(next(iter(t.values()))))
for v in ["ours", "bare-default", "bare-gcm-null", "bare-gcm-sha", "bare-gcm-durable", "bare-default-durable", "mha-save"]:
    print("  %-14s %7.3f s  %7.1f MB/s  (min %.3f, max %.3f)" % (v, m[v], b / 1e6 / m[v], min(t[v]), max(t[v])))
r = lambda a, c: m[c] / m[a]
print("throughput ratios (ours / bare):")
print("  ours / bare-default  = %.2fx   goal >= 0.9x: %s; > 1x (faster cipher allowed here): %s" % (r("ours", "bare-default"),
      "met" if r("ours", "bare-default") >= 0.9 else "NOT met", "met" if r("ours", "bare-default") > 1 else "NOT met"))
print("  ours / bare-gcm-null = %.2fx   (same cipher, no checksum, no disk)" % r("ours", "bare-gcm-null"))
print("  ours / bare-gcm-sha  = %.2fx   (same cipher, file on the same disk + openssl dgst -sha256 after, no fsync)" % r("ours", "bare-gcm-sha"))
print("  ours / bare-gcm-durable = %.2fx   issue 9's P3: the honest bare form (cat > FILE, sync, openssl dgst), same cipher; goal >= 1.0x: %s"
      % (r("ours", "bare-gcm-durable"), "met" if r("ours", "bare-gcm-durable") >= 1.0 else "NOT met"))
print("  ours / bare-default-durable = %.2fx   (the same with ssh's default cipher)" % r("ours", "bare-default-durable"))
print("  ours / mha-save      = %.2fx   (MHA's save_binary_logs over ssh + scp: what a user has without us)" % r("ours", "mha-save"))
EOF
echo "load average at end: $(loadavg)" >> "$RESULT"
log "results: $RESULT"
cat "$RESULT"
