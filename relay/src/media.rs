//! `/ws/media/twilio` (SPEC §14): a phone call's audio, as Twilio Media
//! Streams sends it (`<Connect><Stream>` from the voice webhook or an
//! outbound call's TwiML). Twilio opens the socket with no credentials; the
//! call and its signed media token arrive in the `start` message's
//! `customParameters`, and a stream without a valid one is closed (policy
//! violation) before it touches any call.
//!
//! Once started, the stream is the transport of the voice pipeline
//! ([`switchboard::services::calls::voice`]): a reader task turns Twilio's
//! [`Event`]s into the pipeline's inbound audio (8 kHz μ-law → 16 kHz PCM16)
//! and keypad digits, and [`TwilioStream`] sends the agent's voice back
//! (16 kHz → 8 kHz μ-law, 160-byte frames) and `clear`s Twilio's buffer on
//! barge-in. The stream's `stop` (or its socket closing) hangs up; the call
//! ending on our side closes the socket, and Twilio moves on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use switchboard::services::calls::media::{self, MediaCall};
use switchboard::services::calls::voice::{self, Inbound};
use switchboard::speech::audio::{
    AudioError, FRAME_MS, Framer, PHONE_RATE, Resampler, samples_in, ulaw_decode, ulaw_encode,
};
use switchboard::{App, Error};

/// How long Twilio has from the upgrade to its `start` message.
pub const START_WITHIN: Duration = Duration::from_secs(10);
/// The largest message a stream may send (a 20 ms media frame is ~300 bytes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The media-stream route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws/media/twilio", get(upgrade))
        .with_state(app)
}

/// The `start` message's details.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// The Twilio account.
    #[serde(default)]
    pub account_sid: String,
    /// Twilio's id of the call.
    #[serde(default)]
    pub call_sid: String,
    /// The `<Parameter>`s of the `<Stream>`: `call_id` and `token`.
    #[serde(default)]
    pub custom_parameters: HashMap<String, String>,
    /// The audio's encoding (`audio/x-mulaw`, 8000 Hz, 1 channel).
    #[serde(default)]
    pub media_format: Option<MediaFormat>,
}

/// The stream's audio format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u32,
}

/// A chunk of the caller's audio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Media {
    /// `inbound` (the caller) or `outbound`.
    #[serde(default)]
    pub track: String,
    /// Milliseconds since the stream started, as a decimal string.
    #[serde(default)]
    pub timestamp: String,
    /// base64 μ-law bytes.
    pub payload: String,
}

impl Media {
    /// The μ-law bytes; `None` when the payload is not base64.
    pub fn audio(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.payload).ok()
    }
}

/// A named point in the audio sent, echoed back when it has been played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The name given.
    pub name: String,
}

/// A keypad press.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dtmf {
    /// `0`–`9`, `*`, `#`.
    pub digit: String,
}

/// What Twilio sends on a media stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// The socket is up (the first message).
    Connected {},
    /// The stream starts: the call's details and custom parameters.
    Start {
        /// The stream's id, which every message sent back names.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// The details.
        start: Start,
    },
    /// A chunk of audio.
    Media {
        /// The chunk.
        media: Media,
    },
    /// A mark sent earlier has been played.
    Mark {
        /// Which.
        mark: Mark,
    },
    /// The caller pressed a key.
    Dtmf {
        /// Which.
        dtmf: Dtmf,
    },
    /// The stream ended (the call hung up or moved on).
    Stop {},
}

/// What Switchboard sends back.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Outbound<'a> {
    Media {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        media: OutMedia,
    },
    Mark {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        mark: Mark,
    },
    Clear {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
    },
}

#[derive(Debug, Clone, Serialize)]
struct OutMedia {
    payload: String,
}

/// A started Twilio media stream's sending half: the transport of one
/// phone call's audio toward the caller.
pub struct TwilioStream {
    sink: SplitSink<WebSocket, Message>,
    stream_sid: String,
    /// 16 kHz → 8 kHz.
    down: Resampler,
    /// 160-byte μ-law frames, as Twilio wants them.
    framer: Framer<u8>,
}

impl TwilioStream {
    fn new(sink: SplitSink<WebSocket, Message>, stream_sid: String) -> Result<Self, AudioError> {
        Ok(TwilioStream {
            sink,
            stream_sid,
            down: Resampler::new(voice::RATE, PHONE_RATE)?,
            framer: Framer::new(samples_in(PHONE_RATE, FRAME_MS)),
        })
    }

    /// Sends μ-law audio to the caller as one `media` message. `false` when
    /// the socket is gone.
    pub async fn send_audio(&mut self, mulaw: &[u8]) -> bool {
        let media = OutMedia {
            payload: STANDARD.encode(mulaw),
        };
        let message = Outbound::Media {
            stream_sid: &self.stream_sid,
            media,
        };
        send(&mut self.sink, &message).await
    }

    /// Asks Twilio to echo `name` once the audio sent so far has played.
    pub async fn mark(&mut self, name: &str) -> bool {
        let mark = Mark {
            name: name.to_owned(),
        };
        let message = Outbound::Mark {
            stream_sid: &self.stream_sid,
            mark,
        };
        send(&mut self.sink, &message).await
    }

    async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
    }
}

#[async_trait]
impl voice::Outbound for TwilioStream {
    async fn audio(&mut self, frame: &[i16]) -> bool {
        let phone = self.down.push(frame);
        for mulaw in self.framer.push(&ulaw_encode(&phone)) {
            if !self.send_audio(&mulaw).await {
                return false;
            }
        }
        true
    }

    /// Drops the audio Twilio has buffered but not yet played (barge-in).
    async fn clear(&mut self) -> bool {
        self.framer.clear();
        self.down.reset();
        let message = Outbound::Clear {
            stream_sid: &self.stream_sid,
        };
        send(&mut self.sink, &message).await
    }
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, message: &Outbound<'_>) -> bool {
    let Ok(text) = serde_json::to_string(message) else {
        return false;
    };
    sink.send(Message::Text(text.into())).await.is_ok()
}

async fn next_event(socket: &mut SplitStream<WebSocket>) -> Option<Event> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => match serde_json::from_str::<Event>(&text) {
                Ok(event) => return Some(event),
                Err(e) => tracing::debug!(error = %e, "not a media-stream event; skipped"),
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn upgrade(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(crate::READ_BUFFER)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(app, socket))
}

async fn refuse(mut sink: SplitSink<WebSocket, Message>, reason: &str) {
    tracing::info!(reason, "media stream refused");
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: reason.to_owned().into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// What a refused stream is told: the reason when it is the stream's
/// (token, call state), never an internal failure's details (logged).
fn said(e: Error) -> String {
    match e {
        Error::Unauthorized(_) | Error::Conflict(_) | Error::NotFound(_) => e.to_string(),
        other => {
            tracing::error!(error = %other, "a media stream could not start its call");
            "the call could not be started".into()
        }
    }
}

/// Waits for `start`, checks its token, then talks on the call until the
/// stream or the call ends.
async fn serve(app: Arc<App>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let started = tokio::time::timeout(START_WITHIN, async {
        loop {
            match next_event(&mut stream).await? {
                Event::Start { stream_sid, start } => return Some((stream_sid, start)),
                Event::Connected {} => {}
                other => tracing::debug!(?other, "media event before start; skipped"),
            }
        }
    })
    .await;
    let Ok(Some((stream_sid, start))) = started else {
        return refuse(sink, "no start message").await;
    };
    let param = |name: &str| start.custom_parameters.get(name).map(String::as_str);
    let (Some(call_id), Some(token)) = (param("call_id"), param("token")) else {
        return refuse(sink, "the stream has no call_id and token parameters").await;
    };
    let (tenant, call) = match media::admit(&app, token, call_id).await {
        Ok(found) => found,
        Err(e) => return refuse(sink, &said(e)).await,
    };
    let mut out = match TwilioStream::new(sink, stream_sid) {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "the phone audio path could not start");
            return;
        }
    };
    let held = match MediaCall::start(app.clone(), tenant, call, &start.call_sid).await {
        Ok(held) => held,
        Err(e) => return refuse(out.sink, &said(e)).await,
    };
    let id = held.call_id().to_owned();
    let (tx, inbound) = mpsc::channel(INBOUND_BACKLOG);
    let reader = tokio::spawn(read(stream, tx));
    if let Err(e) = held.run(inbound, &mut out).await {
        tracing::warn!(call = %id, error = %e, "a phone call ended in error");
    }
    reader.abort();
    out.close(close_code::NORMAL, "call ended").await;
}

/// Frames the pipeline may have waiting (Twilio sends 50 a second).
const INBOUND_BACKLOG: usize = 256;

/// Turns the stream's events into the pipeline's input until the stream
/// stops: the caller's audio at 16 kHz, keypad digits, the hang-up.
async fn read(mut stream: SplitStream<WebSocket>, tx: mpsc::Sender<Inbound>) {
    let mut up = match Resampler::new(PHONE_RATE, voice::RATE) {
        Ok(up) => up,
        Err(e) => {
            tracing::error!(error = %e, "the phone audio path could not start");
            let _ = tx.send(Inbound::HangUp).await;
            return;
        }
    };
    loop {
        let inbound = match next_event(&mut stream).await {
            None | Some(Event::Stop {}) => Inbound::HangUp,
            Some(Event::Media { media }) => match media.audio() {
                Some(mulaw) if media.track != "outbound" => {
                    Inbound::Audio(up.push(&ulaw_decode(&mulaw)))
                }
                _ => continue,
            },
            Some(Event::Dtmf { dtmf }) => {
                let mut digits = dtmf.digit.chars();
                match (digits.next(), digits.next()) {
                    (Some(digit), None) => Inbound::Dtmf(digit),
                    _ => continue,
                }
            }
            Some(_) => continue,
        };
        let hung_up = inbound == Inbound::HangUp;
        if tx.send(inbound).await.is_err() || hung_up {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_messages_parse_into_events() {
        let start = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1",
            "start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],
            "customParameters":{"call_id":"c","token":"t"},
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
        let Event::Start { stream_sid, start } = serde_json::from_str(start).unwrap() else {
            panic!("not a start");
        };
        assert_eq!(stream_sid, "MZ1");
        assert_eq!(start.call_sid, "CA1");
        assert_eq!(start.custom_parameters["token"], "t");
        assert_eq!(start.media_format.unwrap().sample_rate, 8000);
        let media = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1",
            "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"f39/"}}"#;
        let Event::Media { media } = serde_json::from_str(media).unwrap() else {
            panic!("not media");
        };
        assert_eq!(media.audio(), Some(vec![0x7f, 0x7f, 0x7f]));
        let dtmf = r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert_eq!(
            serde_json::from_str::<Event>(dtmf).unwrap(),
            Event::Dtmf {
                dtmf: Dtmf { digit: "1".into() }
            }
        );
        for other in [
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
            r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#,
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m1"}}"#,
        ] {
            serde_json::from_str::<Event>(other).unwrap();
        }
        assert!(serde_json::from_str::<Event>(r#"{"event":"boom"}"#).is_err());
        assert!(serde_json::from_str::<Event>("[]").is_err());
    }

    #[test]
    fn replies_are_in_twilio_shapes() {
        let sent = |m: &Outbound| serde_json::to_value(m).unwrap();
        assert_eq!(
            sent(&Outbound::Clear { stream_sid: "MZ1" }),
            serde_json::json!({"event": "clear", "streamSid": "MZ1"})
        );
        assert_eq!(
            sent(&Outbound::Media {
                stream_sid: "MZ1",
                media: OutMedia {
                    payload: "f39/".into()
                }
            }),
            serde_json::json!({"event": "media", "streamSid": "MZ1", "media": {"payload": "f39/"}})
        );
        assert_eq!(
            sent(&Outbound::Mark {
                stream_sid: "MZ1",
                mark: Mark { name: "m".into() }
            }),
            serde_json::json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "m"}})
        );
    }
}
