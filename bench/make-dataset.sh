#!/usr/bin/env bash
# Makes the benchmark dataset: database `bench` on the sandbox master, InnoDB tables of at least
# BENCH_TARGET_MIB MiB (default 1100) of .ibd on every host, rows that compress like real tables
# (ints, dates, decimals, names/words from vocabularies, md5 hex, some NULLs: about 2-4x with zstd -3,
# not repeated strings). Generated server-side (INSERT ... SELECT FROM seq_1_to_N) in batches and
# replicated; waits for the replicas (MASTER_GTID_WAIT) after every batch so they never lag by more
# than one batch. Idempotent: a complete dataset is only measured again; a partial one is resumed.
#
#   bench/make-dataset.sh            # make (or check) the dataset, print sizes and zstd ratio
#   BENCH_TARGET_MIB=200 bench/make-dataset.sh   # a smaller one (trying the script out)
#
# The master session logs in STATEMENT format (RAND() is replicated with its seeds, ids are explicit,
# every SELECT is ordered), so the master's binlog grows by a few KB instead of by the whole dataset.
# The replicas run with log_slave_updates and binlog_format=ROW, so their own binlogs do get the rows.
set -euo pipefail
cd "$(dirname "$0")"
. ./lib.sh

TARGET_MIB=${BENCH_TARGET_MIB:-1100}
BATCH=${BENCH_BATCH:-250000}          # orders rows per INSERT ... SELECT
CUST_EVERY=8                          # one batch of customers every CUST_EVERY order batches
MEASURE_HOST=${BENCH_MEASURE_HOST:-2} # the host whose .ibd files are measured (the backup source)

M=$(find_master) || die "no master found among the sandbox hosts"
log "master is host $M ($(host_addr "$M")); target ${TARGET_MIB} MiB of .ibd"

# ELT(1 + FLOOR(RAND() * n), 'a', 'b', ...): one random pick from a word list.
pick() {
    local out="" w
    for w in "$@"; do out+="${out:+,}'$w'"; done
    echo "ELT(1 + FLOOR(RAND() * $#), $out)"
}
FIRST=(Anna Ben Carla David Elena Farid Greta Hugo Irene Jonas Karin Leo Maria Nils Olga Pavel Rosa
       Sven Tanja Umar Vera Walter Yusuf Zoe Ahmed Bianca Cem Dora Emil Fatma Georg Hanna Ivan Jana
       Kurt Lena Mehmet Nora Otto Petra)
LAST=(Schmidt Mueller Weber Fischer Wagner Becker Hoffmann Schulz Koch Richter Klein Wolf Neumann
      Schwarz Zimmermann Braun Krueger Hartmann Lange Werner Krause Lehmann Koehler Maier Kaiser
      Fuchs Peters Lang Scholz Moeller Yilmaz Kaya Demir Sahin Novak Horvat Kowalski Nowak Rossi Russo)
CITY=(Berlin Hamburg Munich Cologne Frankfurt Stuttgart Duesseldorf Leipzig Dortmund Essen Bremen
      Dresden Hanover Nuremberg Duisburg Bochum Wuppertal Bielefeld Bonn Muenster Vienna Graz Linz
      Zurich Basel Bern Geneva Lyon Lille Prague Brno Warsaw Krakow Milan Turin Madrid Porto Lisbon
      Ghent Antwerp)
DOMAIN=(example.com mail.test post.example web.test inbox.example corp.test shop.example)
CURRENCY=(EUR EUR EUR EUR CHF USD GBP PLN CZK)
CATEGORY=(BOOK TOY GARD KITC TOOL ELEC SPRT HLTH BEAU AUTO PETS OFFC FOOD HOME)
WORDS=(please deliver to back door call before arrival fragile gift wrap no invoice in parcel
       leave with neighbour second floor ring twice express weekend not before monday after six
       customer asked for refund damaged box replaced item missing part ticket open closed resolved
       warehouse north south east west bay shelf pallet label printed scanned returned restocked
       discount code applied voucher partial payment pending bank transfer card declined retry later
       address changed postcode wrong phone unreachable email sent reminder second third final
       priority low normal high urgent blue red green black white large small medium size colour
       exchange requested approved rejected manager note review stock count courier tracking delay
       customs cleared held inspection signature required pickup point locker opened collected)

W=$(pick "${WORDS[@]}")
# 0-8 words; NULL for a third of the rows.
NOTE="IF(RAND() < 0.33, NULL, CONCAT_WS(' ', $W, $W, IF(RAND() < 0.8, $W, NULL), IF(RAND() < 0.6, $W, NULL), IF(RAND() < 0.5, $W, NULL), IF(RAND() < 0.4, $W, NULL), IF(RAND() < 0.3, $W, NULL), IF(RAND() < 0.2, $W, NULL)))"

ensure_schema() {
    sql "$M" "
CREATE DATABASE IF NOT EXISTS $BENCH_DB;
CREATE TABLE IF NOT EXISTS $BENCH_DB.meta (k VARCHAR(32) PRIMARY KEY, v VARCHAR(255) NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS $BENCH_DB.customers (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  first_name VARCHAR(30) NOT NULL,
  last_name VARCHAR(30) NOT NULL,
  email VARCHAR(80) NOT NULL,
  phone VARCHAR(20) NULL,
  city VARCHAR(40) NOT NULL,
  postcode CHAR(5) NOT NULL,
  created_at DATETIME NOT NULL,
  credit_limit DECIMAL(10,2) NULL,
  api_key CHAR(32) NOT NULL,
  KEY k_email (email),
  KEY k_city (city, last_name)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS $BENCH_DB.orders (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id INT UNSIGNED NOT NULL,
  status VARCHAR(12) NOT NULL,
  sku VARCHAR(16) NOT NULL,
  qty SMALLINT UNSIGNED NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  created_at DATETIME NOT NULL,
  shipped_at DATETIME NULL,
  tracking CHAR(32) NULL,
  warehouse TINYINT UNSIGNED NOT NULL,
  note VARCHAR(255) NULL,
  KEY k_customer (customer_id, created_at),
  KEY k_status (status, created_at)
) ENGINE=InnoDB;"
}

insert_customers() { # $1 = first id - 1
    local base=$1
    sql "$M" "SET SESSION binlog_format = 'STATEMENT';
INSERT INTO $BENCH_DB.customers
SELECT $base + seq,
       $(pick "${FIRST[@]}"),
       $(pick "${LAST[@]}"),
       CONCAT(LOWER($(pick "${FIRST[@]}")), '.', LOWER($(pick "${LAST[@]}")), FLOOR(RAND() * 1000), '@', $(pick "${DOMAIN[@]}")),
       IF(RAND() < 0.25, NULL, CONCAT('+49 ', 150 + FLOOR(RAND() * 30), ' ', LPAD(FLOOR(RAND() * 10000000), 7, '0'))),
       $(pick "${CITY[@]}"),
       LPAD(FLOOR(RAND() * 100000), 5, '0'),
       TIMESTAMP('2015-01-01') + INTERVAL FLOOR(($base + seq) * 0.9 + RAND() * 3600) SECOND,
       IF(RAND() < 0.4, NULL, FLOOR(RAND() * 200) * 50),
       MD5(RAND())
FROM $BENCH_DB.seq_1_to_$BATCH ORDER BY seq;"
}

insert_orders() { # $1 = first id - 1, $2 = customers so far
    local base=$1 ncust=$2
    # No derived table and no sort: the statement needs no temporary table on any host (an on-disk
    # temp table lives in tmpdir=/tmp, shared with everyone's tests here). The status comes from a
    # CRC32 of the id, so shipped_at/tracking can follow it within the same row without one.
    local k="(1 + CRC32(CONCAT('status', $base + seq)) % 12)"
    local shipped="$k BETWEEN 5 AND 11"   # shipped x4, delivered x2, returned x1 of the 12 slots
    sql "$M" "SET SESSION binlog_format = 'STATEMENT';
INSERT INTO $BENCH_DB.orders
SELECT $base + seq,
       1 + FLOOR(RAND() * $ncust),
       ELT($k, 'new','paid','paid','paid','shipped','shipped','shipped','shipped','delivered','delivered','returned','cancelled'),
       CONCAT($(pick "${CATEGORY[@]}"), '-', LPAD(FLOOR(RAND() * 100000), 5, '0')),
       IF(RAND() < 0.7, 1, 1 + FLOOR(RAND() * 12)),
       ROUND(EXP(RAND() * 7), 2),
       $(pick "${CURRENCY[@]}"),
       TIMESTAMP('2020-01-01') + INTERVAL FLOOR(($base + seq) * 4.3 + RAND() * 60) SECOND,
       IF($shipped, TIMESTAMP('2020-01-01') + INTERVAL FLOOR(($base + seq) * 4.3 + 3600 + RAND() * 400000) SECOND, NULL),
       IF($shipped, MD5(RAND()), NULL),
       1 + FLOOR(RAND() * 6),
       $NOTE
FROM $BENCH_DB.seq_1_to_$BATCH ORDER BY seq;"
}

orders_count() { sql "$M" "SELECT COALESCE(MAX(id), 0) FROM $BENCH_DB.orders"; }
cust_count() { sql "$M" "SELECT COALESCE(MAX(id), 0) FROM $BENCH_DB.customers"; }
target_bytes=$((TARGET_MIB * 1048576))

# The .ibd sizes on the host being measured after FLUSH TABLES ... FOR EXPORT (every page written),
# and zstd -3 of them. Prints: ibd_bytes zstd_bytes
measure() {
    local n=$1
    # FOR EXPORT holds a lock on these tables only while the client's `system` command runs.
    sql "$n" "FLUSH TABLES $BENCH_DB.orders, $BENCH_DB.customers FOR EXPORT;
system cat $SANDBOX/h$n/data/$BENCH_DB/orders.ibd $SANDBOX/h$n/data/$BENCH_DB/customers.ibd | zstd -q -T0 -3 -c | wc -c > $SANDBOX/tmp/bench-zstd-bytes
UNLOCK TABLES;"
    echo "$(du -cb "$SANDBOX/h$n/data/$BENCH_DB/orders.ibd" "$SANDBOX/h$n/data/$BENCH_DB/customers.ibd" | tail -1 | cut -f1) $(cat "$SANDBOX/tmp/bench-zstd-bytes")"
    rm -f "$SANDBOX/tmp/bench-zstd-bytes"
}

report() {
    local n rows_o rows_c
    sql "$M" "ANALYZE TABLE $BENCH_DB.orders, $BENCH_DB.customers" >/dev/null
    rows_o=$(sql "$M" "SELECT COUNT(*) FROM $BENCH_DB.orders")
    rows_c=$(sql "$M" "SELECT COUNT(*) FROM $BENCH_DB.customers")
    echo "dataset: database $BENCH_DB on master host $M; orders $rows_o rows, customers $rows_c rows"
    echo "information_schema (master, after ANALYZE TABLE):"
    sql "$M" "SELECT CONCAT('  ', table_name, ': data ', ROUND(data_length/1048576), ' MiB + index ', ROUND(index_length/1048576), ' MiB')
              FROM information_schema.tables WHERE table_schema = '$BENCH_DB' AND table_name IN ('orders','customers');
              SELECT CONCAT('  total data+index: ', ROUND(SUM(data_length + index_length)/1048576), ' MiB')
              FROM information_schema.tables WHERE table_schema = '$BENCH_DB'"
    for n in 1 2 3; do
        [ -d "$SANDBOX/h$n/data/$BENCH_DB" ] && echo "  .ibd on host $n: $(human "$(ibd_bytes "$n")")"
    done
    read -r ibd z < <(measure "$MEASURE_HOST")
    echo "zstd -3 of the .ibd files on host $MEASURE_HOST: $(human "$ibd") -> $(human "$z"), ratio $(awk -v a="$ibd" -v b="$z" 'BEGIN{printf "%.2f", a/b}')x"
}

ensure_schema
if [ "$(sql "$M" "SELECT v FROM $BENCH_DB.meta WHERE k = 'complete'")" = "$TARGET_MIB" ] \
   && [ "$(ibd_bytes "$MEASURE_HOST")" -ge "$target_bytes" ] 2>/dev/null; then
    log "dataset already complete (${TARGET_MIB} MiB); checking the replicas and measuring"
    wait_replicas "$M"
    report
    exit 0
fi

sql "$M" "DELETE FROM $BENCH_DB.meta WHERE k = 'complete'"
start=$(date +%s)
norders=$(orders_count); ncust=$(cust_count)
[ $((norders % BATCH)) = 0 ] && [ $((ncust % BATCH)) = 0 ] || die "partial batch found (orders $norders, customers $ncust); run bench/drop-dataset.sh first"
[ "$norders" -gt 0 ] && log "resuming: $norders orders, $ncust customers already there"
i=$((norders / BATCH))
while :; do
    # Sizes on both the master and the measured host (file sizes grow as pages are allocated).
    m_bytes=$(ibd_bytes "$M"); s_bytes=$(ibd_bytes "$MEASURE_HOST")
    [ "${m_bytes:-0}" -ge "$target_bytes" ] && [ "${s_bytes:-0}" -ge "$target_bytes" ] && break
    if [ $((i % CUST_EVERY)) = 0 ]; then
        insert_customers "$ncust"; ncust=$((ncust + BATCH))
    fi
    insert_orders "$norders" "$ncust"; norders=$((norders + BATCH)); i=$((i + 1))
    wait_replicas "$M"
    log "batch $i: orders $norders, customers $ncust; .ibd master $(human "$(ibd_bytes "$M")"), host $MEASURE_HOST $(human "$(ibd_bytes "$MEASURE_HOST")"); load $(cut -d' ' -f1-3 /proc/loadavg)"
done
sql "$M" "REPLACE INTO $BENCH_DB.meta VALUES ('complete', '$TARGET_MIB'), ('orders', '$norders'), ('customers', '$ncust')"
wait_replicas "$M"
log "generated in $(( $(date +%s) - start )) s"
report
