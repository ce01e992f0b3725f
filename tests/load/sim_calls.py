#!/usr/bin/env python3
"""Sim calls through the API (issue 11's measurement): N test-mode tasks of
~10 turns each, executed with C concurrent clients through
`POST /tasks/{id}/execute`, against a release `switchboard` started with
SWITCHBOARD_SIM_TIME_SCALE=0. Prints calls completed per second (first
execute to last call completed), how long the calls really were (agent turns
from each call's `metrics`, transcript entries) and the server's memory
before/after.

The agent follows a flow of nine questions (name, party size, date, time,
e-mail, a choice, three yes/no) that the cooperative sim callee
(+15005550001) answers one by one, then closes: the greeting turn and nine
answered turns, so ten agent turns and nineteen transcript entries a call
(measured: the script prints both from the calls themselves).
A persona alone talks for fewer turns: the interested one agrees at once.

  tests/load/sim_calls.py --url http://127.0.0.1:PORT --key sb_... --pid PID [--calls 1000]
"""
import argparse, json, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

# (variable, question, validation settings): each question is one the
# cooperative callee has an answer for (engine/sim/callee.rs).
QUESTIONS = [
    ("name", "Who am I speaking with?", {}),
    ("party", "How many people will be coming in?", {"validation": "number"}),
    ("day", "Which date suits you best?", {"validation": "date"}),
    ("hour", "What time of day works best?", {}),
    ("email", "What email address should the confirmation go to?", {}),
    ("clinic", "Would you prefer the main or the harbour clinic?",
     {"validation": "choice", "options": ["main", "harbour"]}),
    ("first_visit", "Is this your first visit with us?", {"validation": "yes_no"}),
    ("reminder", "Shall we send you a text reminder?", {"validation": "yes_no"}),
    ("insured", "Do you have dental insurance?", {"validation": "yes_no"}),
]


def booking_flow():
    nodes = [{"id": "start", "type": "start", "data": {}}]
    edges = []
    prev = "start"
    for i, (var, question, extra) in enumerate(QUESTIONS):
        nodes.append({"id": var, "type": "ask",
                      "data": {"question": question, "variable": var, "retries": 1, **extra}})
        edges.append({"id": f"e{i}", "source": prev, "target": var})
        prev = var
    nodes.append({"id": "done", "type": "end",
                  "data": {"text": "Thank you, you're all booked in. Goodbye!"}})
    edges.append({"id": "e_end", "source": prev, "target": "done"})
    return {"name": "Booking questions", "description": "Nine questions, then goodbye",
            "nodes": nodes, "edges": edges}


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


def finished(a, call_id, q):
    """The call's view once it has ended (polls until then)."""
    while True:
        view = req(a.url, a.key, "GET", f"/calls/{call_id}{q}")["data"]
        if view["status"] in ("completed", "failed"):
            return view
        time.sleep(0.05)


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
    flow = req(a.url, a.key, "POST", "/flows" + q, booking_flow())["data"]["id"]
    agent = req(a.url, a.key, "POST", "/agents" + q, {
        "name": "Booker", "system_prompt": "You book check-ups.",
        "greeting": "Hello, this is Harbor Lane Dental calling.", "flow_id": flow,
        "data_extraction": [{"name": "wants_appointment", "type": "boolean", "description": "Wants to book"}],
    })["data"]["id"]
    with ThreadPoolExecutor(a.clients) as pool:
        tasks = list(pool.map(lambda i: req(a.url, a.key, "POST", "/tasks" + q, {
            "agent_id": agent, "to_number": "+15005550001", "name": f"t{i}"})["data"]["id"],
            range(a.calls)))
        before_rss, before_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
        t0 = time.monotonic()
        calls = list(pool.map(lambda t: req(a.url, a.key, "POST", f"/tasks/{t}/execute" + q)["data"]["call_id"], tasks))
        executed = time.monotonic() - t0
    # Calls end roughly in the order they were placed: waiting on each in
    # turn reads each one about once.
    views = [finished(a, c, q) for c in calls]
    elapsed = time.monotonic() - t0
    after_rss, after_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
    completed = sum(1 for v in views if v["status"] == "completed")
    turns = [(v.get("metrics") or {}).get("turns", 0) for v in views]
    entries = [len(v.get("transcript") or []) for v in views]
    agent_lines = [sum(1 for e in v.get("transcript") or [] if e["role"] == "agent") for v in views]
    mean = lambda xs: sum(xs) / len(xs)
    print(f"{a.calls} sim calls, {a.clients} clients: executes took {executed:.2f} s "
          f"({a.calls / executed:.0f}/s); all ended after {elapsed:.2f} s "
          f"({a.calls / elapsed:.0f} calls/s); {completed} completed")
    print(f"per call: agent turns (metrics) mean {mean(turns):.1f} (min {min(turns)}, max {max(turns)}); "
          f"transcript entries mean {mean(entries):.1f}, agent lines mean {mean(agent_lines):.1f}")
    print(f"server RSS {before_rss:.0f} -> {after_rss:.0f} MB (peak {before_hwm:.0f} -> {after_hwm:.0f} MB); "
          f"{(after_rss - before_rss) * 1024 / a.calls:.1f} KB per finished call still resident")


if __name__ == "__main__":
    main()
