#!/usr/bin/env bash
# P1: master_ip_failover --command=stop with 8 registered running jobs to pause (no chained script),
# against a Perl hook written like MHA's samples. P5: report_script returning with the post-failover
# work (and its full backup) started in the background. Release build; hyperfine, medians.
# Usage: bash bench/p1-stop-hook.sh      (writes bench/results/p1-p5-<date>.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
command -v hyperfine >/dev/null || { apt-get update -qq; apt-get install -y -qq hyperfine >/dev/null; }
[ -n "${SKIP_BUILD:-}" ] || swift build -c release --static-swift-stdlib 2>&1 | tail -n 1
HOOK=$PWD/.build/release/mha-backup-master-ip-failover
W=$(mktemp -d /tmp/mha-backup-p1.XXXXXX)
chmod 700 "$W"
trap 'pkill -KILL -f "$W/jobsleep" 2>/dev/null || true; pkill -f "hook-worker.*$W" 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/state/jobs" "$W/store"
printf '[client]\nuser=backup\npassword=x\n' > "$W/client.cnf"; chmod 600 "$W/client.cnf"
cat > "$W/app.cnf" <<CNF
[server default]
user=mha
ssh_user=root
manager_workdir=$W
[server1]
hostname=127.0.0.250
[server2]
hostname=127.0.0.251
[server3]
hostname=127.0.0.252
CNF
cat > "$W/mha-backup.cnf" <<CNF
[mha-backup]
mha_conf = $W/app.cnf
credentials = $W/client.cnf
state_dir = $W/state
store_dir = $W/store
[ssh]
connect_timeout = 1
[client]
timeout = 1
CNF
chmod 600 "$W/mha-backup.cnf"
# 8 jobs: each a real process in its own process group, registered as running copies.
ln -sf "$(command -v sleep)" "$W/jobsleep"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
for i in 1 2 3 4 5 6 7 8; do
  setsid "$W/jobsleep" 100000 & pid=$!
  sleep 0.05
  cat > "$W/job-$i.json" <<JSON
{"id":"bench-$i","kind":"full","method":"mariabackup","sourceHost":"127.0.0.25$(( i % 2 + 1 ))","sourcePort":3306,"pid":$$,"pgid":$pid,"phase":"copying","state":"running","startedAt":"$now","updatedAt":"$now","bytes":1048576}
JSON
done
cat > "$W/reset.sh" <<RESET
#!/bin/sh
rm -rf "$W/state/failovers" "$W/state/fence.json" "$W/state/audit.jsonl"
for f in "$W"/job-*.json; do cp "\$f" "$W/state/jobs/\$(basename "\$f" | sed 's/^job-/bench-/')"; done
pkill -CONT -f "$W/jobsleep" || true
RESET
chmod +x "$W/reset.sh"
ARGS="--orig_master_host=127.0.0.250 --orig_master_ip=127.0.0.250 --orig_master_port=3306 --command=stop --ssh_options='-o StrictHostKeyChecking=no -o PasswordAuthentication=no -o BatchMode=yes -o ConnectTimeout=5'"
out=bench/results/p1-p5-$(date -u +%Y%m%d-%H%M).txt
REPORT=$PWD/.build/release/mha-backup-report
RARGS="--orig_master_host=127.0.0.250 --new_master_host=127.0.0.251 --new_slave_hosts=127.0.0.252 --conf=$W/app.cnf '--subject=app: MySQL Master failover 127.0.0.250(127.0.0.250:3306) to 127.0.0.251(127.0.0.251:3306) succeeded' '--body=Master failover to 127.0.0.251(127.0.0.251:3306) completed successfully.'"
mkdir -p bench/results
{
  echo "# P1: stop phase with 8 registered jobs to pause, chain excluded"
  echo "# command: bash bench/p1-stop-hook.sh"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load $(cut -d' ' -f1-3 /proc/loadavg)"
  hyperfine -N --warmup 5 --runs 60 --prepare "$W/reset.sh" \
    -n mha-backup "$HOOK --config=$W/mha-backup.cnf $ARGS" \
    -n perl-sample "perl bench/perl-hook.pl $ARGS" \
    --export-json "$W/p1.json" 2>&1
  # The jobs really were paused by the last run of ours (state T), and the registry says so.
  "$W/reset.sh"; eval "$HOOK --config=$W/mha-backup.cnf $ARGS" 2>/dev/null
  echo "after one run: $(grep -l '"paused"' "$W"/state/jobs/*.json | wc -l) of 8 jobs recorded paused; process states: $(ps -o stat= -p $(pgrep -d, -f "$W/jobsleep") | tr -d ' ' | sort | uniq -c | tr '\n' ' ')"
  python3 - "$W/p1.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ours, perl = r["mha-backup"]["median"] * 1000, r["perl-sample"]["median"] * 1000
print(f"P1 median: mha-backup {ours:.2f} ms, perl sample {perl:.2f} ms, speed-up {perl/ours:.1f}x (goal >= 6x, <= 15 ms)")
PY
  echo
  echo "# P5: report_script with the failover's record open, returning after it started the detached worker"
  hyperfine -N --warmup 3 --runs 40 --prepare "$W/reset.sh" \
    -n report "$REPORT --config=$W/mha-backup.cnf $RARGS" --export-json "$W/p5.json" 2>&1
  python3 - "$W/p5.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"P5 median: {r['median']*1000:.2f} ms (goal <= 50 ms)")
PY
} | tee "$out"
