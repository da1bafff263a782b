#!/usr/bin/env bash
# Drops the benchmark database `bench` on the sandbox master (replicated), waits for the replicas,
# and removes the bench scratch files under the sandbox tmp folder.
set -euo pipefail
cd "$(dirname "$0")"
. ./lib.sh

M=$(find_master) || die "no master found among the sandbox hosts"
sql "$M" "DROP DATABASE IF EXISTS $BENCH_DB"
wait_replicas "$M"
for n in 1 2 3; do
    [ -d "$SANDBOX/h$n/data/$BENCH_DB" ] && die "host $n still has $SANDBOX/h$n/data/$BENCH_DB"
done
rm -rf "$SANDBOX/tmp/bare" "$SANDBOX/tmp/bare.xbstream.zst" "$SANDBOX/tmp/bench-zstd-bytes"
log "dropped database $BENCH_DB on host $M and the replicas"
