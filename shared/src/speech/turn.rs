//! Turn taking: when the caller has started speaking, when they are done,
//! and when they mean to interrupt the agent.
//!
//! [`TurnTaker`] is a pure state machine: the pipeline feeds it each frame's
//! smoothed voice activity ([`super::vad`]) and, when it asks with
//! [`Decision::Peek`], the transcriber's text so far; it answers with
//! [`Decision`]s and their times. It owns no clock (time is the sum of the
//! frames fed), so a test scripts a whole conversation frame by frame.
//!
//! End of turn: after the caller falls silent, the wait adapts to what was
//! said, the way livekit's endpointing delays and pipecat's turn analysers
//! do: shortest after a question (it hands the turn over), short after a
//! finished sentence, longer after a lone "yes"/"no" (callers go on: "No,
//! that is not what I ordered"), a filler ("um", "so…"), a trailing
//! "and"/"the"/"my", or a number being read out digit by digit, and always
//! bounded by `max_silence_ms`, so a caller who pauses mid-sentence is not
//! cut off and one who stops is answered fast. A voice the detector hears
//! coming back but has not confirmed yet holds the decision until it has
//! (its onset lags the voice by `VadConfig::start_ms`).
//!
//! Where an end-of-turn model is loaded ([`crate::speech::offline::smart_turn`]),
//! the taker also asks for its [`Verdict`] on how the caller stopped, once
//! per pause ([`Decision::Judge`], after `judge_ms` of silence). A finished
//! sentence the model hears as finished is answered after the question's
//! wait; one it hears as unfinished ("I moved last month, …") waits as long
//! as unclear words. The words still rule where they are telling: a question
//! never waits longer, a trailing "and" or a number being read out never
//! shorter. Without a verdict (no model, all its slots busy, or not back
//! yet) the words alone decide, so a slow model delays nothing.
//!
//! Barge-in: caller speech over the agent interrupts once it has lasted
//! `barge_in_ms` and its words are not a backchannel ("mm-hm", "yeah",
//! "okay"); speech that outlasts `backchannel_max_ms` interrupts whatever the
//! transcriber has caught so far (no backchannel is that long). With
//! `allow_interruptions` off, nothing interrupts: the caller's words become a
//! turn of their own once the agent is done.

mod words;

pub use words::{Completeness, Unfinished, classify, is_backchannel};

/// Timings and switches of turn taking (an agent's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnConfig {
    /// Silence that ends a turn after a question.
    pub question_ms: u32,
    /// Silence that ends a turn after a finished sentence.
    pub complete_ms: u32,
    /// Silence that ends a turn when the words say neither way (or none are known).
    pub unclear_ms: u32,
    /// Silence that ends a turn after a filler, a trailing conjunction or a
    /// number being read out.
    pub incomplete_ms: u32,
    /// No wait is longer than this: the bound on every end of turn.
    pub max_silence_ms: u32,
    /// Silence after which the end-of-turn model is asked for its verdict
    /// (`None`: there is no model).
    pub judge_ms: Option<u32>,
    /// Whether caller speech may interrupt the agent (the agent's `allow_interruptions`).
    pub allow_interruptions: bool,
    /// Caller speech over the agent needed before it may interrupt.
    pub barge_in_ms: u32,
    /// Caller speech over the agent longer than this interrupts even before
    /// the transcriber has words for it.
    pub backchannel_max_ms: u32,
    /// While the caller pauses (or talks over the agent), ask for the text
    /// again this often, so the decision follows a transcriber catching up.
    pub peek_interval_ms: u32,
    /// The longest an end of turn waits for the detector's verdict on a voice
    /// that may be coming back ([`TurnTaker::set_rising`]): noise as loud as
    /// a soft consonant delays a turn by at most this.
    pub onset_hold_ms: u32,
    /// How long the caller has already been quiet when the voice-activity
    /// detector says so (its hangover, in whole frames): silence is counted
    /// from when the voice stopped, not from when that was noticed, so each
    /// wait above is the silence the caller actually leaves.
    pub detector_lag_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            question_ms: 300,
            complete_ms: 400,
            unclear_ms: 800,
            incomplete_ms: 1300,
            max_silence_ms: 1500,
            // The verdict takes ~40 ms: asked here, it is back before the
            // question's wait is over.
            judge_ms: Some(200),
            allow_interruptions: true,
            barge_in_ms: 200,
            backchannel_max_ms: 900,
            peek_interval_ms: 250,
            onset_hold_ms: 200,
            // The detector's 128 ms hangover, rounded down to 20 ms frames
            // so that no wait is cut short.
            detector_lag_ms: crate::speech::vad::VadConfig::default().hangover_ms / 20 * 20,
        }
    }
}

impl TurnConfig {
    /// The silence that ends a turn whose words are `completeness` (`None`:
    /// no words known yet) and that the end-of-turn model heard as
    /// `verdict` (`None`: no verdict), never above `max_silence_ms`.
    pub fn silence_for(&self, completeness: Option<Completeness>, verdict: Option<Verdict>) -> u32 {
        use Verdict::{Finished, Unfinished};
        let wait = match (completeness, verdict) {
            (Some(Completeness::Question), _) => self.question_ms,
            (Some(Completeness::Complete), Some(Finished)) => self.question_ms,
            (Some(Completeness::Complete), None) => self.complete_ms,
            (Some(Completeness::Complete), Some(Unfinished)) => self.unclear_ms,
            (Some(Completeness::Incomplete(_)), _) => self.incomplete_ms,
            (Some(Completeness::Unclear) | None, Some(Finished)) => self.complete_ms,
            (Some(Completeness::Unclear) | None, _) => self.unclear_ms,
        };
        wait.min(self.max_silence_ms)
    }
}

/// How the end-of-turn model heard the caller stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The turn sounds complete.
    Finished,
    /// The caller sounds as if they will go on.
    Unfinished,
}

impl Verdict {
    /// The verdict of the model's probability that the turn is complete.
    pub fn of(probability: f32) -> Verdict {
        if probability > 0.5 {
            Verdict::Finished
        } else {
            Verdict::Unfinished
        }
    }
}

/// What the pipeline should do now. Times are milliseconds since the first
/// frame fed (the stream's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The caller started speaking (a turn begins).
    StartOfSpeech {
        /// The start of the first frame the detector called speech (its
        /// smoothing puts that `VadConfig::start_ms` after the true onset).
        at_ms: u64,
    },
    /// Read the transcriber's text so far (`TranscriptionSession::peek`) and
    /// hand it to [`TurnTaker::heard`]. No new peek is asked for until then.
    Peek {
        /// When it was asked for.
        at_ms: u64,
    },
    /// Ask the end-of-turn model how the caller's turn so far ends (its
    /// audio up to now) and hand the answer to [`TurnTaker::judged`] with
    /// this `at_ms`. The turn goes on meanwhile.
    Judge {
        /// When it was asked for (names the pause it is for).
        at_ms: u64,
    },
    /// Stop the agent now (flush its audio, send Twilio `clear`) and mark
    /// its reply interrupted; the caller's turn goes on.
    BargeIn {
        /// When the decision was made.
        at_ms: u64,
        /// How long the caller had spoken over the agent.
        speech_ms: u32,
    },
    /// The caller's words over the agent were a backchannel (or noise): the
    /// agent goes on, and the turn's transcript is dropped
    /// (`TranscriptionSession::take` and discard).
    Backchannel {
        /// When the decision was made.
        at_ms: u64,
        /// What was heard (may be empty).
        text: String,
    },
    /// The caller's turn is over: take the final transcript and answer.
    EndOfTurn {
        /// When the decision was made.
        at_ms: u64,
        /// How long the caller had been silent.
        silence_ms: u32,
        /// What the last words looked like (`None`: no words were heard).
        completeness: Option<Completeness>,
    },
}

/// The caller's turn in progress.
#[derive(Debug, Clone)]
struct Turn {
    /// Voiced time so far.
    speech_ms: u32,
    /// When the current silence began (`None` while speaking).
    silent_since: Option<u64>,
    /// The turn began while the agent spoke and has not yet been settled as
    /// a barge-in, a backchannel or (interruptions off) a turn of its own.
    over_agent: bool,
    /// The last text heard and what it looks like.
    text: Option<(String, Completeness)>,
    /// A peek was asked for and not answered yet.
    peek_pending: bool,
    /// When the last peek was asked for.
    last_peek: Option<u64>,
    /// Since when an end of turn due in this silence has waited on a voice
    /// that may be coming back.
    held_since: Option<u64>,
    /// The end-of-turn model's part in this pause.
    judgement: Judgement,
}

/// The end-of-turn model's part in the current pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judgement {
    /// Not asked (the caller speaks, or the pause is young).
    NotAsked,
    /// Asked at this time; no answer yet.
    Asked(u64),
    /// Answered (`None`: the model could not say).
    Given(Option<Verdict>),
}

/// The turn-taking state of one call. See the module documentation.
#[derive(Debug, Clone)]
pub struct TurnTaker {
    config: TurnConfig,
    now_ms: u64,
    agent_speaking: bool,
    /// The detector hears a voice it has not confirmed yet.
    rising: bool,
    turn: Option<Turn>,
}

impl TurnTaker {
    /// A call's turn taking, nobody speaking.
    pub fn new(config: TurnConfig) -> TurnTaker {
        TurnTaker {
            config,
            now_ms: 0,
            agent_speaking: false,
            rising: false,
            turn: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// The stream's clock: the total duration of the frames fed.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Whether a caller turn is in progress.
    pub fn caller_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// The pipeline tells when the agent's audio starts and stops playing
    /// to the caller (it decides what counts as talking over the agent).
    pub fn set_agent_speaking(&mut self, speaking: bool) {
        self.agent_speaking = speaking;
    }

    /// The detector's [`super::vad::VadFrame::rising`] for the next frame:
    /// while a voice may be coming back, no turn ends (the verdict comes
    /// within `VadConfig::start_ms`).
    pub fn set_rising(&mut self, rising: bool) {
        self.rising = rising;
    }

    /// One frame of `duration_ms` whose smoothed voice activity is `speech`.
    pub fn frame(&mut self, speech: bool, duration_ms: u32) -> Option<Decision> {
        let onset = self.now_ms;
        self.now_ms += u64::from(duration_ms);
        let agent_speaking = self.agent_speaking;
        let Some(turn) = &mut self.turn else {
            if !speech {
                return None;
            }
            self.turn = Some(Turn {
                speech_ms: duration_ms,
                silent_since: None,
                over_agent: agent_speaking,
                text: None,
                peek_pending: false,
                last_peek: None,
                held_since: None,
                judgement: Judgement::NotAsked,
            });
            return Some(Decision::StartOfSpeech { at_ms: onset });
        };
        if speech {
            turn.speech_ms = turn.speech_ms.saturating_add(duration_ms);
            turn.silent_since = None;
            turn.held_since = None;
            turn.judgement = Judgement::NotAsked;
        } else if turn.silent_since.is_none() {
            turn.silent_since = Some(onset);
        }
        self.decide()
    }

    /// The transcriber's answer to a [`Decision::Peek`]: the text of the turn so far.
    pub fn heard(&mut self, text: &str) -> Option<Decision> {
        let turn = self.turn.as_mut()?;
        turn.peek_pending = false;
        let text = text.trim();
        turn.text = (!text.is_empty()).then(|| (text.to_owned(), classify(text)));
        self.decide()
    }

    /// The end-of-turn model's answer to the [`Decision::Judge`] asked at
    /// `asked_ms` (`None`: it could not say). An answer for an earlier pause
    /// (the caller spoke again since) is ignored.
    pub fn judged(&mut self, asked_ms: u64, verdict: Option<Verdict>) -> Option<Decision> {
        let turn = self.turn.as_mut()?;
        if turn.judgement != Judgement::Asked(asked_ms) {
            return None;
        }
        turn.judgement = Judgement::Given(verdict);
        self.decide()
    }

    /// Looks at the turn in progress and says what follows now, if anything.
    fn decide(&mut self) -> Option<Decision> {
        let config = self.config;
        let now = self.now_ms;
        let agent_speaking = self.agent_speaking;
        let turn = self.turn.as_mut()?;
        // The detector noticed the silence `detector_lag_ms` after it began
        // (never before the turn did).
        let silence_ms = turn.silent_since.map_or(0, |since| {
            u32::try_from(now.saturating_sub(since))
                .unwrap_or(u32::MAX)
                .saturating_add(config.detector_lag_ms.min(turn.speech_ms))
        });

        if turn.over_agent && !agent_speaking {
            // The agent finished on its own: an ordinary turn from here.
            turn.over_agent = false;
        }
        if turn.over_agent {
            let backchannel = turn.text.as_ref().is_none_or(|(t, _)| is_backchannel(t));
            let long_enough = turn.speech_ms >= config.barge_in_ms;
            if turn.silent_since.is_none() {
                // Talking over the agent.
                if config.allow_interruptions
                    && long_enough
                    && (!backchannel || turn.speech_ms >= config.backchannel_max_ms)
                {
                    turn.over_agent = false;
                    return Some(Decision::BargeIn {
                        at_ms: now,
                        speech_ms: turn.speech_ms,
                    });
                }
                // Keep the words fresh, so a barge-in waits for no transcriber.
                return ask(turn, now, &config);
            }
            // The caller stopped while the agent still speaks: settle it once
            // the words since the pause are known (or clearly will not come).
            let since = turn.silent_since.unwrap_or(now);
            if silence_ms < config.unclear_ms {
                if turn.peek_pending {
                    return None;
                }
                if turn.last_peek.is_none_or(|at| at <= since) {
                    return ask(turn, now, &config);
                }
            }
            if backchannel || !long_enough {
                let text = turn.text.take().map(|(t, _)| t).unwrap_or_default();
                self.turn = None;
                return Some(Decision::Backchannel { at_ms: now, text });
            }
            turn.over_agent = false;
            if config.allow_interruptions {
                return Some(Decision::BargeIn {
                    at_ms: now,
                    speech_ms: turn.speech_ms,
                });
            }
        }

        let since = turn.silent_since?;
        if let Some(judge_ms) = config.judge_ms
            && turn.judgement == Judgement::NotAsked
            && silence_ms >= judge_ms
        {
            turn.judgement = Judgement::Asked(now);
            return Some(Decision::Judge { at_ms: now });
        }
        let verdict = match turn.judgement {
            Judgement::Given(verdict) => verdict,
            Judgement::NotAsked | Judgement::Asked(_) => None,
        };
        let completeness = turn.text.as_ref().map(|(_, c)| *c);
        // A peek asked at `since` was asked before the silent frame was fed.
        let fresh = turn.last_peek.is_some_and(|at| at > since) && !turn.peek_pending;
        let needed = if fresh {
            config.silence_for(completeness, verdict)
        } else {
            // The words heard predate this pause: a finished-looking sentence
            // may have gone on since (with a trailing "and", which no verdict
            // may shorten), so wait at least as for unclear words.
            config
                .silence_for(completeness, verdict)
                .max(config.silence_for(None, None))
        };
        if silence_ms >= needed && self.rising {
            let held_since = *turn.held_since.get_or_insert(now);
            if now - held_since < u64::from(config.onset_hold_ms) {
                return None;
            }
        }
        if silence_ms >= needed {
            self.turn = None;
            return Some(Decision::EndOfTurn {
                at_ms: now,
                silence_ms,
                completeness,
            });
        }
        ask(turn, now, &config)
    }
}

/// A peek, unless one is pending or the last one is too recent.
fn ask(turn: &mut Turn, now: u64, config: &TurnConfig) -> Option<Decision> {
    if turn.peek_pending {
        return None;
    }
    // Due: never asked, not asked since the pause began, or asked long enough ago.
    let due = match (turn.last_peek, turn.silent_since) {
        (None, _) => true,
        (Some(at), Some(since)) if at <= since => true,
        (Some(at), _) => now.saturating_sub(at) >= u64::from(config.peek_interval_ms),
    };
    if !due {
        return None;
    }
    turn.peek_pending = true;
    turn.last_peek = Some(now);
    Some(Decision::Peek { at_ms: now })
}

#[cfg(test)]
mod tests;
