#!/usr/bin/env bash
# Hook fuzz soak (not in CI): the seeded argv fuzz of Tests/MHABackupCoreTests/HookFuzzTests.swift
# (`fuzz`) run for RUNS calls of the four BUILT hook executables instead of CI's 270, each against a
# private folder under /tmp (an MHA app.cnf whose servers are 127.0.0.250/251, where nothing
# listens; state and store inside it). Every run is bounded by TIMEOUT seconds and checked as it
# ends: no signal exit, no hang, an exit code MHA's contract allows for that call (0, 1 for a status
# of an unknown master, 10 for shutdown_script stopssh, or the chained script's own), no password in
# stdout or stderr, nothing created outside its folder by a hostile value. Every RECYCLE cases a
# lane's folder is checked (workers ended within 30 s, nothing outside it, no password in any file,
# the audit trail holds MHA's argv with passwords masked) and replaced by a fresh one.
#
#   bench/hook-fuzz-soak.sh                       # RUNS=100000, LANES=3, TIMEOUT=30, RECYCLE=1000
#   RUNS=20000 SEED=42 bench/hook-fuzz-soak.sh
#   BUDGET=1200 bench/hook-fuzz-soak.sh           # stop starting cases after 20 min; report what ran
#
# SKIP_BUILD=1 uses the debug build that is there (`swift build --build-tests`), if no source is
# newer. Needs no sandbox. Result: bench/results/hook-fuzz-<date>.txt (the summary line, the load
# average before and after, every failure in full up to 50).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULT=bench/results/hook-fuzz-$STAMP.txt
mkdir -p bench/results
RUNS=${RUNS:-100000}
SEED=${SEED:-5568772816701315674}
LANES=${LANES:-3}
TIMEOUT=${TIMEOUT:-30}
RECYCLE=${RECYCLE:-1000}
BUDGET=${BUDGET:-}

if [ -n "${SKIP_BUILD:-}" ]; then
    built=.build/debug/mha-backupPackageTests.xctest
    [ -e "$built" ] && [ -x .build/debug/mha-backup-shutdown ] || die "SKIP_BUILD: no debug build; run swift build --build-tests"
    [ -z "$(find Sources Tests Package.swift -newer "$built" -type f | head -1)" ] || die "SKIP_BUILD: sources are newer than $built"
else
    log "building: swift build --build-tests"
    swift build --build-tests 2>&1 | tail -n 1
fi

{
    echo "hook fuzz soak $STAMP  commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Tests || echo ' (with uncommitted changes)')"
    echo "RUNS=$RUNS SEED=$SEED LANES=$LANES TIMEOUT=$TIMEOUT RECYCLE=$RECYCLE BUDGET=${BUDGET:-none}"
    echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULT"
log "fuzzing: $RUNS runs in $LANES lanes"
start=$(date +%s)
set +e
HOOK_FUZZ_RUNS=$RUNS HOOK_FUZZ_SEED=$SEED HOOK_FUZZ_LANES=$LANES HOOK_FUZZ_TIMEOUT=$TIMEOUT \
HOOK_FUZZ_RECYCLE=$RECYCLE HOOK_FUZZ_SECONDS=$BUDGET \
    swift test --skip-build --filter 'HookFuzzTests/fuzz' 2>&1 |
    grep --line-buffered -E '^hook fuzz:|recorded an issue|^↳|^✘|^✔ Test run' | tee -a "$RESULT" >&2
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
{
    echo "wall: $((end - start)) s, load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    grep '^hook fuzz: [0-9]* runs (' "$RESULT" | tail -n 1 || echo "no summary line: the test did not finish"
    [ "$rc" = 0 ] && echo "result: PASS" || echo "result: FAIL (swift test exit $rc)"
} | tee -a "$RESULT"
log "result: $RESULT"
exit "$rc"
