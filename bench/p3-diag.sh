#!/usr/bin/env bash
# P3 diagnosis (not a benchmark): where does `mha-backup binlog archive` spend its time compared with
# `ssh -c aes128-gcm cat > file`? Fresh sandbox --base 40, GIB (default 0.5) of binlogs on h1 made as in
# p3-salvage.sh, then once each under /usr/bin/time, and ours once more under `perf record -g`
# (children followed: ssh too). Output: bench/results/p3-diag-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$PWD/bench/out/p3-diag-$STAMP
RESULT=bench/results/p3-diag-$STAMP.txt
mkdir -p "$OUT" bench/results
. bench/p2-lib.sh
GIB=${GIB:-0.5}
ARCH=$ROOT/mha-backup/store/binlogs/${H1}_3306
BAREFILE=$ROOT/tmp/p3-bare.bin
trap 'rm -f "$BAREFILE"; sb_down' EXIT
SKIP_BUILD=1 build
sb_fresh
"$BIN" check > "$OUT/check.log" 2>&1 || true
sqlh 2 "STOP SLAVE"; sqlh 3 "STOP SLAVE"
sqlh 1 "SET GLOBAL max_binlog_size = 268435456; CREATE DATABASE bench;
CREATE TABLE bench.rows (id BIGINT UNSIGNED PRIMARY KEY, k CHAR(32) NOT NULL, h CHAR(64) NOT NULL, n INT NOT NULL) ENGINE=InnoDB;"
target=$(python3 -c "print(int($GIB * 1073741824))"); base=0
while [ "$(sqlh 1 "SHOW BINARY LOGS" | awk '{ s += $2 } END { print s + 0 }')" -lt "$target" ]; do
    sqlh 1 "INSERT INTO bench.rows SELECT $base + seq, MD5(RAND()), SHA2(RAND(), 256), FLOOR(RAND() * 2000000000) FROM bench.seq_1_to_500000"
    base=$((base + 500000))
done
sqlh 1 "FLUSH BINARY LOGS"
mapfile -t NAMES < <(sqlh 1 "SHOW BINARY LOGS" | awk '{ print $1 }' | head -n -1)
FILES=(); BYTES=0
for n in "${NAMES[@]}"; do FILES+=("$ROOT/h1/data/$n"); BYTES=$((BYTES + $(stat -c %s "$ROOT/h1/data/$n"))); done
{
    echo "P3 diagnosis: ${#FILES[@]} files, $BYTES bytes; $(nproc) cores; load $(loadavg); build $VERSION"
    echo "command: GIB=$GIB bench/p3-diag.sh"
    TF="%e s wall, %U s user, %S s sys (process and its children)"
    for i in 1 2; do
        rm -rf "$ARCH"
        echo "ours (binlog archive): $( { /usr/bin/time -f "$TF" "$BIN" binlog archive > /dev/null; } 2>&1 )"
        rm -f "$BAREFILE"
        echo "bare ssh -c aes128-gcm cat > file: $( { /usr/bin/time -f "$TF" ssh -i "$ROOT/ssh/id_ed25519" -o UserKnownHostsFile="$ROOT/ssh/known_hosts" -c aes128-gcm@openssh.com "root@$H1" cat "${FILES[@]}" > "$BAREFILE"; } 2>&1 )"
        echo "  openssl dgst -sha256 of it: $( { /usr/bin/time -f "$TF" openssl dgst -sha256 "$BAREFILE" > /dev/null; } 2>&1 )"
    done
    rm -rf "$ARCH"
    echo "strace -f -c of ours (syscall counts; slows it, only the counts matter):"
    strace -f -c -o "$OUT/strace.txt" "$BIN" binlog archive > /dev/null 2>&1 || true
    head -25 "$OUT/strace.txt"
    rm -rf "$ARCH"
    perf record -q -F 999 -g -o "$OUT/perf.data" -- "$BIN" binlog archive > /dev/null 2>&1 || true
    echo "perf report (self time, top entries; command, shared object, symbol):"
    perf report -i "$OUT/perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40
} > "$RESULT" 2>&1
rm -f "$BAREFILE"
cat "$RESULT"
