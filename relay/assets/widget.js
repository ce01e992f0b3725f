/*! Switchboard web chat widget. One tag on any page:
 *   <script src="https://relay.example.com/widget.js" data-channel="CHANNEL_ID" async></script>
 * Optional: data-api (the API base, default: this script's origin + /api/v1),
 * data-title, data-color, data-position ("left" | "right").
 * A chat launcher opens a panel; the first open asks the API for a public
 * session (the page's origin must be one of the channel's allowed_origins),
 * then talks to the agent over the relay's WebSocket. The phone button in the
 * panel's header starts a spoken call instead (a new session in voice mode):
 * the microphone is captured at 16 kHz by an AudioWorklet and sent as PCM16,
 * the agent's voice is played as it arrives and stops at once when the
 * visitor cuts in (the relay's "clear"), and the transcript shows live.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || script.getAttribute("data-sb-loaded")) return;
  script.setAttribute("data-sb-loaded", "1");
  var channel = script.getAttribute("data-channel");
  if (!channel) {
    console.error("Switchboard widget: the script tag needs data-channel");
    return;
  }
  var base = new URL(script.src, location.href);
  var api = (script.getAttribute("data-api") || base.origin + "/api/v1").replace(/\/+$/, "");
  var store = "sb-widget-theme:" + channel;

  function readTheme() {
    try {
      return JSON.parse(localStorage.getItem(store) || "null") || {};
    } catch (e) {
      return {};
    }
  }
  var theme = readTheme();
  if (script.getAttribute("data-color")) theme.color = script.getAttribute("data-color");
  if (script.getAttribute("data-position")) theme.position = script.getAttribute("data-position");
  if (script.getAttribute("data-title")) theme.title = script.getAttribute("data-title");

  var CSS =
    ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".w{--c:#2952e3;--bg:#fff;--fg:#1b1f24;--r:14px;--f:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;" +
    "position:fixed;bottom:20px;right:20px;z-index:2147483000;font-family:var(--f);color:var(--fg)}" +
    ".w.left{right:auto;left:20px}" +
    ".launch{width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);display:grid;place-items:center;transition:transform .15s}" +
    ".launch:hover{transform:scale(1.06)}" +
    "button:focus-visible,textarea:focus-visible{outline:3px solid var(--c);outline-offset:2px}" +
    ".panel{position:absolute;bottom:70px;right:0;width:min(370px,calc(100vw - 40px));height:min(540px,calc(100vh - 110px));" +
    "background:var(--bg);border-radius:var(--r);box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;" +
    "overflow:hidden;transition:opacity .18s,transform .18s;transform-origin:bottom right}" +
    ".left .panel{right:auto;left:0;transform-origin:bottom left}" +
    ".panel[hidden]{display:none}" +
    ".head{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}" +
    ".head h2{font-size:15px;margin:0;flex:1;font-weight:600}" +
    ".call{background:transparent;border:0;color:#fff;cursor:pointer;padding:4px;border-radius:6px;display:grid;place-items:center}" +
    ".call[aria-pressed=true]{background:rgba(255,255,255,.25)}" +
    ".x{background:transparent;border:0;color:#fff;font-size:22px;line-height:1;cursor:pointer;padding:2px 6px;border-radius:6px}" +
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:8px;font-size:14px;line-height:1.4}" +
    ".m{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".agent{align-self:flex-start;background:rgba(0,0,0,.06)}" +
    ".human{align-self:flex-start;background:rgba(0,0,0,.06);border-left:3px solid var(--c)}" +
    ".user{align-self:flex-end;background:var(--c);color:#fff}" +
    ".note{align-self:center;font-size:12px;opacity:.75;text-align:center}" +
    ".typing{align-self:flex-start;font-size:12px;opacity:.7;padding:0 4px}" +
    ".typing[hidden]{display:none}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid rgba(0,0,0,.08)}" +
    "textarea{flex:1;resize:none;border:1px solid rgba(0,0,0,.2);border-radius:10px;padding:8px 10px;font:inherit;font-size:14px;" +
    "color:inherit;background:transparent;max-height:96px}" +
    ".send{border:0;border-radius:10px;background:var(--c);color:#fff;padding:0 14px;font:inherit;font-size:14px;cursor:pointer}" +
    ".send:disabled,textarea:disabled{opacity:.5;cursor:not-allowed}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "@media (prefers-reduced-motion:reduce){.launch,.panel{transition:none}.launch:hover{transform:none}}";

  var host = document.createElement("div");
  host.id = "switchboard-chat";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<div class="w" part="widget">' +
    '<section class="panel" role="dialog" aria-modal="false" aria-labelledby="sb-t" hidden>' +
    '<div class="head"><h2 id="sb-t"></h2>' +
    '<button class="call" type="button" aria-pressed="false" aria-label="Start a voice call">' +
    '<svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" ' +
    'd="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1z"/></svg></button>' +
    '<button class="x" type="button" aria-label="Close chat">\u00d7</button></div>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions text" tabindex="0"></div>' +
    '<div class="typing" aria-hidden="true" hidden>\u2026</div>' +
    '<form><label class="sr" for="sb-in">Message</label>' +
    '<textarea id="sb-in" rows="1" maxlength="2000" placeholder="Type a message" disabled></textarea>' +
    '<button class="send" type="submit" disabled>Send</button></form>' +
    '<div class="sr" role="status" aria-live="assertive"></div>' +
    "</section>" +
    '<button class="launch" type="button" aria-haspopup="dialog" aria-expanded="false" aria-label="Open chat">' +
    '<svg width="26" height="26" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" ' +
    'd="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg></button></div>';

  function $(sel) {
    return root.querySelector(sel);
  }
  var wrap = $(".w"), panel = $(".panel"), launch = $(".launch"), log = $(".log"), title = $("#sb-t"),
    input = $("textarea"), send = $(".send"), form = $("form"), typing = $(".typing"), status = $('[role="status"]');

  function applyTheme(t) {
    t = t || {};
    var vars = { color: "--c", background: "--bg", text: "--fg", font: "--f", radius: "--r" };
    Object.keys(vars).forEach(function (k) {
      var v = t[k];
      if (typeof v === "number" && k === "radius") v = v + "px";
      // Only plain CSS values: no declarations smuggled in through a theme.
      if (typeof v === "string" && /^[#(),.%\w\s'"-]{1,80}$/.test(v)) wrap.style.setProperty(vars[k], v);
    });
    wrap.classList.toggle("left", t.position === "left");
    title.textContent = t.title || title.textContent || "Chat with us";
  }
  applyTheme(theme);

  var socket = null, state = "idle", bubbles = {};

  function note(text, alert) {
    var p = document.createElement("p");
    p.className = "m note";
    p.textContent = text;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
    if (alert) status.textContent = text;
  }
  function bubble(kind, text, id) {
    var p = id && bubbles[id];
    if (!p) {
      p = document.createElement("p");
      p.className = "m " + kind;
      log.appendChild(p);
      if (id) bubbles[id] = p;
    }
    p.textContent = text;
    log.scrollTop = log.scrollHeight;
    return p;
  }
  function ready(on) {
    input.disabled = !on;
    send.disabled = !on;
    if (on && !panel.hidden) input.focus();
  }

  function connect(voice) {
    state = "connecting";
    note(voice ? "Calling\u2026" : "Connecting\u2026");
    fetch(api + "/channels/web/" + encodeURIComponent(channel) + "/public-session", { method: "POST", mode: "cors" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body && body.error) || "HTTP " + r.status);
          return body.data;
        });
      })
      .then(function (s) {
        socket = new WebSocket(s.websocket_url + "?token=" + encodeURIComponent(s.token) + (voice ? "&mode=voice" : ""));
        socket.binaryType = "arraybuffer";
        socket.onmessage = onMessage;
        if (voice) socket.onopen = function () { startAudio(socket); };
        socket.onclose = function () {
          socket = null;
          stopAudio();
          ready(false);
          typing.hidden = true;
          if (state === "connecting") failed("This chat is not available right now.");
          else if (state === "open") ended("The chat was disconnected.");
        };
      })
      .catch(function (e) {
        failed("This chat is not available on this site (" + e.message + ").");
      });
  }
  function failed(text) {
    state = "failed";
    wrap.setAttribute("data-state", "refused");
    note(text, true);
  }
  function ended(text) {
    state = "ended";
    wrap.setAttribute("data-state", "ended");
    note(text, true);
    var again = document.createElement("button");
    again.type = "button";
    again.className = "send";
    again.textContent = "Start a new chat";
    again.onclick = function () {
      again.remove();
      connect(false);
    };
    log.appendChild(again);
  }

  function onMessage(ev) {
    if (typeof ev.data !== "string") {
      play(ev.data);
      return;
    }
    var msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    var d = msg.data || {};
    switch (msg.type) {
      case "connected":
        state = "open";
        wrap.setAttribute("data-state", "open");
        if (d.channel) {
          var t = d.channel.theme && typeof d.channel.theme === "object" ? d.channel.theme : {};
          if (!t.title && d.channel.name) t.title = d.channel.name;
          try {
            localStorage.setItem(store, JSON.stringify(t));
          } catch (e) {}
          applyTheme(t);
        }
        log.textContent = "";
        ready(true);
        break;
      case "agent_message":
        typing.hidden = true;
        var p = bubble(d.author === "human" ? "human" : "agent", "", d.id);
        // Pieces add to the bubble; the final message carries the whole reply.
        p.textContent = d.final ? d.text : (p.textContent ? p.textContent + " " : "") + d.text;
        if (d.final) p.setAttribute("data-final", "true");
        break;
      case "typing":
        typing.hidden = !d.active;
        break;
      case "clear":
        silence();
        break;
      case "transcript_update":
        // A spoken call shows its lines as they are said (a text chat has its bubbles already).
        if (!audio) break;
        (d.transcript || []).forEach(function (e) {
          if (e.role === "user" || e.role === "agent" || e.role === "supervisor") {
            var line = bubble(e.role === "user" ? "user" : e.role === "agent" ? "agent" : "human", e.text, "seq" + e.seq);
            if (e.interrupted) line.setAttribute("data-interrupted", "true");
          }
        });
        break;
      case "end":
        state = "ended";
        ready(false);
        ended("The chat has ended.");
        break;
      case "error":
        note(msg.error || "Something went wrong.", true);
        break;
    }
  }

  // ---- the spoken call ------------------------------------------------------
  var RATE = 16000, audio = null;
  // Captures the microphone in 20 ms chunks of 16-bit PCM.
  var WORKLET =
    "class Mic extends AudioWorkletProcessor{constructor(){super();this.b=new Int16Array(320);this.n=0}" +
    "process(i){var c=i[0]&&i[0][0];if(!c)return true;for(var k=0;k<c.length;k++){var v=Math.max(-1,Math.min(1,c[k]));" +
    "this.b[this.n++]=v<0?v*32768:v*32767;if(this.n===320){this.port.postMessage(this.b.buffer,[this.b.buffer]);" +
    "this.b=new Int16Array(320);this.n=0}}return true}}registerProcessor('sb-mic',Mic);";

  function startAudio(ws) {
    var ctx = new (window.AudioContext || window.webkitAudioContext)({ sampleRate: RATE });
    audio = { ctx: ctx, next: 0, playing: [], stream: null, node: null };
    var current = audio;
    var url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
    navigator.mediaDevices
      .getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } })
      .then(function (stream) {
        current.stream = stream;
        return ctx.audioWorklet.addModule(url).then(function () {
          if (audio !== current) return;
          var node = new AudioWorkletNode(ctx, "sb-mic");
          node.port.onmessage = function (e) {
            if (ws.readyState === 1) ws.send(e.data);
          };
          ctx.createMediaStreamSource(stream).connect(node);
          current.node = node;
          wrap.setAttribute("data-state", "voice");
        });
      })
      .catch(function (e) {
        note("The microphone is not available (" + e.message + ").", true);
        ws.close();
      });
  }
  function play(buffer) {
    if (!audio) return;
    var pcm = new Int16Array(buffer), ctx = audio.ctx;
    var b = ctx.createBuffer(1, pcm.length, RATE), ch = b.getChannelData(0);
    for (var i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    var src = ctx.createBufferSource();
    src.buffer = b;
    src.connect(ctx.destination);
    audio.next = Math.max(audio.next, ctx.currentTime);
    src.start(audio.next);
    audio.next += b.duration;
    audio.playing.push(src);
    var list = audio.playing;
    src.onended = function () {
      var k = list.indexOf(src);
      if (k >= 0) list.splice(k, 1);
    };
  }
  // The visitor cut the agent off: drop what is queued for playback.
  function silence() {
    if (!audio) return;
    audio.playing.forEach(function (s) {
      try { s.stop(); } catch (e) {}
    });
    audio.playing = [];
    audio.next = audio.ctx.currentTime;
  }
  function stopAudio() {
    if (!audio) return;
    silence();
    if (audio.stream) audio.stream.getTracks().forEach(function (t) { t.stop(); });
    if (audio.node) audio.node.disconnect();
    audio.ctx.close();
    audio = null;
    call.setAttribute("aria-pressed", "false");
    call.setAttribute("aria-label", "Start a voice call");
  }
  var call = $(".call");
  call.addEventListener("click", function () {
    if (audio || call.getAttribute("aria-pressed") === "true") {
      // Hang up: the relay ends the call and says so.
      if (socket) socket.close();
      stopAudio();
      return;
    }
    call.setAttribute("aria-pressed", "true");
    call.setAttribute("aria-label", "End the voice call");
    if (socket) {
      socket.onclose = null;
      socket.close();
      socket = null;
    }
    log.textContent = "";
    bubbles = {};
    connect(true);
  });

  function open() {
    panel.hidden = false;
    launch.setAttribute("aria-expanded", "true");
    launch.setAttribute("aria-label", "Close chat");
    if (state === "idle") connect(false);
    if (state === "open") input.focus();
    else $(".x").focus();
  }
  function close() {
    panel.hidden = true;
    launch.setAttribute("aria-expanded", "false");
    launch.setAttribute("aria-label", "Open chat");
    launch.focus();
  }
  launch.addEventListener("click", function () {
    panel.hidden ? open() : close();
  });
  $(".x").addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") close();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : submit(e);
    }
  });
  function submit(e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || !socket || state !== "open") return;
    socket.send(JSON.stringify({ type: "user_message", text: text }));
    bubble("user", text);
    input.value = "";
  }
  form.addEventListener("submit", submit);

  function mount() {
    document.body.appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
