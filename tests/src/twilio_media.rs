//! Twilio's side of a media stream (Media Streams protocol): connects to the
//! relay's `/ws/media/twilio` as Twilio does after `<Connect><Stream>`, sends
//! `connected` and `start` (with the stream's custom parameters), plays
//! caller audio as 20 ms μ-law `media` frames at real-time pace, presses
//! keys (`dtmf`) and hangs up (`stop`); reads what the relay sends back.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

/// A WAV file as the phone carries it: 8 kHz μ-law bytes.
pub fn phone_audio(wav: &[u8]) -> Vec<u8> {
    use switchboard::speech::audio::{PHONE_RATE, read_wav, resample, ulaw_encode};
    let pcm = read_wav(wav).expect("a readable WAV file");
    let phone = resample(&pcm, PHONE_RATE).expect("resampled to 8 kHz");
    ulaw_encode(&phone.samples)
}

/// Bytes of one 20 ms frame of 8 kHz μ-law.
pub const FRAME_BYTES: usize = 160;
/// One frame's duration.
pub const FRAME: Duration = Duration::from_millis(20);

/// What the relay did with the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// A JSON message (`media`, `mark`, `clear`).
    Message(Value),
    /// The relay closed the socket with this code and reason.
    Closed(u16, String),
}

/// A media stream Twilio opened on the relay.
pub struct MediaStream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    stream_sid: String,
    sequence: u64,
    sent_ms: u64,
}

impl MediaStream {
    /// Connects to `relay_ws` (`ws://host:port`) and starts the stream of
    /// Twilio call `call_sid` with `parameters` (the TwiML's `<Parameter>`s).
    pub async fn start(relay_ws: &str, call_sid: &str, parameters: &[(&str, &str)]) -> Self {
        // Nagle off, as a media server sending 20 ms frames in real time has it.
        let url = format!("{relay_ws}/ws/media/twilio");
        let (ws, _) = connect_async_with_config(url, Some(crate::ws_client_config()), true)
            .await
            .expect("connect to the relay's media socket");
        let stream_sid = format!("MZ{}", uuid::Uuid::new_v4().simple());
        let mut stream = MediaStream {
            ws,
            stream_sid,
            sequence: 0,
            sent_ms: 0,
        };
        let custom: serde_json::Map<String, Value> = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        stream
            .send(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            .await;
        let sequence = stream.next_sequence();
        let sid = stream.stream_sid.clone();
        stream
            .send(json!({
                "event": "start", "sequenceNumber": sequence, "streamSid": sid,
                "start": {
                    "accountSid": "AC0", "streamSid": sid, "callSid": call_sid,
                    "tracks": ["inbound"], "customParameters": custom,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
                }
            }))
            .await;
        stream
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    async fn send(&mut self, message: Value) {
        // A relay that closed the socket shows in what is heard next.
        let _ = self
            .ws
            .send(Message::Text(message.to_string().into()))
            .await;
    }

    /// Plays `mulaw` (8 kHz μ-law) as the caller's audio: one 160-byte frame
    /// every 20 ms, paced by the clock as Twilio does (the last frame padded
    /// with μ-law silence).
    pub async fn play(&mut self, mulaw: &[u8]) {
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for (chunk, frame) in mulaw.chunks(FRAME_BYTES).enumerate() {
            tick.tick().await;
            self.send_frame(chunk, frame).await;
        }
    }

    /// Sends the `chunk`th 20 ms frame of caller audio (padded with μ-law silence).
    async fn send_frame(&mut self, chunk: usize, frame: &[u8]) {
        let mut bytes = frame.to_vec();
        bytes.resize(FRAME_BYTES, 0xff);
        let sequence = self.next_sequence();
        let sid = self.stream_sid.clone();
        let timestamp = self.sent_ms.to_string();
        self.send(json!({
            "event": "media", "sequenceNumber": sequence, "streamSid": sid,
            "media": {"track": "inbound", "chunk": (chunk + 1).to_string(),
                      "timestamp": timestamp, "payload": STANDARD.encode(&bytes)}
        }))
        .await;
        self.sent_ms += FRAME.as_millis() as u64;
    }

    /// [`MediaStream::play`] while listening: everything the relay sent
    /// meanwhile, each with when it arrived (ms since the first frame was sent).
    pub async fn play_listening(&mut self, mulaw: &[u8]) -> Vec<(u64, Value)> {
        let (started, heard) = self.play_hearing(mulaw).await;
        heard
            .into_iter()
            .map(|(at, m)| ((at - started).as_millis() as u64, m))
            .collect()
    }

    /// [`MediaStream::play`] while listening, on the clock: when the first
    /// frame was sent, and everything the relay sent meanwhile with the
    /// instant it arrived (benchmarks set these against what the provider
    /// doubles saw).
    pub async fn play_hearing(&mut self, mulaw: &[u8]) -> (Instant, Vec<(Instant, Value)>) {
        let started = Instant::now();
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut frames = mulaw.chunks(FRAME_BYTES).enumerate();
        let mut heard = Vec::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let Some((chunk, frame)) = frames.next() else { break };
                    self.send_frame(chunk, frame).await;
                }
                Some(Ok(Message::Text(text))) = self.ws.next() => {
                    let at = Instant::now();
                    heard.push((at, serde_json::from_str(&text).unwrap_or(Value::Null)));
                }
            }
        }
        (started, heard)
    }

    /// The caller presses `digit`.
    pub async fn dtmf(&mut self, digit: char) {
        let sequence = self.next_sequence();
        let sid = self.stream_sid.clone();
        self.send(json!({
            "event": "dtmf", "sequenceNumber": sequence, "streamSid": sid,
            "dtmf": {"track": "inbound_track", "digit": digit.to_string()}
        }))
        .await;
    }

    /// The call hung up: Twilio stops the stream.
    pub async fn stop(&mut self) {
        let sequence = self.next_sequence();
        let sid = self.stream_sid.clone();
        self.send(json!({
            "event": "stop", "sequenceNumber": sequence, "streamSid": sid,
            "stop": {"accountSid": "AC0", "callSid": "CA0"}
        }))
        .await;
    }

    /// The next thing the relay did, within `within`; `None` if nothing.
    pub async fn heard(&mut self, within: Duration) -> Option<Heard> {
        loop {
            let got = tokio::time::timeout(within, self.ws.next()).await.ok()?;
            match got {
                Some(Ok(Message::Text(text))) => {
                    return Some(Heard::Message(
                        serde_json::from_str(&text).unwrap_or(Value::Null),
                    ));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((u16::from(CloseCode::Status), String::new()));
                    return Some(Heard::Closed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Some(Heard::Closed(u16::from(CloseCode::Abnormal), String::new()));
                }
            }
        }
    }
}
