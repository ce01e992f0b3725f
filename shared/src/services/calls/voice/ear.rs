//! The caller's side of a voice call: each 20 ms frame goes through the
//! voice-activity detector and the [`TurnTaker`]; while the caller speaks
//! (from a short pre-roll before the detector's onset, which lags the true
//! one) the audio streams to the transcriber, which runs in a task of its
//! own so a slow model never delays a frame.
//!
//! The transcriber's answers come back on [`Ear::heard`]: a peek's text goes
//! back into the turn taker (it may then decide), a turn's final text
//! becomes the caller's utterance. A peek in a pause first lets the engine
//! settle what it heard ([`TranscriptionSession::settle`]: Deepgram's
//! `Finalize`), so the final words are ready by the time the pause has
//! lasted long enough to end the turn.
//!
//! With the end-of-turn model loaded, the ear keeps the turn's last 8 s of
//! audio and, when the turn taker asks ([`Decision::Judge`]) and the model
//! admits a judgement, has it judged off the call's task; the verdict (or
//! `None` when the model declines) comes back on [`Ear::heard`] like the
//! transcriber's answers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::speech::audio::AudioError;
use crate::speech::offline::smart_turn::{self, SmartTurn};
use crate::speech::turn::{Decision, TurnConfig, TurnTaker, Verdict};
use crate::speech::vad::{Vad, VadConfig};
use crate::speech::{TranscribeOptions, Transcriber, TranscriptionSession};

use super::{FRAME_MS, RATE};

/// Audio kept from before the detector's onset (it needs ~50 ms of voice
/// to decide, and the first syllable is quiet).
const PREROLL_FRAMES: usize = 15;
/// The most quiet frames held back while the caller pauses (2 s, beyond
/// any end-of-turn wait); past it they go to the transcriber after all.
const PAUSE_FRAMES: usize = 100;
/// Audio the transcriber may fall behind by before frames are dropped
/// (bounded memory when an engine stalls): 30 s.
const BACKLOG_FRAMES: usize = 1_500;

/// What the pipeline asks the transcriber task.
enum Ask {
    Audio(Vec<i16>),
    /// The caller paused: the engine may finish the words it holds.
    Settle,
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
    /// The end-of-turn model's verdict on the turn as it was at `asked_ms`.
    Judged {
        /// When the turn taker asked.
        asked_ms: u64,
        /// `None`: the model could not say in time.
        verdict: Option<Verdict>,
    },
}

/// The caller's side of one call.
pub(super) struct Ear {
    vad: Vad,
    turns: TurnTaker,
    preroll: VecDeque<Vec<i16>>,
    /// The quiet frames of the caller's current pause, held back from the
    /// transcriber: sent if the caller goes on, dropped when the turn ends,
    /// so the turn's final text is the text the pause's first peek already
    /// read (no second pass over the turn while the caller waits).
    paused: Vec<Vec<i16>>,
    asks: mpsc::UnboundedSender<Ask>,
    backlog: Arc<AtomicUsize>,
    /// The transcriber's answers, in the order asked, and the model's verdicts.
    pub(super) heard: mpsc::UnboundedReceiver<Heard>,
    /// Where the model's verdicts go.
    verdicts: mpsc::UnboundedSender<Heard>,
    /// The end-of-turn model and the audio of the turn it judges (its last
    /// [`smart_turn::WINDOW`] samples, from the pre-roll on).
    judge: Option<(Arc<SmartTurn>, VecDeque<i16>)>,
    /// Frames dropped because the transcriber fell behind (logged once).
    dropped: usize,
    /// The last frame was not speech.
    pausing: bool,
}

impl Ear {
    /// Listens with `engine` (`None`: no transcriber is available; turns are
    /// still taken, their text is empty) and, when there is one, the
    /// end-of-turn model `judge`.
    pub(super) fn new(
        engine: Option<Arc<dyn Transcriber>>,
        judge: Option<Arc<SmartTurn>>,
        language: &str,
        mut turn: TurnConfig,
    ) -> Result<Ear, AudioError> {
        if judge.is_none() {
            turn.judge_ms = None;
        }
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
            answers.clone(),
            Arc::clone(&backlog),
        ));
        Ok(Ear {
            vad,
            turns: TurnTaker::new(turn),
            preroll: VecDeque::with_capacity(PREROLL_FRAMES + 1),
            paused: Vec::new(),
            asks,
            backlog,
            heard,
            verdicts: answers,
            judge: judge.map(|model| (model, VecDeque::new())),
            dropped: 0,
            pausing: false,
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
        let heard = self.vad.push(&frame);
        let speech = heard.speech;
        self.pausing = !speech;
        let was_turn = self.turns.caller_turn();
        self.turns.set_rising(heard.rising);
        let decision = self.turns.frame(speech, FRAME_MS);
        if !self.turns.caller_turn() {
            // The turn ended (or never began): its pause is not part of it,
            // and its audio is not kept between turns (up to 256 KB a call).
            self.paused.clear();
            if let Some((_, audio)) = &mut self.judge
                && audio.capacity() > 0
            {
                *audio = VecDeque::new();
            }
        }
        if let Some((_, audio)) = &mut self.judge {
            if !was_turn && self.turns.caller_turn() {
                audio.clear();
                audio.extend(self.preroll.iter().flatten());
            }
            if self.turns.caller_turn() {
                let over = (audio.len() + frame.len()).saturating_sub(smart_turn::WINDOW);
                audio.drain(..over.min(audio.len()));
                audio.extend(&frame);
            }
        }
        if was_turn || self.turns.caller_turn() {
            if !was_turn {
                let earlier: Vec<Vec<i16>> = self.preroll.drain(..).collect();
                for frame in earlier {
                    self.send_audio(frame);
                }
            }
            if speech || self.paused.len() == PAUSE_FRAMES {
                // The caller goes on (or pauses unusually long): the pause
                // is part of the turn after all, in order.
                let pause = std::mem::take(&mut self.paused);
                for frame in pause {
                    self.send_audio(frame);
                }
                self.send_audio(frame);
            } else if self.turns.caller_turn() {
                self.paused.push(frame);
            }
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

    /// The model's verdict on the turn as it was at `asked_ms`: the turn
    /// taker weighs it, and may decide.
    pub(super) fn judged(&mut self, asked_ms: u64, verdict: Option<Verdict>) -> Option<Decision> {
        let decision = self.turns.judged(asked_ms, verdict);
        self.act(decision)
    }

    fn act(&mut self, decision: Option<Decision>) -> Option<Decision> {
        match decision? {
            Decision::Peek { .. } => {
                if self.pausing {
                    let _ = self.asks.send(Ask::Settle);
                }
                let _ = self.asks.send(Ask::Peek);
                None
            }
            Decision::Judge { at_ms } => {
                let judged = move |verdict| Heard::Judged {
                    asked_ms: at_ms,
                    verdict,
                };
                let admitted = self
                    .judge
                    .as_ref()
                    .and_then(|(model, audio)| Some((model.admit()?, audio)));
                match admitted {
                    Some((admission, audio)) => {
                        let audio = audio.iter().copied().collect();
                        let verdicts = self.verdicts.clone();
                        tokio::spawn(async move {
                            let verdict = admission.judge(audio).await.map(Verdict::of);
                            let _ = verdicts.send(judged(verdict));
                        });
                    }
                    None => {
                        let _ = self.verdicts.send(judged(None));
                    }
                }
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
            Ask::Settle => {
                if let Some(s) = session.as_mut()
                    && let Err(e) = s.settle().await
                {
                    tracing::warn!(error = %e, "speech-to-text could not settle a pause; reopening");
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::super::FRAME_SAMPLES;
    use super::*;
    use crate::speech::SpeechError;
    use crate::speech::audio::{read_wav, resample};

    /// A transcriber that logs, for every peek and take, how much audio it
    /// had been given (a batch engine runs its model again when that grew).
    #[derive(Default)]
    struct Counting(Arc<Mutex<Vec<(&'static str, usize)>>>);

    struct Session(Arc<Mutex<Vec<(&'static str, usize)>>>, usize);

    #[async_trait]
    impl Transcriber for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        async fn open(
            &self,
            _: &TranscribeOptions,
        ) -> Result<Box<dyn TranscriptionSession>, SpeechError> {
            Ok(Box::new(Session(Arc::clone(&self.0), 0)))
        }
    }

    #[async_trait]
    impl TranscriptionSession for Session {
        async fn push(&mut self, audio: &[i16]) -> Result<(), SpeechError> {
            self.1 += audio.len();
            Ok(())
        }
        async fn peek(&mut self) -> Result<String, SpeechError> {
            self.0.lock().unwrap().push(("peek", self.1));
            Ok("Can I speak to a human, please?".into())
        }
        async fn settle(&mut self) -> Result<(), SpeechError> {
            self.0.lock().unwrap().push(("settle", self.1));
            Ok(())
        }
        async fn take(&mut self) -> Result<String, SpeechError> {
            self.0.lock().unwrap().push(("take", self.1));
            self.1 = 0;
            Ok("Can I speak to a human, please?".into())
        }
        async fn close(self: Box<Self>) {}
    }

    #[tokio::test]
    async fn a_turn_ends_on_the_audio_its_pause_was_read_with() {
        let engine = Counting::default();
        let log = Arc::clone(&engine.0);
        let mut ear = Ear::new(Some(Arc::new(engine)), None, "en", TurnConfig::default()).unwrap();
        let speech = read_wav(include_bytes!(
            "../../../../../tests/fixtures/speech/audio/speak-to-a-human.wav"
        ))
        .unwrap();
        let speech = resample(&speech, RATE).unwrap().samples;
        let audio = [speech, vec![0; RATE as usize * 2]].concat();
        let mut ended = false;
        for frame in audio.chunks(FRAME_SAMPLES) {
            if let Some(Decision::EndOfTurn { .. }) = ear.frame(frame.to_vec()) {
                ended = true;
                break;
            }
            // The pipeline answers each peek before the next frame.
            while let Ok(heard) = ear.heard.try_recv() {
                if let Heard::Peeked(text) = heard
                    && let Some(Decision::EndOfTurn { .. }) = ear.peeked(&text)
                {
                    ended = true;
                }
            }
            if ended {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(ended, "the turn never ended");
        let final_text = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(Heard::Final(text)) = ear.heard.recv().await {
                    return text;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(final_text, "Can I speak to a human, please?");
        let log = log.lock().unwrap().clone();
        let (kind, at_take) = *log.last().unwrap();
        assert_eq!(kind, "take", "{log:?}");
        let last_peek = log.iter().rev().find(|(k, _)| *k == "peek").unwrap().1;
        assert!(at_take > 0, "{log:?}");
        assert_eq!(
            at_take, last_peek,
            "the pause's quiet frames were held back, so the final text needs no new pass: {log:?}"
        );
        // Every peek here is in a pause, and the engine was let settle first
        // (Deepgram's Finalize), on the audio the turn ended with.
        for pair in log.windows(2).filter(|w| w[1].0 == "peek") {
            assert_eq!(pair[0], ("settle", pair[1].1), "{log:?}");
        }
        let last_settle = log.iter().rev().find(|(k, _)| *k == "settle").unwrap().1;
        assert_eq!(last_settle, at_take, "{log:?}");
    }
}
