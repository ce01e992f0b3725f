#!/usr/bin/env python3
"""The web chat widget in a real headless Chromium (issue 13).

Starts the local server (the binary at SWITCHBOARD_BIN) on a scratch data
directory, creates an agent and a public web channel whose only allowed origin
is a page served here, then drives Debian's Chromium with Playwright:

- the allowed page loads `/widget.js` from the server with one script tag,
  opens the chat from the launcher, sees the channel's greeting and theme,
  sends a message with the keyboard and sees the offline engine's answer
  streamed over the socket (pieces, then the final reply);
- the panel is a labelled dialog, Escape closes it and gives focus back to the
  launcher, and reduced motion turns its transitions off;
- a page on a foreign origin (another port) is refused a session, and a token
  carried to it is refused again on the socket's upgrade;
- the call button starts a spoken call: Chromium's fake microphone plays a
  recorded question (a WAV fixture), the relay transcribes it offline and the
  agent's answer comes back as audio the page plays, with the transcript live.

Fails (exit 1) on any difference; never skips.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
QUESTION = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "fixtures", "speech", "utterances", "hours.wav")
KEY = "sb_live_browser_" + os.urandom(16).hex()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    req.add_header("authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def serve_page(port, html):
    """Serves `html` at / on 127.0.0.1:port (a site embedding the widget)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_server(binary, data):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        SWITCHBOARD_DATA_DIR=data,
        SWITCHBOARD_ADDR=f"127.0.0.1:{port}",
        SWITCHBOARD_PUBLIC_URL=base,
        SWITCHBOARD_BOOTSTRAP_API_KEY=KEY,
        SWITCHBOARD_COOKIE_SECURE="false",
        RUST_LOG="warn",
    )
    log = open(os.path.join(data, "server.log"), "w")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not start:\n" + open(os.path.join(data, "server.log")).read())


def page_html(base, channel):
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harbor Lane Dental</title></head>
<body><h1>Harbor Lane Dental</h1><p>Welcome.</p>
<script src="{base}/widget.js" data-channel="{channel}" async></script></body></html>"""


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok:", what)


def main():
    binary = os.environ.get("SWITCHBOARD_BIN")
    if not binary or not os.path.exists(binary):
        sys.exit("SWITCHBOARD_BIN must name the built switchboard binary")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data = tempfile.mkdtemp(prefix="sb-browser-")
    proc, base = start_server(binary, data)
    try:
        run(base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(base):
    allowed_port, foreign_port = free_port(), free_port()
    allowed = f"http://127.0.0.1:{allowed_port}"
    foreign = f"http://127.0.0.1:{foreign_port}"

    status, agent = api(base, "POST", "/agents", {
        "name": "Harbor help", "system_prompt": "You answer questions about Harbor Lane Dental."})
    assert status == 201, agent
    status, channel = api(base, "POST", "/channels", {
        "name": "Harbor Lane Dental", "type": "web", "default_agent_id": agent["data"]["id"],
        "config": {"allowed_origins": [allowed], "public": True, "greeting": "Hi! How can we help?",
                   "theme": {"color": "rgb(10, 120, 60)", "position": "left"}}})
    assert status == 201, channel
    channel_id = channel["data"]["id"]
    pages = [serve_page(allowed_port, page_html(base, channel_id)),
             serve_page(foreign_port, page_html(base, channel_id))]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            allowed_page(browser, allowed)
            foreign_page(browser, base, foreign, channel_id, allowed)
        finally:
            browser.close()
        # The fake microphone is a launch option: a browser of its own.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
            f"--use-file-for-fake-audio-capture={os.path.abspath(QUESTION)}%noloop"])
        try:
            voice_call(browser, allowed)
        finally:
            browser.close()
    for page in pages:
        page.shutdown()

    # The voice call ends as its socket closes: wait for it to be recorded.
    for _ in range(100):
        status, calls = api(base, "GET", "/calls?direction=web")
        made = [(c["id"], c["status"]) for c in calls.get("data") or []]
        if all(s == "completed" for _, s in made):
            break
        time.sleep(0.1)
    # The allowed page's chat; then, on the voice page, the chat its panel opens and the call.
    check(status == 200 and len(made) == 3 and all(s == "completed" for _, s in made),
          f"exactly three web calls were made, all completed: {made}")


def allowed_page(browser, allowed):
    print("allowed origin", allowed)
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    frames = []
    sockets = []

    def on_socket(ws):
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("websocket", on_socket)
    page.goto(allowed)
    launcher = page.locator("#switchboard-chat .launch")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    widget = page.locator("#switchboard-chat .w")
    expect(widget).to_have_attribute("data-state", "open", timeout=20_000)
    check(len(sockets) == 1 and "/ws/web/" in sockets[0], "the widget opened the relay socket")
    greeting = page.locator("#switchboard-chat .m.agent[data-final=true]")
    expect(greeting.first).to_have_text("Hi! How can we help?", timeout=20_000)
    check(True, "the channel's greeting is shown")
    color = widget.evaluate("w => getComputedStyle(w.querySelector('.launch')).backgroundColor")
    check(color == "rgb(10, 120, 60)", f"the channel's theme colours the launcher ({color})")
    check("left" in (widget.get_attribute("class") or ""), "the theme's position is applied")
    dialog = page.locator("#switchboard-chat [role=dialog]")
    check(dialog.get_attribute("aria-labelledby") == "sb-t", "the panel is a labelled dialog")
    transition = dialog.evaluate("d => getComputedStyle(d).transitionDuration")
    check(transition in ("0s", ""), f"reduced motion turns transitions off ({transition})")

    box = page.locator("#switchboard-chat textarea")
    expect(box).to_be_focused()
    box.fill("What are your opening hours?")
    box.press("Enter")
    expect(page.locator("#switchboard-chat .m.user")).to_have_text("What are your opening hours?")
    answer = page.locator("#switchboard-chat .m.agent[data-final=true]").nth(1)
    expect(answer).not_to_be_empty(timeout=20_000)
    text = answer.text_content()
    print("  answer:", text)
    messages = [json.loads(f) for f in frames if isinstance(f, str)]
    pieces = [m for m in messages if m.get("type") == "agent_message" and m["data"]["final"] is False]
    finals = [m for m in messages if m.get("type") == "agent_message" and m["data"]["final"] is True]
    check(len(finals) == 2 and finals[1]["data"]["text"] == text,
          "the final reply is the one the page shows")
    reply_pieces = [m["data"]["text"] for m in pieces if m["data"]["id"] == finals[1]["data"]["id"]]
    check(reply_pieces and " ".join(reply_pieces) == text,
          f"the answer streamed in {len(reply_pieces)} piece(s) before its final")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    check(True, "Escape closes the panel and gives focus back to the launcher")
    context.close()


def voice_call(browser, allowed):
    print("voice call from", allowed)
    context = browser.new_context(permissions=["microphone"])
    page = context.new_page()
    audio = []
    sockets = []

    def on_socket(ws):
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: audio.append(len(payload)) if isinstance(payload, bytes) else None)

    page.on("websocket", on_socket)
    page.goto(allowed)
    page.locator("#switchboard-chat .launch").click()
    widget = page.locator("#switchboard-chat .w")
    expect(widget).to_have_attribute("data-state", "open", timeout=20_000)
    call = page.locator("#switchboard-chat .call")
    call.click()
    expect(call).to_have_attribute("aria-pressed", "true")
    expect(widget).to_have_attribute("data-state", "voice", timeout=20_000)
    check(any("mode=voice" in url for url in sockets), "the call button opened a voice socket")
    heard = page.locator("#switchboard-chat .m.user").filter(has_text="aturday")
    expect(heard.first).to_be_visible(timeout=30_000)
    print("  heard:", heard.first.text_content())
    check(True, "the spoken question was transcribed and shown")
    answer = page.locator("#switchboard-chat .m.user ~ .m.agent")
    expect(answer.first).to_be_visible(timeout=30_000)
    print("  answer:", answer.first.text_content())
    before = len(audio)
    page.wait_for_timeout(1500)
    check(len(audio) > before and len(audio) > 25 and all(n == 640 for n in audio),
          f"the agent spoke: {len(audio)} frames of 20 ms PCM16 reached the page (sizes {sorted(set(audio))}), {len(audio) - before} after the answer was shown")
    call.click()
    expect(call).to_have_attribute("aria-pressed", "false")
    check(True, "the call button hangs up")
    context.close()


def foreign_page(browser, base, foreign, channel_id, allowed):
    print("foreign origin", foreign)
    context = browser.new_context()
    page = context.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(foreign)
    page.locator("#switchboard-chat .launch").click()
    widget = page.locator("#switchboard-chat .w")
    expect(widget).to_have_attribute("data-state", "refused", timeout=20_000)
    note = page.locator("#switchboard-chat [role=status]")
    expect(note).to_contain_text("not available")
    check(not sockets, "the foreign page got no session and opened no socket")

    # A token obtained for the allowed origin, carried to the foreign page:
    # the relay checks the page's Origin again on the upgrade.
    status, s = api(base, "POST", f"/channels/web/{channel_id}/public-session",
                    headers={"origin": allowed})
    assert status == 201, s
    url = s["data"]["websocket_url"] + "?token=" + s["data"]["token"]
    outcome = page.evaluate("""url => new Promise(done => {
        const ws = new WebSocket(url);
        ws.onopen = () => done("opened");
        ws.onclose = () => done("refused");
    })""", url)
    check(outcome == "refused", "a carried token is refused on the socket's upgrade")
    context.close()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit(f"browser test failed: {e}")
    print("browser test passed")
