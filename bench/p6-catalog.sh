#!/usr/bin/env bash
# P6: `mha-backup list`, `list --json`, the retention plan and `retention --json` on a synthetic
# store of 10,000 backups and 100,000 archived binlogs, and tier sync's plan (bench/p6-make-store.py: real manifest,
# COMMITTED, index.json and timeline.json formats; three timelines). Goal: <= 1 s and <= 100 MiB each.
#
#   bench/p6-catalog.sh                  # BACKUPS=10000 BINLOGS=100000 RUNS=3
#
# Release build (`swift build -c release`, made once if missing). No server, no sandbox: the
# commands read the local store only. Each command runs RUNS times under /usr/bin/time -v (stdout
# to /dev/null); the table has the median wall time and the largest max RSS.
# Results: bench/results/p6-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKUPS=${BACKUPS:-10000}
BINLOGS=${BINLOGS:-100000}
RUNS=${RUNS:-3}
STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULT=bench/results/p6-$STAMP.txt
STORE=$(mktemp -d /tmp/mha-backup-p6.XXXXXX)
trap 'rm -rf "$STORE"' EXIT
mkdir -p bench/results

# P6_BIN=path: a release binary built elsewhere (e.g. scripts/package's .build-package/release/mha-backup).
BIN=${P6_BIN:-.build/release/mha-backup}
[ -x "$BIN" ] || swift build -c release --product mha-backup >&2
END=$(python3 bench/p6-make-store.py "$STORE" "$BACKUPS" "$BINLOGS")
NOW="$END"   # plan as of the end of the synthetic history
CNF="$STORE/mha-backup.cnf"

{
    echo "P6: catalog scale, $BACKUPS backups and $BINLOGS archived binlogs (bench/p6-make-store.py)"
    echo "command: BACKUPS=$BACKUPS BINLOGS=$BINLOGS RUNS=$RUNS bench/p6-catalog.sh   (started $(date -u '+%F %T') UTC, commit $(git rev-parse --short HEAD))"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "retention --now '$NOW' (defaults: 7 daily, 4 weekly, 12 monthly; incrementals and binlogs 7 days)"
    echo
    printf '%-34s %10s %12s   %s\n' command "wall (s)" "max RSS" "all runs (s)"
} > "$RESULT"

measure() { # label, args...
    local label=$1; shift
    local walls=() rss=0 out
    for _ in $(seq "$RUNS"); do
        out=$( { /usr/bin/time -v "$BIN" --config "$CNF" "$@" > /dev/null; } 2>&1 )
        walls+=("$(echo "$out" | awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }')")
        local r; r=$(echo "$out" | awk -F': ' '/Maximum resident set size/ { print $2 }')
        [ "$r" -gt "$rss" ] && rss=$r
    done
    local median; median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    printf '%-34s %10s %9.1f MiB   %s\n' "$label" "$median" "$(echo "$rss / 1024" | bc -l)" "${walls[*]}" >> "$RESULT"
}

measure "list" list
measure "list --json" list --json
measure "retention (plan)" retention --now "$NOW"
measure "retention --json" retention --json --now "$NOW"
# tier sync's planning: a warm tier (rclone's local backend; --dry-run never calls rclone), every
# item of the synthetic history old enough to move.
printf '\n[tier warm]\ntype = local\npath = %s/warm\nafter = 7d\n' "$STORE" >> "$CNF"
measure "tier sync --dry-run (plan)" tier sync --dry-run
"$BIN" --config "$CNF" retention --now "$NOW" | tail -1 >> "$RESULT"
cat "$RESULT"
