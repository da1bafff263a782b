#!/usr/bin/env bash
# P4: our full backup pipeline against the best bare form of the same work over ssh.
#
#   bench/make-dataset.sh && bench/p4-backup.sh      # then bench/drop-dataset.sh
#
# Builds release, warms up (one run of each, not counted), then ROUNDS rounds (default 5). Each
# round runs every variant once; odd rounds start with ours, even rounds with the bare forms (the
# order is reversed), so page cache and neighbours' load fall on both sides alike.
#
#   ours            .build/release/mha-backup backup full --source SRC --json   (the sandbox config:
#                   nice 10 + ionice -c2 -n7 on the source, zstd -T0 -3 there, SHA-256 via libcrypto
#                   on a second thread while writing, fsync, checkpoint files (in the same ssh
#                   session since 152f194, a second ssh before), manifest, commit marker)
#   ours-nice0      the same with a temp copy of the config (mode 0600) that sets nice = 0 under [backup]
#   bare-sha256sum  ssh SRC 'mkdir -p DIR && mariabackup <same options> | zstd -q -T0 -3 -c' > FILE && sha256sum FILE
#   bare-openssl    the same, hashed with openssl dgst -sha256 (SHA-NI; coreutils sha256sum has none here)
#   bare-openssl-fsync  bare-openssl + `sync FILE` (fsync), the durability ours pays for with its fsync
#   bare-nice10     bare-openssl with ours' `nice -n 10 ionice -c 2 -n 7` in front of mariabackup
#   ours-encrypted  ours with a temp copy of the config that adds [encryption] key_file (a fresh
#                   random key, mode 0600): AES-256-GCM in 1 MiB chunks before the hash and the write
# The bare forms take ours' exact mariabackup argv (from the warm-up run's manifest, toolCommand)
# minus nice/ionice, and the config's zstd level, so the ratio compares the pipelines, not options.
#
# Outputs are deleted between runs (ours: the catalog folder of the id it printed; bare: the file
# and its lsn dir). Results: bench/results/p4-<date>.txt; raw logs: bench/out/p4-<date>/ (ignored by git).
# P4_REF=<commit> builds and measures a snapshot of that commit instead of the working tree (kept in
# bench/out/src-<rev>, ignored by git, reused by the next run of the same commit; delete when done).
# Set P4_TRACE=0 to skip the extra strace'd run of ours that prints where its time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-5}
SRC=${BENCH_SOURCE:-$(host_addr 2)}
CONF=${MHA_BACKUP_CONFIG:-$SANDBOX/mha-backup/mha-backup.cnf}
BIN=$PWD/.build/release/mha-backup
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=bench/out/p4-$STAMP
RESULT=bench/results/p4-$STAMP.txt
mkdir -p "$OUT" bench/results

STORE=$(ini mha-backup store_dir)/backups
RTMP=$(ini backup remote_tmpdir)
[ "$STORE" != /backups ] && [ -n "$RTMP" ] || die "cannot read store_dir and remote_tmpdir from $CONF"
BARE_DIR=$RTMP/bare
BARE_FILE=$RTMP/bare.xbstream.zst
[ "$(ini backup compression)" = zstd ] || die "the config's [backup] compression is not zstd"
LEVEL=$(ini backup compression_level); LEVEL=${LEVEL:-3}
ZSTD="zstd -q -T0 -$LEVEL -c"     # as Compression.compressArgv
# The bare forms run the same mariabackup argv as ours: derive_bare takes it from the toolCommand of
# ours' manifest (the warm-up run), drops the nice/ionice prefix and points the lsn/target dir at
# BARE_DIR. BARE_REMOTE_NICE keeps ours' prefix (nice/ionice on mariabackup only, as ours does).
derive_bare() { # $1 = ours' --json output
    local a tool="" prefix="" args=""
    while IFS= read -r a; do
        if [ -z "$tool" ]; then
            case $a in mariabackup|xtrabackup) tool=$a; args=$a ;; *) prefix+="${prefix:+ }$(printf %q "$a")" ;; esac
            continue
        fi
        case $a in
            --extra-lsndir=*) a=--extra-lsndir=$BARE_DIR ;;
            --target-dir=*) a=--target-dir=$BARE_DIR ;;
        esac
        args+=" $(printf %q "$a")"
    done < <(jq -r '.toolCommand[]' "$1")
    [ -n "$tool" ] || die "no mariabackup/xtrabackup in the toolCommand of $1"
    BARE_MB=$args
    NICE_PREFIX=$prefix
    BARE_REMOTE="mkdir -p -m 700 $BARE_DIR && $BARE_MB | $ZSTD"
    BARE_REMOTE_NICE="mkdir -p -m 700 $BARE_DIR && $NICE_PREFIX $BARE_MB | $ZSTD"
}

# Temp config with nice = 0 under [backup]; everything else (credentials path included) unchanged.
NICE0_DIR=$(mktemp -d /tmp/p4-nice0.XXXXXX)
chmod 700 "$NICE0_DIR"
NICE0_CONF=$NICE0_DIR/mha-backup.cnf
(umask 077; awk '/^\[/ { sec = $0 } { if (sec == "[backup]" && $0 ~ /^[ \t]*nice[ \t]*=/) print "nice = 0"; else print }' "$CONF" > "$NICE0_CONF")
chmod 600 "$NICE0_CONF"
grep -q '^nice = 0$' "$NICE0_CONF" || die "could not set nice = 0 in the temp config"
# Temp config with [encryption] key_file (a random key of its own); everything else unchanged.
ENC_CONF=$NICE0_DIR/mha-backup-encrypted.cnf
(umask 077; head -c 32 /dev/urandom > "$NICE0_DIR/bench.key"; cat "$CONF" > "$ENC_CONF"
 printf '\n[encryption]\nkey_file = %s\n' "$NICE0_DIR/bench.key" >> "$ENC_CONF")
chmod 600 "$ENC_CONF" "$NICE0_DIR/bench.key"
cleanup() { rm -rf "$NICE0_DIR" "$BARE_FILE" "$BARE_DIR"; }
trap cleanup EXIT

# Build: the working tree (default), or with P4_REF=<commit> a snapshot of that commit (git archive
# into bench/out/src-<rev>), so edits others are making in the tree neither break nor change the run.
if [ -n "${P4_REF:-}" ]; then
    rev=$(git rev-parse --short "$P4_REF")
    SRCDIR=$PWD/bench/out/src-$rev
    if [ ! -f "$SRCDIR/Package.swift" ]; then
        mkdir -p "$SRCDIR" && git archive "$P4_REF" | tar -x -C "$SRCDIR"
    fi
    log "building release of $rev in $SRCDIR"
    (cd "$SRCDIR" && swift build -c release) > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log" >&2; die "release build of $rev failed"; }
    BIN=$SRCDIR/.build/release/mha-backup
    VERSION="$rev (snapshot of $P4_REF via git archive), release build"
else
    log "building release"
    swift build -c release > "$OUT/build.log" 2>&1 || { grep -E 'error:' "$OUT/build.log" | head -5 >&2; die "release build failed (try P4_REF=HEAD)"; }
    VERSION="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' + uncommitted changes'), release build"
fi
[ -x "$BIN" ] || die "no $BIN"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Machine-wide CPU ticks (1/100 s): "busy steal" (busy = user+nice+system+irq+softirq). The delta over
# a run is our pipeline's CPU (both ends: the source is on this machine too) plus whatever others ran.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9; exit }' /proc/stat; }

# Don't start while another mariabackup runs (someone else's test): it would share the cores and the
# source's SQL thread (--safe-slave-backup). A stopped one (a paused job, state T) uses no CPU and is
# ignored. Waits up to 10 min, then runs anyway and says so.
busy_mariabackup() { ps -C mariabackup -o stat= 2>/dev/null | grep -qv '^T'; }
wait_quiet() {
    local i
    for i in $(seq 1 120); do
        busy_mariabackup || return 0
        [ "$i" = 1 ] && log "another mariabackup is running; waiting"
        sleep 5
    done
    log "WARNING: another mariabackup still runs; measuring anyway"
    echo "note: a run started while another mariabackup was running" >> "$OUT/notes"
}

# Each run sets T (wall seconds), BYTES (compressed size), SHA.
run_ours() { # $1 = config, $2 = log name
    local conf=$1 name=$2 t0 t1 id attempt
    for attempt in 1 2 3; do
        t0=$EPOCHREALTIME
        if MHA_BACKUP_CONFIG=$conf "$BIN" backup full --source "$SRC" --json > "$OUT/$name.json" 2> "$OUT/$name.err"; then
            t1=$EPOCHREALTIME
            id=$(jq -r .id "$OUT/$name.json")
            BYTES=$(jq -r .compressedBytes "$OUT/$name.json")
            SHA=$(jq -r '.files[0].sha256' "$OUT/$name.json")
            T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
            [ -n "$id" ] && [ "$id" != null ] && [[ $id != */* ]] && rm -rf -- "${STORE:?}/$id"
            return 0
        fi
        log "ours failed (attempt $attempt): $(tail -1 "$OUT/$name.err")"
        id=$(jq -r '.id // empty' "$OUT/$name.json" 2>/dev/null || true)
        sleep 15; wait_quiet
    done
    die "ours failed 3 times; see $OUT/$name.err"
}

run_bare() { # $1 = hash program (sha256sum | openssl), $2 = fsync (0|1), $3 = log name, $4 = remote command
    local hash=$1 dosync=$2 name=$3 remote=${4:-$BARE_REMOTE} t0 tm th t1
    rm -rf "$BARE_DIR" "$BARE_FILE"
    t0=$EPOCHREALTIME
    ssh "${SSH_OPTS[@]}" "root@$SRC" "$remote" > "$BARE_FILE" 2> "$OUT/$name.err"
    tm=$EPOCHREALTIME
    if [ "$hash" = sha256sum ]; then
        SHA=$(sha256sum "$BARE_FILE" | cut -d' ' -f1)
    else
        SHA=$(openssl dgst -sha256 -r "$BARE_FILE" | cut -d' ' -f1)
    fi
    th=$EPOCHREALTIME
    [ "$dosync" = 1 ] && sync "$BARE_FILE"
    t1=$EPOCHREALTIME
    PHASES=$(awk -v a="$t0" -v m="$tm" -v h="$th" -v b="$t1" -v s="$dosync" 'BEGIN {
        printf "ssh %.2f + hash %.2f", m - a, h - m; if (s == 1) printf " + fsync %.2f", b - h }')
    grep -q 'completed OK!' "$OUT/$name.err" || die "bare mariabackup failed; see $OUT/$name.err"
    T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    BYTES=$(stat -c %s "$BARE_FILE")
}

run_variant() { # $1 = variant, $2 = round label
    local v=$1 r=$2 l
    wait_quiet
    l=$(loadavg)
    read -r b0 s0 < <(cpu_ticks)
    PHASES=""
    case $v in
        ours) run_ours "$CONF" "r$r-$v" ;;
        ours-nice0) run_ours "$NICE0_CONF" "r$r-$v" ;;
        ours-encrypted) run_ours "$ENC_CONF" "r$r-$v" ;;
        bare-sha256sum) run_bare sha256sum 0 "r$r-$v" ;;
        bare-openssl) run_bare openssl 0 "r$r-$v" ;;
        bare-openssl-fsync) run_bare openssl 1 "r$r-$v" ;;
        bare-nice10) run_bare openssl 0 "r$r-$v" "$BARE_REMOTE_NICE" ;;
    esac
    read -r b1 s1 < <(cpu_ticks)
    CPU=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.1f", (b - a) / 100 }')
    STEAL=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", (b - a) / 100 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$v" "$T" "$BYTES" "$CPU" "$STEAL" "$l${PHASES:+  ($PHASES)}" >> "$OUT/runs.tsv"
    log "round $r $(printf '%-19s' "$v") $T s  $(human "$BYTES")  cpu ${CPU} s steal ${STEAL} s  load before: $l${PHASES:+  ($PHASES)}"
}

VARIANTS=(ours bare-sha256sum ours-nice0 bare-openssl bare-nice10 bare-openssl-fsync ours-encrypted)
: > "$OUT/runs.tsv"

log "warm-up (not counted): ours first, its manifest gives the bare forms their mariabackup argv"
run_variant ours w
derive_bare "$OUT/rw-ours.json"
log "bare: ssh root@$SRC '$BARE_REMOTE'"
run_variant bare-openssl w

for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order=("${VARIANTS[@]}"); else
        order=(); for ((k = ${#VARIANTS[@]} - 1; k >= 0; k--)); do order+=("${VARIANTS[k]}"); done
    fi
    for v in "${order[@]}"; do run_variant "$v" "$r"; done
done

# Uncompressed stream size of the last bare file (its zstd ratio), outside the timings.
run_bare openssl 0 ratio >/dev/null
RAW=$(zstd -dc "$BARE_FILE" | wc -c)
Z=$(stat -c %s "$BARE_FILE")

# Where ours spends its time: one more run under strace (execve, fsync, rename, exits), not counted.
TRACE_SUMMARY=""
if [ "${P4_TRACE:-1}" = 1 ] && command -v strace >/dev/null; then
    wait_quiet
    tr=$OUT/ours.strace
    t0=$EPOCHREALTIME
    MHA_BACKUP_CONFIG=$CONF strace -f -ttt -T --seccomp-bpf -e trace=execve,fsync,fdatasync,rename,renameat,renameat2,exit_group \
        -o "$tr" "$BIN" backup full --source "$SRC" --json > "$OUT/trace.json" 2> "$OUT/trace.err" || true
    t1=$EPOCHREALTIME
    id=$(jq -r '.id // empty' "$OUT/trace.json" 2>/dev/null || true)
    [ -n "$id" ] && [[ $id != */* ]] && rm -rf -- "${STORE:?}/$id"
    TRACE_SUMMARY=$(awk -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" '
        # lines: PID TIME syscall(...) = RET <DUR>   or   PID TIME +++ exited with N +++
        { pid = $1; t = $2 }
        NR == 1 { t0 = t }
        /execve\(/ { prog = $3; sub(/^execve\("/, "", prog); sub(/".*/, "", prog); n = split(prog, p, "/"); prog = p[n]
                     name[pid] = prog; start[pid] = t
                     if (prog == "mariadb" || prog == "mysql") { if (!fm) fm = t; nclient++ }
                     if (prog == "ssh") { nssh++; sshpid[nssh] = pid } }
        /\+\+\+ exited/ { end[pid] = t; if (name[pid] == "mariadb" || name[pid] == "mysql") lm = t; last = t }
        /fsync|fdatasync/ && $NF ~ /^<[0-9.]+>$/ { d = $NF; gsub(/[<>]/, "", d); nf++; fs += d; if (d > fmax) fmax = d }
        END {
            printf "strace run of ours: wall %.2f s (strace adds a little)\n", wall
            printf "  start -> first mariadb client:            %.3f s\n", fm - t0
            printf "  topology/status clients: %d runs, %.3f s from first start to last exit\n", nclient, lm - fm
            for (i = 1; i <= nssh; i++) { q = sshpid[i]
                printf "  ssh #%d: starts at %.3f s, runs %.3f s\n", i, start[q] - t0, end[q] - start[q] }
            q = sshpid[1]
            printf "  after the streaming ssh exits -> exit:    %.3f s\n", last - end[q]
            printf "  fsync/fdatasync: %d calls, %.3f s in total, longest %.3f s\n", nf, fs, fmax
        }' "$tr")
    echo "$TRACE_SUMMARY" >&2
fi

# ---------------------------------------------------------------- report
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { awk -F'\t' -v v="$1" '$1 != "w" && $2 == v { print $3 }' "$OUT/runs.tsv" | median; }
medcpu() { awk -F'\t' -v v="$1" '$1 != "w" && $2 == v { print $5 }' "$OUT/runs.tsv" | median; }
medbytes() { awk -F'\t' -v v="$1" '$1 != "w" && $2 == v { print $4 }' "$OUT/runs.tsv" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

M_OURS=$(med ours); M_N0=$(med ours-nice0); M_SHA=$(med bare-sha256sum); M_OSSL=$(med bare-openssl); M_SYNC=$(med bare-openssl-fsync)
SRCN=${SRC##*.}; SRCN=${SRCN: -1}
{
    echo "P4 — full backup pipeline vs bare mariabackup|zstd over ssh    ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(grep -o -m1 -w -e sha_ni /proc/cpuinfo || echo 'no sha_ni'), $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(uname -r)"
    echo "mha-backup: $VERSION"
    echo "source: $SRC (role: $( [ -n "$(sql "$SRCN" 'SHOW SLAVE STATUS' 2>/dev/null)" ] && echo replica || echo master)), database bench: $(human "$(ibd_bytes "$SRCN")") of .ibd there"
    echo "stream: $(human "$RAW") xbstream -> $(human "$Z") with zstd -T0 -3 on the source: ratio $(ratio "$RAW" "$Z")x"
    echo "ours ran on the source: { $(jq -r '.toolCommand | join(" ")' "$OUT/rw-ours.json"); echo MHA_BACKUP_RC=\$? >&2; } | $ZSTD"
    echo "bare ran:  ssh root@$SRC '$BARE_REMOTE' > $BARE_FILE"
    echo "rounds: $ROUNDS, variants alternated (odd rounds ours first, even rounds reversed); warm-up runs not counted"
    [ -s "$OUT/notes" ] && sort -u "$OUT/notes"
    echo
    echo "per run: wall seconds; compressed bytes; machine-wide busy CPU-seconds during the run (ours and"
    echo "the source's mariabackup/zstd/sshd all run on this machine, plus whatever others ran) and steal;"
    echo "load average 1/5/15 min just before the run (bare: its phases):"
    printf '  %-5s %-19s %8s %12s %7s %6s   %s\n' round variant seconds bytes cpu-s steal load
    awk -F'\t' '{ printf "  %-5s %-19s %8s %12s %7s %6s   %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$OUT/runs.tsv"
    echo
    echo "medians of $ROUNDS (wall, busy CPU-seconds, compressed size):"
    for v in ours ours-nice0 ours-encrypted bare-sha256sum bare-openssl bare-nice10 bare-openssl-fsync; do
        printf '  %-19s %8s s  %6s cpu-s  %s\n' "$v" "$(med "$v")" "$(medcpu "$v")" "$(human "$(medbytes "$v")")"
    done
    echo
    echo "ratios of medians:"
    echo "  ours / bare-sha256sum       = $(ratio "$M_OURS" "$M_SHA")"
    echo "  ours / bare-openssl         = $(ratio "$M_OURS" "$M_OSSL")   (goal <= 1.05)"
    echo "  ours / bare-openssl-fsync   = $(ratio "$M_OURS" "$M_SYNC")"
    echo "  ours-nice0 / bare-openssl   = $(ratio "$M_N0" "$M_OSSL")"
    echo "  ours-nice0 / ours           = $(ratio "$M_N0" "$M_OURS")"
    echo "  bare-nice10 / bare-openssl  = $(ratio "$(med bare-nice10)" "$M_OSSL")"
    echo "  ours-encrypted / ours       = $(ratio "$(med ours-encrypted)" "$M_OURS")   (goal <= 1.05: encryption at rest)"
    echo "  ours-encrypted cpu / ours   = $(ratio "$(medcpu ours-encrypted)" "$(medcpu ours)")"
    [ -n "$TRACE_SUMMARY" ] && { echo; echo "$TRACE_SUMMARY"; }
    echo
    echo "load average at the end: $(loadavg)"
} > "$RESULT"
cat "$RESULT"
log "results in $RESULT; raw logs in $OUT"
