#!/usr/bin/env python3
"""P6: a synthetic mha-backup store of BACKUPS backups and BINLOGS archived binlogs, in the real
formats (manifest.json + COMMITTED holding the manifest's SHA-256, index.json per archive folder,
timeline.json), plus a config that `mha-backup list` and `mha-backup retention` load.

    bench/p6-make-store.py DIR [BACKUPS [BINLOGS]]      # defaults 10000 and 100000

History: one full a day at 01:00 and four incrementals (05, 09, 13, 17 h, each on the previous),
taken on a replica; BINLOGS/days binlogs a day on the master. Two failovers: db1 -> db2 at 50 %
of the days, db2 -> db3 at 80 % (each new master's names start again at mysql-bin.000001).
Binlog files themselves are not written (planning reads only the indexes). Prints the time the
history ends (for --now).
"""
import datetime as dt
import hashlib
import json
import os
import sys

root = os.path.abspath(sys.argv[1])
n_backups = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
n_binlogs = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
days = n_backups // 5
per_day = n_binlogs // days
start = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)

def iso(t): return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
def compact(t): return t.strftime("%Y%m%dT%H%M%SZ")

hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
switch = [0, days // 2, days * 8 // 10]          # day each timeline starts
def master_at(day):
    return max(i for i, s in enumerate(switch) if day >= s)

store = f"{root}/store"
os.makedirs(f"{store}/backups", exist_ok=True)
os.makedirs(f"{root}/state", exist_ok=True)

# Binlogs: per day `per_day` files on the master of that day; file k of the day closes at k/per_day.
seq = 0
index = {h: [] for h in hosts}
number = {h: 0 for h in hosts}
where = {}   # (day, hour) -> (master, file name, gtid) at that time
promotion = {}
for day in range(days):
    m = hosts[master_at(day)]
    if day in switch[1:] and day not in promotion:
        promotion[day] = (m, f"0-{hosts.index(hosts[master_at(day - 1)]) + 1}-{seq}")
    sid = hosts.index(m) + 1
    for k in range(per_day):
        number[m] += 1
        name = "mysql-bin.%06d" % number[m]
        opened = start + dt.timedelta(days=day, seconds=k * 86400 / per_day)
        closed = start + dt.timedelta(days=day, seconds=(k + 1) * 86400 / per_day)
        first, seq = seq + 1, seq + 100
        for hour in (1, 5, 9, 13, 17):
            t = start + dt.timedelta(days=day, hours=hour)
            if opened <= t < closed:
                where[(day, hour)] = (m, name, f"0-{sid}-{first + 50}")
        index[m].append({"name": name, "size": 1073741824, "sha256": hashlib.sha256(name.encode() + m.encode()).hexdigest(),
                         "archivedAt": iso(closed + dt.timedelta(minutes=2)), "sourceHost": m, "sourcePort": 3306,
                         "via": "ssh", "firstGtid": f"0-{sid}-{first}", "lastGtid": f"0-{sid}-{seq}"})
for h in hosts:
    d = f"{store}/binlogs/{h}_3306"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/index.json", "w") as f:
        json.dump({"version": 1, "host": h, "port": 3306, "files": index[h]}, f, indent=2, sort_keys=True)
    # Each binlog's commit file (`NAME.sha256`), as the archive writes it, and the binlog itself,
    # empty: tier sync plans on their presence only, retention and list never open them.
    for e in index[h]:
        with open(f"{d}/{e['name']}.sha256", "w") as f:
            f.write(f"{e['sha256']}  {e['name']}\n")
        open(f"{d}/{e['name']}", "w").close()

tl = {"entries": [{"id": 1, "masterHost": hosts[0], "masterPort": 3306, "since": iso(start), "reason": "initial"}]}
for i, day in enumerate(switch[1:]):
    m, gtid = promotion[day]
    tl["entries"].append({"id": i + 2, "masterHost": m, "masterPort": 3306, "since": iso(start + dt.timedelta(days=day)),
                          "promotion": {"file": "mysql-bin.000001", "position": 4, "gtid": gtid},
                          "failoverId": f"failover-{i + 1}", "reason": "failover"})
with open(f"{store}/timeline.json", "w") as f:
    json.dump(tl, f, indent=2, sort_keys=True)

# Backups: on a replica of the day's master (the next host), replicaOf the master's coordinates.
lsn = 1000
made = 0
for day in range(days):
    tli = master_at(day)
    m = hosts[tli]
    src = hosts[(tli + 1) % 3]
    parent = None
    for hour in (1, 5, 9, 13, 17):
        t0 = start + dt.timedelta(days=day, hours=hour)
        t1 = t0 + dt.timedelta(minutes=10)
        typ = "full" if hour == 1 else "incremental"
        bid = f"{compact(t0)}-{'full' if typ == 'full' else 'incr'}-{made:06x}"
        mm, fname, gtid = where[(day, hour)]
        man = {"formatVersion": 1, "id": bid, "type": typ, "method": "mariabackup", "status": "complete",
               "sourceHost": src, "sourcePort": 3306, "sourceServerId": (tli + 1) % 3 + 1, "sourceVersion": "10.11.19-MariaDB",
               "sourceRole": "replica", "timeline": tli + 1, "startedAt": iso(t0), "finishedAt": iso(t1),
               "fromLSN": lsn if typ == "incremental" else 0, "toLSN": lsn + 1000, "lastLSN": lsn + 1000,
               "binlog": {"file": "mysql-bin.000001", "position": 4, "gtid": gtid},
               "replicaOf": {"masterHost": mm, "coordinates": {"file": fname, "position": 1234, "gtid": gtid}},
               "compression": "zstd", "compressedBytes": 5 * 1024 ** 3 if typ == "full" else 200 * 1024 ** 2,
               "files": [{"name": "backup.xbstream.zst", "size": 5 * 1024 ** 3, "sha256": hashlib.sha256(bid.encode()).hexdigest()}],
               "toolCommand": ["mariabackup", "--backup", "--stream=xbstream"], "durationSeconds": 600.0}
        if parent:
            man["parent"] = parent
        lsn += 1000
        parent = bid
        data = json.dumps(man, indent=2, sort_keys=True).encode()
        d = f"{store}/backups/{bid}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/manifest.json", "wb") as f:
            f.write(data)
        open(f"{d}/backup.xbstream.zst", "w").close()  # hot (empty: only its presence is planned on)
        with open(f"{d}/COMMITTED", "w") as f:
            f.write("sha256 " + hashlib.sha256(data).hexdigest() + "\n")
        made += 1

with open(f"{root}/app1.cnf", "w") as f:
    f.write("[server default]\nuser=mha\nmanager_workdir=/tmp\n" + "".join(f"[server{i + 1}]\nhostname={h}\n" for i, h in enumerate(hosts)))
with open(f"{root}/client.cnf", "w") as f:
    f.write("[client]\nuser=backup\npassword=x\n")
with open(f"{root}/mha-backup.cnf", "w") as f:
    f.write(f"[mha-backup]\nmha_conf = {root}/app1.cnf\ncredentials = {root}/client.cnf\nstate_dir = {root}/state\nstore_dir = {store}\n")
for p in ("client.cnf", "mha-backup.cnf"):
    os.chmod(f"{root}/{p}", 0o600)
end = start + dt.timedelta(days=days)
print(end.strftime("%Y-%m-%d %H:%M:%S"))
print(f"{made} backups, {sum(len(v) for v in index.values())} binlogs, {len(tl['entries'])} timelines", file=sys.stderr)
