#!/usr/bin/env python3
"""Kills the sandbox master's mysqld and times what follows (used by P2 and P8).

  p2-poll.py --kill-pid PID --manager-pid PID --log MANAGER_LOG [--probe] [--release-at S --release-cmd CMD]

t = 0 is just before kill -9 of PID. Every 20 ms it reads what the manager log gained and notes the
first time each marker line appears, and whether the manager process is gone. With --probe, a thread
tries a write on the new master as an application would (user benchapp over TCP, no SUPER, so
read_only=1 refuses it; lock_wait_timeout=1): `SELECT @@global.read_only; INSERT INTO lab.t` every
100 ms (next try 100 ms after the previous one ended); 'writable' = end of the first try that saw
read_only=0 and committed. --release-at runs CMD (sh -c) at t = S (P8's plain-session lock release).
Prints one JSON object (seconds from the kill) on stdout.
"""
import argparse, json, os, signal, subprocess, threading, time

MARKERS = {
    "down": "Master is down!",
    "phase3": "* Phase 3: Master Recovery Phase..",
    "phase3_5": "* Phase 3.5: Master Log Apply Phase..",
    "phase4": "* Phase 4: Slaves Recovery Phase..",
    "phase5": "* Phase 5: New master cleanup phase..",
    "completed": "completed successfully.",  # "Master failover to 127.0.0.42(127.0.0.42:3306) completed successfully."
}

ap = argparse.ArgumentParser()
ap.add_argument("--kill-pid", type=int, required=True)
ap.add_argument("--manager-pid", type=int, required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--timeout", type=float, default=180)
ap.add_argument("--probe", action="store_true")
ap.add_argument("--probe-host", default="127.0.0.42")
ap.add_argument("--release-at", type=float)
ap.add_argument("--release-cmd")
a = ap.parse_args()

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

res = {"markers": {}, "probe_tries": 0}
pos = os.path.getsize(a.log) if os.path.exists(a.log) else 0
buf = ""
done_probe = threading.Event()

def probe(t0):
    env = dict(os.environ, MYSQL_PWD="benchapp-pw")
    argv = ["mariadb", "--no-defaults", "-h", a.probe_host, "-P", "3306", "-ubenchapp", "--connect-timeout=1",
            "-N", "-B", "-e",
            "SET SESSION lock_wait_timeout = 1; SELECT @@global.read_only; INSERT INTO lab.t (v) VALUES ('p8-probe')"]
    last_err = ""
    while not done_probe.is_set() and time.monotonic() - t0 < a.timeout:
        res["probe_tries"] += 1
        try:
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=5)
            if r.returncode == 0 and r.stdout.split()[:1] == ["0"]:
                res["writable"] = round(time.monotonic() - t0, 3)
                done_probe.set()
                return
            e = (r.stderr.strip().splitlines() or [""])[-1][:160]
            if e != last_err:
                res.setdefault("probe_errors", []).append([round(time.monotonic() - t0, 3), e])
                last_err = e
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.1)

released = False
t0 = time.monotonic()
res["kill_wall"] = time.time()
os.kill(a.kill_pid, signal.SIGKILL)
th = None
if a.probe:
    th = threading.Thread(target=probe, args=(t0,), daemon=True)
    th.start()
while True:
    now = time.monotonic() - t0
    try:
        with open(a.log, errors="replace") as f:
            f.seek(pos)
            chunk = f.read()
            pos = f.tell()
        buf += chunk
        for k, m in MARKERS.items():
            if k not in res["markers"] and m in buf:
                res["markers"][k] = round(now, 3)
        buf = buf[-4096:] if all(k in res["markers"] for k in MARKERS) else buf
    except FileNotFoundError:
        pass
    if a.release_at is not None and not released and now >= a.release_at:
        subprocess.run(["sh", "-c", a.release_cmd])
        res["released"] = round(time.monotonic() - t0, 3)
        released = True
    if "manager_exit" not in res and not alive(a.manager_pid):
        res["manager_exit"] = round(now, 3)
    if "manager_exit" in res and (not a.probe or done_probe.is_set()):
        break
    if now > a.timeout:
        res["timeout"] = True
        break
    time.sleep(0.02)
done_probe.set()
if th:
    th.join(6)
print(json.dumps(res))
