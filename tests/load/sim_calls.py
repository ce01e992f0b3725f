#!/usr/bin/env python3
"""Sim calls through the API (issue 11's measurement): N test-mode tasks to the
interested persona, executed with C concurrent clients through
`POST /tasks/{id}/execute`, against a release `switchboard` started with
SWITCHBOARD_SIM_TIME_SCALE=0. Prints calls completed per second (first
execute to last call completed) and the server's peak memory before/after.

  tests/load/sim_calls.py --url http://127.0.0.1:PORT --key sb_... --pid PID [--calls 1000]
"""
import argparse, json, time, urllib.request
from concurrent.futures import ThreadPoolExecutor


def req(base, key, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    r.add_header("Authorization", "Bearer " + key)
    if data is not None:
        r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, timeout=30) as resp:
        return json.load(resp)


def rss(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--clients", type=int, default=16)
    a = p.parse_args()
    q = "?mode=test"
    req(a.url, a.key, "POST", "/settings/workspace" + q, {"rate_limit_per_minute": 1000000})
    agent = req(a.url, a.key, "POST", "/agents" + q, {
        "name": "Booker", "system_prompt": "You book check-ups.",
        "greeting": "Hello, this is Harbor Lane Dental calling.",
        "data_extraction": [{"name": "wants_appointment", "type": "boolean", "description": "Wants to book"}],
    })["data"]["id"]
    with ThreadPoolExecutor(a.clients) as pool:
        tasks = list(pool.map(lambda i: req(a.url, a.key, "POST", "/tasks" + q, {
            "agent_id": agent, "to_number": "+15005550007", "name": f"t{i}"})["data"]["id"],
            range(a.calls)))
        before_rss, before_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
        t0 = time.monotonic()
        calls = list(pool.map(lambda t: req(a.url, a.key, "POST", f"/tasks/{t}/execute" + q)["data"]["call_id"], tasks))
        executed = time.monotonic() - t0
    remaining = set(calls)
    while remaining:
        finished = sum(1 for c in list(remaining)[:50]
                       if req(a.url, a.key, "GET", f"/calls/{c}{q}")["data"]["status"] in ("completed", "failed"))
        if finished == min(50, len(remaining)):
            for c in list(remaining)[:50]:
                remaining.discard(c)
        else:
            time.sleep(0.05)
    elapsed = time.monotonic() - t0
    turns = req(a.url, a.key, "GET", f"/calls/{calls[-1]}{q}")["data"]
    print(f"{a.calls} sim calls, {a.clients} clients: executes took {executed:.2f} s "
          f"({a.calls / executed:.0f}/s); all completed after {elapsed:.2f} s "
          f"({a.calls / elapsed:.0f} calls/s); last call {turns['status']}, "
          f"{len(turns.get('transcript') or [])} transcript entries")
    after_rss, after_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
    print(f"server RSS {before_rss:.0f} -> {after_rss:.0f} MB (peak {before_hwm:.0f} -> {after_hwm:.0f} MB); "
          f"{(after_rss - before_rss) * 1024 / a.calls:.1f} KB per finished call still resident")


if __name__ == "__main__":
    main()
