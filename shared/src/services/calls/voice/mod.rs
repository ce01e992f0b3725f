//! The voice pipeline (issue 14): one live call's audio in, the agent's
//! voice out, with the conversation engine in between.
//!
//! ```text
//! transport ──frames──▶ Ear (VAD → TurnTaker → transcriber task) ──utterance──▶ brain task
//!     ▲                                                                        (Conversation)
//!     └──20 ms frames── Mouth (synthesizer per sentence, paced) ◀──sentences─────┘
//! ```
//!
//! The transport (a Twilio media stream, the widget's socket) converts to
//! and from 16 kHz PCM16, the pipeline's one rate, and is otherwise dumb:
//! [`Inbound`] events in, [`Outbound`] audio and `clear` out. The pipeline
//! runs in one task that never waits on an engine: the transcriber, each
//! sentence's synthesis and the conversation's turns run in tasks of their
//! own and report back on channels, so a slow model delays its own answer
//! and never a frame.
//!
//! Barge-in: when the turn taker decides the caller is cutting in, the mouth
//! drops everything not yet played, the transport is told to `clear` what it
//! buffered, and the conversation hears [`Input::Interrupted`] with the words
//! the caller actually heard; the rest of the reply being written is not
//! spoken. Backchannels ("mm-hm") do not interrupt; `allow_interruptions`
//! off means nothing does.

mod brain;
mod ear;
mod mouth;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

pub use brain::Carrier;
use brain::Said;
use ear::{Ear, Heard};
use mouth::Mouth;

use super::held::Held;
use super::recording::Recorder;
use crate::App;
use crate::domain::Tenant;
use crate::domain::agent::Agent;
use crate::domain::call::Call;
use crate::engine::call::TranscriptEntry;
use crate::engine::conversation::Input;
use crate::error::{Error, Result};
use crate::services::live::audio::Tap;
use crate::speech::audio::{Framer, mix};
use crate::speech::offline::{self, smart_turn::SmartTurn};
use crate::speech::turn::{Decision, TurnConfig};
use crate::speech::{SpeakOptions, Synthesizer, Transcriber, resolve};

/// The pipeline's sample rate (speech-to-text's, the widget's).
pub const RATE: u32 = 16_000;
/// One frame: what the transports send and the detector reads.
pub const FRAME_MS: u32 = 20;
/// Samples in one frame at [`RATE`].
pub const FRAME_SAMPLES: usize = (RATE / 1000 * FRAME_MS) as usize;

/// What the caller's side of the transport delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Caller audio, 16 kHz PCM16, any length, in order.
    Audio(Vec<i16>),
    /// A keypad digit.
    Dtmf(char),
    /// Words the caller typed (the widget): a turn of its own.
    Text(String),
    /// The caller hung up (the stream stopped).
    HangUp,
}

/// Where the agent's side goes: the transport toward the caller.
#[async_trait]
pub trait Outbound: Send {
    /// One 20 ms frame of the agent's audio (16 kHz). `false`: the caller is gone.
    async fn audio(&mut self, frame: &[i16]) -> bool;
    /// Drops the audio sent but not yet played (barge-in).
    async fn clear(&mut self) -> bool;
    /// New transcript entries, already stored (a page shows them; a phone
    /// has nowhere to).
    async fn transcript(&mut self, _entries: &[TranscriptEntry]) -> bool {
        true
    }
}

/// Caller speech over the agent this long (after the detector's onset, which
/// already lags the voice by ~50 ms) holds the agent until the turn taker
/// has decided whether it is a barge-in. At 100 ms the agent stopped 196 ms
/// after the caller's voice began (p50; p95 216 ms, `voice-bench
/// --barge-in`), over the 200 ms a caller notices; a hold that proves a
/// backchannel costs the caller only a short gap, so it comes sooner.
const HOLD_AFTER: Duration = Duration::from_millis(60);

/// The recording is flushed every this many 20 ms ticks (once a second).
const RECORD_FLUSH_TICKS: u64 = 50;

/// Caller audio missing this long during a turn counts as silence.
const MIC_GAP: Duration = Duration::from_millis(100);

/// The agent audio kept for listeners' mix: 200 ms.
const MONITOR_MAX: usize = FRAME_SAMPLES * 10;

/// How a voice call's turns went, for the call's metrics and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Per answered turn: caller stopped speaking → first agent frame sent, ms.
    pub turn_latency_ms: Vec<u64>,
    /// Per barge-in: caller speech onset → the agent's audio stopped, ms.
    pub barge_in_ms: Vec<u64>,
}

/// The engines a call's voice uses, and why (logged when the call starts).
struct Engines {
    /// Speech-to-text (`None`: none is available; the caller is not understood).
    transcriber: Option<Arc<dyn Transcriber>>,
    /// Text-to-speech (`None`: none is available; the agent is silent).
    synthesizer: Option<Arc<dyn Synthesizer>>,
    /// The end-of-turn model (`None`: not installed; the words alone decide).
    judge: Option<Arc<SmartTurn>>,
}

impl Engines {
    /// The engines for `tenant`'s calls with `agent`: the workspace's
    /// providers, else the offline engines.
    async fn resolve(app: &App, tenant: &Tenant, agent: &Agent, call_id: &str) -> Engines {
        let transcriber = match resolve::transcriber(app, tenant).await {
            Ok(r) => {
                tracing::info!(call = %call_id, engine = r.engine.name(), reason = %r.reason, "speech-to-text");
                Some(r.engine)
            }
            Err(e) => {
                tracing::warn!(call = %call_id, error = %e, "no speech-to-text: the caller's words will not be understood");
                None
            }
        };
        let synthesizer = match resolve::synthesizer(app, tenant, agent.voice_settings.as_ref())
            .await
        {
            Ok(r) => {
                tracing::info!(call = %call_id, engine = r.engine.name(), reason = %r.reason, "text-to-speech");
                Some(r.engine)
            }
            Err(e) => {
                tracing::warn!(call = %call_id, error = %e, "no text-to-speech: the agent's words go only to the transcript");
                None
            }
        };
        let judge = match offline::turn_detector(app) {
            Ok(model) => Some(model),
            Err(e) => {
                tracing::debug!(call = %call_id, error = %e, "no end-of-turn model: the words alone decide");
                None
            }
        };
        Engines {
            transcriber,
            synthesizer,
            judge,
        }
    }
}

/// How `agent` speaks: its `voice_settings` and language.
pub(crate) fn speak_options(agent: &Agent) -> SpeakOptions {
    let voice = agent.voice_settings.as_ref();
    SpeakOptions {
        voice_id: voice.and_then(|v| v.voice_id.clone()),
        language: agent.language.clone(),
        speed: voice.and_then(|v| v.speed),
        stability: voice.and_then(|v| v.stability),
        similarity_boost: voice.and_then(|v| v.similarity_boost),
    }
}

/// How the call's loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The caller hung up or the transport went away.
    HungUp,
    /// The conversation ended itself and its last words were played.
    Finished,
    /// Ended elsewhere, or the lease was lost.
    Stopped,
}

/// Runs `held`'s voice over a transport until the call ends, then ends it
/// and returns it as it ended.
pub(crate) async fn run(
    held: Held,
    carrier: Option<Carrier>,
    inbound: mpsc::Receiver<Inbound>,
    out: &mut dyn Outbound,
) -> Result<(Call, Timings)> {
    let agent = held.conversation.agent().clone();
    let engines = Engines::resolve(&held.app, &held.tenant, &agent, &held.call_id).await;
    let turn = TurnConfig {
        allow_interruptions: agent.allow_interruptions,
        ..TurnConfig::default()
    };
    let ear = Ear::new(engines.transcriber, engines.judge, &agent.language, turn)
        .map_err(|e| Error::Internal(format!("the voice pipeline could not start: {e}")))?;
    let mouth = Mouth::new(engines.synthesizer, speak_options(&agent));
    let steering = Some(crate::services::live::control::register(&held.call_id));
    let tap = Tap::open(&held.call_id);
    let recorder = Recorder::start(held.app.clone(), held.tenant.clone(), &held.call_id).await;
    let (inputs, brain_inputs) = mpsc::unbounded_channel();
    let (said_tx, said) = mpsc::unbounded_channel();
    let brain = tokio::spawn(brain::run(held, carrier, brain_inputs, said_tx, steering));
    let _ = inputs.send(Input::Answered);
    let mut voice = Voice {
        ear,
        mouth,
        tap,
        monitor: VecDeque::new(),
        recorder,
        caller_recorded: false,
        inputs,
        framer: Framer::new(FRAME_SAMPLES),
        started: Instant::now(),
        silence_timeout: (agent.silence_timeout_seconds > 0)
            .then(|| Duration::from_secs(u64::from(agent.silence_timeout_seconds))),
        max_duration: (agent.max_duration_seconds > 0)
            .then(|| Duration::from_secs(u64::from(agent.max_duration_seconds))),
        timings: Timings::default(),
        thinking: false,
        muted: false,
        ending: false,
        quiet_since: None,
        caller_stopped: None,
        onset: None,
        last_audio: Instant::now(),
        interruptible: agent.allow_interruptions,
        over_agent: false,
        paused_at: None,
        max_duration_sent: false,
    };
    let stop = voice.run(inbound, said, out).await;
    let Voice {
        inputs,
        timings,
        recorder,
        ..
    } = voice;
    drop(inputs);
    // The recording is complete before the call is marked ended.
    if let Some(recorder) = recorder
        && let Err(e) = recorder.finish().await
    {
        tracing::warn!(error = %e, "a voice call's recording could not be finished");
    }
    let mut held = brain
        .await
        .map_err(|e| Error::Internal(format!("a voice call's conversation failed: {e}")))?;
    let call = match stop {
        Stop::Stopped => held.close(None, |_| {}).await?,
        Stop::HungUp | Stop::Finished => {
            if stop == Stop::HungUp {
                held.hang_up().await;
            }
            held.close(Some(&timings.turn_latency_ms), |_| {}).await?
        }
    };
    Ok((call, timings))
}

/// The state of one call's loop.
struct Voice {
    ear: Ear,
    mouth: Mouth,
    /// Supervisors listening and, while they hold the call, speaking.
    tap: Tap,
    /// The agent's audio sent, waiting to be mixed with the caller's for listeners.
    monitor: VecDeque<i16>,
    /// Both sides to the call's recording (`None`: the workspace keeps none).
    recorder: Option<Recorder>,
    /// The recording has had its first caller frame.
    caller_recorded: bool,
    inputs: mpsc::UnboundedSender<Input>,
    framer: Framer<i16>,
    started: Instant,
    silence_timeout: Option<Duration>,
    max_duration: Option<Duration>,
    timings: Timings,
    /// The conversation is working on a turn.
    thinking: bool,
    /// The caller cut the agent off: the rest of the turn being written is not spoken.
    muted: bool,
    /// The conversation ended itself: stop once its last words are played.
    ending: bool,
    /// Since when neither side has said anything.
    quiet_since: Option<Instant>,
    /// When the caller stopped speaking, while their answer is awaited.
    caller_stopped: Option<Instant>,
    /// When the caller's current speech began (for barge-in timing).
    onset: Option<Instant>,
    /// When caller audio last arrived.
    last_audio: Instant,
    /// The agent's `allow_interruptions`.
    interruptible: bool,
    /// The caller's current turn began while the agent spoke.
    over_agent: bool,
    /// When the agent was held for a caller who may be cutting in.
    paused_at: Option<Instant>,
    max_duration_sent: bool,
}

impl Voice {
    async fn run(
        &mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut said: mpsc::UnboundedReceiver<Said>,
        out: &mut dyn Outbound,
    ) -> Stop {
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(FRAME_MS)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            let due = self.mouth.next_due();
            let frame_due = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let alive = tokio::select! {
                () = frame_due => self.pump(out).await,
                event = inbound.recv() => match event {
                    None | Some(Inbound::HangUp) => return Stop::HungUp,
                    Some(Inbound::Audio(samples)) => {
                        self.last_audio = Instant::now();
                        self.caller_audio(&samples, out).await
                    }
                    Some(Inbound::Dtmf(digit)) => {
                        let _ = self.inputs.send(Input::Dtmf(digit));
                        true
                    }
                    Some(Inbound::Text(text)) => {
                        let _ = self.inputs.send(Input::Utterance(text));
                        true
                    }
                },
                Some(heard) = self.ear.heard.recv() => {
                    self.heard(heard, out).await
                }
                said = said.recv() => match said {
                    None | Some(Said::Stopped) => return Stop::Stopped,
                    Some(said) => self.said(said, out).await,
                },
                () = self.mouth.synthesized() => self.pump(out).await,
                Some(voice) = self.tap.voice.recv() => {
                    // Only while taken over (the tap refuses it otherwise).
                    self.mouth.play_live(&voice);
                    self.pump(out).await
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if self.ending && !self.mouth.speaking(now) {
                        return Stop::Finished;
                    }
                    self.idle();
                    ticks += 1;
                    if ticks.is_multiple_of(RECORD_FLUSH_TICKS)
                        && let Some(recorder) = &mut self.recorder
                    {
                        recorder.flush().await;
                    }
                    // A page whose microphone stopped mid-turn (muted, or a
                    // client that sends only while the button is held): its
                    // silence is silence, so the turn still ends.
                    if self.ear.caller_turn() && now - self.last_audio >= MIC_GAP {
                        self.last_audio = now;
                        if !self.caller_audio(&[0; FRAME_SAMPLES], out).await {
                            return Stop::HungUp;
                        }
                    }
                    self.pump(out).await
                }
            };
            if !alive {
                return Stop::HungUp;
            }
        }
    }

    /// Caller audio: framed, listened to; what the turn taker decides is done.
    async fn caller_audio(&mut self, samples: &[i16], out: &mut dyn Outbound) -> bool {
        for frame in self.framer.push(samples) {
            let now = Instant::now();
            self.record_caller(now, &frame);
            if self.tap.listened() {
                let take = self.monitor.len().min(FRAME_SAMPLES);
                let agent: Vec<i16> = self.monitor.drain(..take).collect();
                self.tap.send(mix(&frame, &agent).into());
            }
            self.ear.agent_speaking(self.mouth.speaking(now));
            if let Some(decision) = self.ear.frame(frame)
                && !self.decide(decision, out).await
            {
                return false;
            }
            if !self.hold_for_caller(out).await {
                return false;
            }
        }
        true
    }

    async fn heard(&mut self, heard: Heard, out: &mut dyn Outbound) -> bool {
        match heard {
            Heard::Peeked(text) => match self.ear.peeked(&text) {
                Some(decision) => self.decide(decision, out).await,
                None => true,
            },
            Heard::Final(text) => {
                if text.trim().is_empty() {
                    // Noise, or words the engine could not make out: no turn.
                    self.caller_stopped = None;
                } else {
                    let _ = self.inputs.send(Input::Utterance(text));
                }
                true
            }
            Heard::Dropped => true,
            Heard::Judged { asked_ms, verdict } => match self.ear.judged(asked_ms, verdict) {
                Some(decision) => self.decide(decision, out).await,
                None => true,
            },
        }
    }

    /// Milliseconds of call time at `at` (the recording's clock starts with the pipeline).
    fn call_ms(&self, at: Instant) -> u64 {
        millis(at.saturating_duration_since(self.started))
    }

    /// A caller frame to the recording, after the silence before the first
    /// one (the stream may start a moment after the call).
    fn record_caller(&mut self, now: Instant, frame: &[i16]) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        if !std::mem::replace(&mut self.caller_recorded, true) {
            let gap = (millis(now - self.started) * u64::from(RATE) / 1000) as usize;
            recorder.caller(&vec![0; gap.saturating_sub(frame.len())]);
        }
        recorder.caller(frame);
    }

    /// The agent's audio after `now` was never heard: out of the recording too.
    fn cut_recording(&mut self, now: Instant) {
        let at = self.call_ms(now);
        if let Some(recorder) = &mut self.recorder {
            recorder.cut_agent(at);
        }
    }

    /// Holds the agent once a caller talking over it has spoken for
    /// [`HOLD_AFTER`]: its audio stops now (the transport drops what it
    /// buffered) while the turn taker decides between a barge-in (the reply
    /// is cut) and a backchannel (it goes on where it stopped).
    async fn hold_for_caller(&mut self, out: &mut dyn Outbound) -> bool {
        let now = Instant::now();
        let due = self.interruptible
            && self.over_agent
            && !self.mouth.paused()
            && self.ear.caller_turn()
            && self.mouth.speaking(now)
            && self.onset.is_some_and(|onset| now - onset >= HOLD_AFTER);
        if !due {
            return true;
        }
        self.mouth.pause(now);
        self.paused_at = Some(now);
        self.monitor.clear();
        self.cut_recording(now);
        out.clear().await
    }

    /// A held agent goes on (the caller's words were not a barge-in).
    async fn release(&mut self, out: &mut dyn Outbound) -> bool {
        self.over_agent = false;
        if self.mouth.paused() {
            self.mouth.resume();
            self.paused_at = None;
            return self.pump(out).await;
        }
        true
    }

    async fn decide(&mut self, decision: Decision, out: &mut dyn Outbound) -> bool {
        let now = Instant::now();
        match decision {
            Decision::StartOfSpeech { .. } => {
                self.onset = Some(now);
                self.over_agent = self.mouth.speaking(now);
                self.quiet_since = None;
                true
            }
            Decision::BargeIn { .. } => {
                self.over_agent = false;
                let stopped = self.paused_at.take().unwrap_or(now);
                let Some(heard) = self.mouth.interrupt(now) else {
                    return true;
                };
                self.muted = self.thinking;
                if let Some(onset) = self.onset {
                    self.timings.barge_in_ms.push(millis(stopped - onset));
                }
                let _ = self.inputs.send(Input::Interrupted { heard });
                self.monitor.clear();
                self.cut_recording(now);
                out.clear().await
            }
            Decision::EndOfTurn { silence_ms, .. } => {
                self.onset = None;
                self.caller_stopped = Some(now - Duration::from_millis(u64::from(silence_ms)));
                self.release(out).await
            }
            Decision::Backchannel { .. } => {
                self.onset = None;
                self.release(out).await
            }
            Decision::Peek { .. } | Decision::Judge { .. } => true,
        }
    }

    async fn said(&mut self, said: Said, out: &mut dyn Outbound) -> bool {
        match said {
            Said::Turn { cut } => {
                self.thinking = true;
                if cut {
                    let now = Instant::now();
                    self.mouth.stop(now);
                    self.monitor.clear();
                    self.cut_recording(now);
                    if !out.clear().await {
                        return false;
                    }
                }
                if !self.muted {
                    self.mouth.new_reply();
                }
                true
            }
            Said::Sentence(text) | Said::Person(text) => {
                if !self.muted {
                    self.mouth.say(text);
                }
                self.pump(out).await
            }
            Said::Done {
                entries,
                ended,
                paused,
            } => {
                self.tap.set_taken_over(paused);
                self.thinking = false;
                self.muted = false;
                if ended.is_some() {
                    self.ending = true;
                }
                if self.caller_stopped.is_some() && !self.mouth.speaking(Instant::now()) {
                    // The turn said nothing aloud: no latency to count.
                    self.caller_stopped = None;
                }
                out.transcript(&entries).await
            }
            Said::Stopped => true,
        }
    }

    /// Sends the frames due now.
    async fn pump(&mut self, out: &mut dyn Outbound) -> bool {
        let now = Instant::now();
        let frames = self.mouth.pump(now);
        if let Some(first) = frames.first()
            && let Some(stopped) = self.caller_stopped.take()
        {
            self.timings
                .turn_latency_ms
                .push(millis(first.play_at.saturating_duration_since(stopped)));
        }
        for frame in frames {
            let at_ms = self.call_ms(frame.play_at);
            if let Some(recorder) = &mut self.recorder {
                recorder.agent(at_ms, &frame.samples);
            }
            if self.tap.listened() {
                self.monitor.extend(&frame.samples);
                // Listeners hear the agent at most this far behind.
                let excess = self.monitor.len().saturating_sub(MONITOR_MAX);
                self.monitor.drain(..excess);
            }
            if !out.audio(&frame.samples).await {
                return false;
            }
        }
        true
    }

    /// The caller's silence and the call's length: the agent's
    /// `silence_timeout_seconds` and `max_duration_seconds`.
    fn idle(&mut self) {
        let now = Instant::now();
        if let Some(limit) = self.max_duration
            && !self.max_duration_sent
            && now - self.started >= limit
        {
            self.max_duration_sent = true;
            let _ = self.inputs.send(Input::MaxDuration);
        }
        let quiet = !self.mouth.speaking(now)
            && !self.ear.caller_turn()
            && !self.thinking
            && self.caller_stopped.is_none();
        if !quiet {
            self.quiet_since = None;
            return;
        }
        let since = *self.quiet_since.get_or_insert(now);
        if let Some(limit) = self.silence_timeout
            && now - since >= limit
        {
            self.quiet_since = None;
            let _ = self.inputs.send(Input::Silence);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
