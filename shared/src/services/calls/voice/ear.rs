//! The caller's side of a voice call: each 20 ms frame goes through the
//! voice-activity detector and the [`TurnTaker`]; while the caller speaks
//! (from a short pre-roll before the detector's onset, which lags the true
//! one) the audio streams to the transcriber, which runs in a task of its
//! own so a slow model never delays a frame.
//!
//! The transcriber's answers come back on [`Ear::heard`]: a peek's text goes
//! back into the turn taker (it may then decide), a turn's final text
//! becomes the caller's utterance.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::speech::audio::AudioError;
use crate::speech::turn::{Decision, TurnConfig, TurnTaker};
use crate::speech::vad::{Vad, VadConfig};
use crate::speech::{TranscribeOptions, Transcriber, TranscriptionSession};

use super::{FRAME_MS, RATE};

/// Audio kept from before the detector's onset (it needs ~50 ms of voice
/// to decide, and the first syllable is quiet).
const PREROLL_FRAMES: usize = 15;
/// Audio the transcriber may fall behind by before frames are dropped
/// (bounded memory when an engine stalls): 30 s.
const BACKLOG_FRAMES: usize = 1_500;

/// What the pipeline asks the transcriber task.
enum Ask {
    Audio(Vec<i16>),
    Peek,
    /// The turn is over: its final text (`keep`), or drop it (a backchannel).
    Take {
        keep: bool,
    },
}

/// The transcriber's answers.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Heard {
    /// The text of the turn so far.
    Peeked(String),
    /// The final text of a turn that ended.
    Final(String),
    /// A dropped turn was taken.
    Dropped,
}

/// The caller's side of one call.
pub(super) struct Ear {
    vad: Vad,
    turns: TurnTaker,
    preroll: VecDeque<Vec<i16>>,
    asks: mpsc::UnboundedSender<Ask>,
    backlog: Arc<AtomicUsize>,
    /// The transcriber's answers, in the order asked.
    pub(super) heard: mpsc::UnboundedReceiver<Heard>,
    /// Frames dropped because the transcriber fell behind (logged once).
    dropped: usize,
}

impl Ear {
    /// Listens with `engine` (`None`: no transcriber is available; turns are
    /// still taken, their text is empty).
    pub(super) fn new(
        engine: Option<Arc<dyn Transcriber>>,
        language: &str,
        turn: TurnConfig,
    ) -> Result<Ear, AudioError> {
        let vad = Vad::new(RATE, VadConfig::default())?;
        let (asks, asked) = mpsc::unbounded_channel();
        let (answers, heard) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let options = TranscribeOptions {
            language: language.to_owned(),
            sample_rate: RATE,
        };
        tokio::spawn(transcribe(
            engine,
            options,
            asked,
            answers,
            Arc::clone(&backlog),
        ));
        Ok(Ear {
            vad,
            turns: TurnTaker::new(turn),
            preroll: VecDeque::with_capacity(PREROLL_FRAMES + 1),
            asks,
            backlog,
            heard,
            dropped: 0,
        })
    }

    /// Tells the turn taker whether the agent's audio is playing now.
    pub(super) fn agent_speaking(&mut self, speaking: bool) {
        self.turns.set_agent_speaking(speaking);
    }

    /// Whether the caller is in the middle of a turn.
    pub(super) fn caller_turn(&self) -> bool {
        self.turns.caller_turn()
    }

    /// One 20 ms frame of caller audio: the decision it leads to, if any
    /// (peeks are asked here and never returned).
    pub(super) fn frame(&mut self, frame: Vec<i16>) -> Option<Decision> {
        let speech = self.vad.push(&frame).speech;
        let was_turn = self.turns.caller_turn();
        let decision = self.turns.frame(speech, FRAME_MS);
        if was_turn || self.turns.caller_turn() {
            if !was_turn {
                let earlier: Vec<Vec<i16>> = self.preroll.drain(..).collect();
                for frame in earlier {
                    self.send_audio(frame);
                }
            }
            self.send_audio(frame);
        } else {
            if self.preroll.len() == PREROLL_FRAMES {
                self.preroll.pop_front();
            }
            self.preroll.push_back(frame);
        }
        self.act(decision)
    }

    /// A peek's answer: the turn taker reads it, and may decide.
    pub(super) fn peeked(&mut self, text: &str) -> Option<Decision> {
        let decision = self.turns.heard(text);
        self.act(decision)
    }

    fn act(&mut self, decision: Option<Decision>) -> Option<Decision> {
        match decision? {
            Decision::Peek { .. } => {
                let _ = self.asks.send(Ask::Peek);
                None
            }
            decision @ Decision::EndOfTurn { .. } => {
                let _ = self.asks.send(Ask::Take { keep: true });
                Some(decision)
            }
            decision @ Decision::Backchannel { .. } => {
                let _ = self.asks.send(Ask::Take { keep: false });
                Some(decision)
            }
            other => Some(other),
        }
    }

    fn send_audio(&mut self, frame: Vec<i16>) {
        if self.backlog.load(Ordering::Relaxed) >= BACKLOG_FRAMES {
            if self.dropped == 0 {
                tracing::warn!("the transcriber fell 30 s behind; caller audio is being dropped");
            }
            self.dropped += 1;
            return;
        }
        self.backlog.fetch_add(1, Ordering::Relaxed);
        let _ = self.asks.send(Ask::Audio(frame));
    }
}

/// The transcriber task: one session for the whole call (cloud engines keep
/// their socket), reopened after an error; answers every peek and take, with
/// empty text when the engine cannot (the call goes on, logged).
async fn transcribe(
    engine: Option<Arc<dyn Transcriber>>,
    options: TranscribeOptions,
    mut asked: mpsc::UnboundedReceiver<Ask>,
    answers: mpsc::UnboundedSender<Heard>,
    backlog: Arc<AtomicUsize>,
) {
    let mut session: Option<Box<dyn TranscriptionSession>> = None;
    let open = async |session: &mut Option<Box<dyn TranscriptionSession>>| {
        if session.is_none()
            && let Some(engine) = &engine
        {
            match engine.open(&options).await {
                Ok(opened) => *session = Some(opened),
                Err(e) => {
                    tracing::warn!(engine = engine.name(), error = %e, "speech-to-text did not open")
                }
            }
        }
    };
    open(&mut session).await;
    while let Some(ask) = asked.recv().await {
        open(&mut session).await;
        let answer = match ask {
            Ask::Audio(frame) => {
                backlog.fetch_sub(1, Ordering::Relaxed);
                if let Some(s) = session.as_mut()
                    && let Err(e) = s.push(&frame).await
                {
                    tracing::warn!(error = %e, "speech-to-text lost the audio; reopening");
                    session = None;
                }
                None
            }
            Ask::Peek => Some(Heard::Peeked(text(&mut session, false).await)),
            Ask::Take { keep: true } => Some(Heard::Final(text(&mut session, true).await)),
            Ask::Take { keep: false } => {
                text(&mut session, true).await;
                Some(Heard::Dropped)
            }
        };
        if let Some(answer) = answer
            && answers.send(answer).is_err()
        {
            break;
        }
    }
    if let Some(session) = session {
        session.close().await;
    }
}

/// The session's text so far (`take`: the turn's final text, and the next
/// turn starts empty); empty when there is no session or it failed.
async fn text(session: &mut Option<Box<dyn TranscriptionSession>>, take: bool) -> String {
    let Some(s) = session.as_mut() else {
        return String::new();
    };
    let result = if take { s.take().await } else { s.peek().await };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "speech-to-text failed a turn");
        if take {
            *session = None;
        }
        String::new()
    })
}
