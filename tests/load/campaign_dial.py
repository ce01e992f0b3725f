#!/usr/bin/env python3
"""Campaign dialer load (issue 12's measurement): a campaign of N contacts
(cooperative sim callees) at max_concurrent_calls C against a release
`switchboard` started with SWITCHBOARD_SIM_TIME_SCALE=0 on a fresh data
directory. Measures adding the contacts (bulk JSON, and a CSV file of the same
size to a second campaign), then the dialing: total time from start to
`completed`, call starts per second, the peak of simultaneous calls (from the
calls' start/end times: a call holds its slot from placement to end), slots
still held afterwards (read from the embedded store), and the server's memory.

  tests/load/campaign_dial.py --url http://127.0.0.1:PORT --key sb_... --pid PID \
      --data-dir DIR [--contacts 10000] [--concurrent 100]
"""
import argparse, json, sqlite3, time, urllib.request, uuid


def req(base, key, method, path, body=None, raw=None, ctype=None):
    data = json.dumps(body).encode() if body is not None else raw
    r = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    r.add_header("Authorization", "Bearer " + key)
    if body is not None:
        r.add_header("Content-Type", "application/json")
    elif ctype:
        r.add_header("Content-Type", ctype)
    with urllib.request.urlopen(r, timeout=120) as resp:
        return json.load(resp)


def rss(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def multipart(name, filename, content):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def all_calls(a, campaign):
    out, cursor = [], None
    while True:
        path = f"/calls?campaign_id={campaign}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = req(a.url, a.key, "GET", path)
        out.extend(page["data"])
        cursor = page["meta"]["pagination"].get("next_cursor")
        if not cursor:
            return out


def peak(calls):
    edges = sorted([(c["started_at"], 1) for c in calls] + [(c["ended_at"], -1) for c in calls])
    live = most = 0
    for _, d in edges:
        live += d
        most = max(most, live)
    return most


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--contacts", type=int, default=10000)
    p.add_argument("--concurrent", type=int, default=100)
    a = p.parse_args()
    req(a.url, a.key, "POST", "/settings/workspace",
        {"rate_limit_per_minute": 1000000, "max_concurrent_campaign_calls": a.concurrent})
    agent = req(a.url, a.key, "POST", "/agents", {
        "name": "Caller", "system_prompt": "You offer a check-up.",
        "greeting": "Hello, this is Harbor Lane Dental calling.",
    })["data"]["id"]
    new = lambda name: req(a.url, a.key, "POST", "/campaigns", {
        "name": name, "agent_id": agent, "max_concurrent_calls": a.concurrent,
        "retry": {"max_attempts": 1}})["data"]["id"]
    phones = [f"+1501{i:07d}" for i in range(a.contacts)]

    csv_campaign = new("csv")
    content = ("phone,name,plan\r\n" + "".join(f"{ph},Contact {i},gold\r\n" for i, ph in enumerate(phones))).encode()
    body, ctype = multipart("file", "contacts.csv", content)
    t0 = time.monotonic()
    up = req(a.url, a.key, "POST", f"/campaigns/{csv_campaign}/contacts/upload-csv", raw=body, ctype=ctype)["data"]
    csv_s = time.monotonic() - t0
    print(f"CSV upload of {a.contacts} rows ({len(content) / 1e6:.2f} MB): {csv_s:.3f} s, added {up['added']}")

    campaign = new("dial")
    contacts = [{"phone": ph, "name": f"Contact {i}"} for i, ph in enumerate(phones)]
    t0 = time.monotonic()
    added = req(a.url, a.key, "POST", f"/campaigns/{campaign}/contacts/bulk", {"contacts": contacts})["data"]
    bulk_s = time.monotonic() - t0
    print(f"bulk add of {a.contacts} contacts: {bulk_s:.3f} s, added {added['added']}")

    before_rss, before_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
    t0 = time.monotonic()
    req(a.url, a.key, "POST", f"/campaigns/{campaign}/start")
    while True:
        c = req(a.url, a.key, "GET", f"/campaigns/{campaign}")["data"]
        if c["status"] == "completed":
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    calls = all_calls(a, campaign)
    db = sqlite3.connect(f"file:{a.data_dir}/switchboard.db?mode=ro", uri=True)
    now_ms = int(time.time() * 1000)
    slots = [json.loads(d) for (d,) in db.execute(
        "SELECT data FROM items WHERE pk LIKE ? OR pk LIKE ?",
        (f"%#CAMPSLOTS#{campaign}", "%#ORGCAMPSLOTS"))]
    leaked = sum(1 for s in slots if s and s.get("expires_at_ms", 0) > now_ms)
    print(f"{len(calls)} sim calls at max_concurrent_calls {a.concurrent}: completed after {elapsed:.2f} s "
          f"({len(calls) / elapsed:.0f} call starts/s); peak {peak(calls)} simultaneous; "
          f"stats calls {c['stats']['calls']}, completed {c['stats']['by_status']['completed']}; "
          f"slots still held {leaked}")
    after_rss, after_hwm = rss(a.pid, "VmRSS"), rss(a.pid, "VmHWM")
    print(f"server RSS {before_rss:.0f} -> {after_rss:.0f} MB (peak {before_hwm:.0f} -> {after_hwm:.0f} MB)")


if __name__ == "__main__":
    main()
