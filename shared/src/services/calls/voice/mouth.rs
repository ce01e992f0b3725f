//! The agent's side of a voice call: each sentence the engine decides is
//! spoken by its own synthesizer request, started the moment the sentence
//! exists (so the next sentence is ready while this one plays), and its
//! audio is paced out in 20 ms frames a little ahead of real time.
//!
//! A reply's first request is opened when the reply begins, before its
//! first sentence exists ([`Mouth::new_reply`]): a cloud voice's socket
//! handshake then overlaps the model's first token instead of following it.
//!
//! Pacing is what makes barge-in honest: the mouth knows when each frame it
//! sent plays, so when the caller cuts in it can stop within one frame, the
//! transport drops the few frames of lead it holds (Twilio `clear`), and the
//! transcript keeps exactly the words the caller heard.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::speech::audio::Resampler;
use crate::speech::{SpeakOptions, SpeechError, Synthesizer, Utterance};

use super::{FRAME_MS, FRAME_SAMPLES, RATE};

/// How far ahead of real time audio is sent: enough to ride out network
/// jitter, little enough that a `clear` has little to drop.
pub(super) const LEAD: Duration = Duration::from_millis(80);
const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// Synthesized chunks a sentence may have waiting (backpressure on the engine).
const CHUNKS: usize = 64;
/// A request opened ahead for a reply is used only this long: a model that
/// takes longer (a slow tool) gets a fresh one, since a cloud voice closes
/// an idle socket (ElevenLabs: after 20 s).
const WARM_FOR: Duration = Duration::from_secs(10);

type Chunks = mpsc::Receiver<Result<Vec<i16>, SpeechError>>;

/// Where a part's audio comes from.
enum Source {
    /// A sentence being synthesized; `None` once the engine is done.
    Speech(Option<Chunks>),
    /// A person's live audio (a supervisor who took the call over): more may
    /// come, so a short remainder waits instead of being padded.
    Live,
}

/// One piece of audio waiting to be played, in order.
struct Part {
    /// The entry of [`Mouth::reply`] it speaks (`None`: live audio).
    sentence: Option<usize>,
    source: Source,
    buffered: VecDeque<i16>,
}

/// A sentence of the current reply and how much of it was played.
#[derive(Debug, Clone)]
struct Spoken {
    text: String,
    /// Samples synthesized so far.
    made: usize,
    /// The engine is done with it (`made` is its length).
    done: bool,
    /// Samples whose play time has come.
    played: usize,
}

/// A frame sent and not yet played.
struct Sent {
    play_at: Instant,
    sentence: Option<usize>,
    /// Its audio, without the padding of a sentence's last frame.
    samples: Vec<i16>,
}

/// A frame to send now.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// 20 ms at 16 kHz.
    pub(super) samples: Vec<i16>,
    /// When the caller hears it.
    pub(super) play_at: Instant,
}

/// The agent's voice in one call.
pub(super) struct Mouth {
    engine: Option<Arc<dyn Synthesizer>>,
    options: SpeakOptions,
    parts: VecDeque<Part>,
    /// The sentences of the reply being spoken (since [`Mouth::new_reply`]).
    reply: Vec<Spoken>,
    /// Frames sent whose play time has not come.
    in_flight: VecDeque<Sent>,
    /// Held while the caller may be cutting in (see [`Mouth::pause`]).
    paused: bool,
    /// When the next frame sent will play.
    next_play: Option<Instant>,
    failed_logged: bool,
    /// The request opened for the reply's next sentence before it exists.
    warm: Option<Warm>,
}

/// A synthesizer request being opened ahead of its text; cancelled if dropped unused.
struct Warm {
    opening: JoinHandle<Result<Utterance, SpeechError>>,
    since: Instant,
}

impl Warm {
    fn open(engine: &Arc<dyn Synthesizer>, options: &SpeakOptions) -> Warm {
        let (engine, options) = (Arc::clone(engine), options.clone());
        Warm {
            opening: tokio::spawn(async move { engine.open(&options).await }),
            since: Instant::now(),
        }
    }

    async fn opened(mut self) -> Result<Utterance, SpeechError> {
        (&mut self.opening).await.unwrap_or_else(|e| {
            Err(SpeechError::Unavailable(format!(
                "opening the voice failed: {e}"
            )))
        })
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        // Still opening: nobody will speak on it (a no-op once it is done).
        self.opening.abort();
    }
}

impl Mouth {
    /// Speaks with `engine` (`None`: no voice is available; sentences are
    /// only written to the transcript).
    pub(super) fn new(engine: Option<Arc<dyn Synthesizer>>, options: SpeakOptions) -> Mouth {
        Mouth {
            engine,
            options,
            parts: VecDeque::new(),
            reply: Vec::new(),
            in_flight: VecDeque::new(),
            paused: false,
            next_play: None,
            failed_logged: false,
            warm: None,
        }
    }

    /// A new agent turn begins: what is heard is counted from here, and the
    /// request for its first sentence opens now.
    pub(super) fn new_reply(&mut self) {
        // Sentences still queued or playing keep their place (parts point at them).
        if self.parts.is_empty() && self.in_flight.is_empty() {
            self.reply.clear();
        }
        if let Some(engine) = &self.engine {
            self.warm = Some(Warm::open(engine, &self.options));
        }
    }

    /// Speaks `text` after whatever is queued; synthesis starts now (on the
    /// request opened ahead, if there is a fresh one).
    pub(super) fn say(&mut self, text: String) {
        let Some(engine) = &self.engine else {
            return;
        };
        let warm = self.warm.take().filter(|w| w.since.elapsed() < WARM_FOR);
        let chunks = synthesize(Arc::clone(engine), self.options.clone(), text.clone(), warm);
        self.reply.push(Spoken {
            text,
            made: 0,
            done: false,
            played: 0,
        });
        self.parts.push_back(Part {
            sentence: Some(self.reply.len() - 1),
            source: Source::Speech(Some(chunks)),
            buffered: VecDeque::new(),
        });
    }

    /// Plays a person's audio (16 kHz) after whatever is queued.
    pub(super) fn play_live(&mut self, samples: &[i16]) {
        if let Some(Part {
            source: Source::Live,
            buffered,
            ..
        }) = self.parts.back_mut()
        {
            buffered.extend(samples);
            return;
        }
        self.parts.push_back(Part {
            sentence: None,
            source: Source::Live,
            buffered: samples.iter().copied().collect(),
        });
    }

    /// Whether audio is queued or still playing at `now`.
    pub(super) fn speaking(&self, now: Instant) -> bool {
        !self.parts.is_empty() || self.next_play.is_some_and(|at| at > now)
    }

    /// Whether the agent is held for a caller who may be cutting in.
    pub(super) fn paused(&self) -> bool {
        self.paused
    }

    /// Holds the agent at `now` while the caller may be cutting in (the way
    /// livekit's agents pause on a possible interruption): the frames sent
    /// but not yet played go back to the front of the queue, so that after
    /// the transport's `clear` nothing more is heard, and
    /// [`Mouth::resume`] (a backchannel after all) goes on from exactly
    /// where the caller stopped hearing.
    pub(super) fn pause(&mut self, now: Instant) {
        self.settle(now);
        self.paused = true;
        self.next_play = None;
        // Back to the front, last frame first, each as the part it came from.
        while let Some(sent) = self.in_flight.pop_back() {
            match self.parts.front_mut() {
                Some(part) if part.sentence == sent.sentence => {
                    for &s in sent.samples.iter().rev() {
                        part.buffered.push_front(s);
                    }
                }
                _ => self.parts.push_front(Part {
                    sentence: sent.sentence,
                    source: Source::Speech(None),
                    buffered: sent.samples.into(),
                }),
            }
        }
    }

    /// Goes on after [`Mouth::pause`].
    pub(super) fn resume(&mut self) {
        self.paused = false;
    }

    /// Waits for the next chunk of the first sentence still being
    /// synthesized (never resolves when none is); the chunk is queued, and
    /// [`Mouth::pump`] sends what is due.
    pub(super) async fn synthesized(&mut self) {
        let waiting = self
            .parts
            .iter()
            .position(|p| matches!(p.source, Source::Speech(Some(_))));
        let Some(i) = waiting else {
            return std::future::pending().await;
        };
        let part = &mut self.parts[i];
        let sentence = part.sentence;
        let chunk = match &mut part.source {
            Source::Speech(Some(chunks)) => chunks.recv().await,
            _ => None,
        };
        self.take_chunk(sentence, chunk, Some(i));
    }

    fn take_chunk(
        &mut self,
        sentence: Option<usize>,
        chunk: Option<Result<Vec<i16>, SpeechError>>,
        part: Option<usize>,
    ) -> bool {
        let Some(part) = part.and_then(|i| self.parts.get_mut(i)) else {
            return true;
        };
        let spoken = sentence.and_then(|i| self.reply.get_mut(i));
        match chunk {
            Some(Ok(samples)) => {
                if let Some(spoken) = spoken {
                    spoken.made += samples.len();
                }
                part.buffered.extend(samples);
                false
            }
            end => {
                if let Some(Err(e)) = end
                    && !std::mem::replace(&mut self.failed_logged, true)
                {
                    tracing::warn!(error = %e, "text-to-speech failed; the rest of the sentence is not spoken");
                }
                part.source = Source::Speech(None);
                if let Some(spoken) = spoken {
                    spoken.done = true;
                }
                true
            }
        }
    }

    /// Takes every chunk already synthesized, then the frames due to be sent
    /// at `now` (each plays right after the one before, at most [`LEAD`] ahead).
    pub(super) fn pump(&mut self, now: Instant) -> Vec<Frame> {
        self.drain_ready();
        self.settle(now);
        let mut frames = Vec::new();
        while !self.paused {
            let play_at = self.next_play.map_or(now, |at| at.max(now));
            if play_at > now + LEAD {
                break;
            }
            let Some(part) = self.parts.front_mut() else {
                break;
            };
            let finished = matches!(part.source, Source::Speech(None));
            let take = if part.buffered.len() >= FRAME_SAMPLES {
                FRAME_SAMPLES
            } else if finished {
                part.buffered.len()
            } else {
                break;
            };
            if take == 0 {
                self.parts.pop_front();
                continue;
            }
            let audio: Vec<i16> = part.buffered.drain(..take).collect();
            let mut samples = audio.clone();
            samples.resize(FRAME_SAMPLES, 0);
            self.in_flight.push_back(Sent {
                play_at,
                sentence: part.sentence,
                samples: audio,
            });
            self.next_play = Some(play_at + FRAME);
            frames.push(Frame { samples, play_at });
        }
        frames
    }

    /// The agent is cut off at `now`: everything not yet played is dropped
    /// (synthesis stops), and the words the caller heard of the reply are
    /// returned when the reply was cut short (`None`: nothing of it was
    /// left unsaid).
    pub(super) fn interrupt(&mut self, now: Instant) -> Option<String> {
        self.settle(now);
        let cut = self
            .reply
            .iter()
            .any(|s| !s.done || s.played < s.made || s.made == 0);
        let heard = cut.then(|| heard(&self.reply));
        self.parts.clear();
        self.in_flight.clear();
        self.reply.clear();
        self.next_play = None;
        self.paused = false;
        heard
    }

    /// Ends a reply whose remaining audio is dropped without a barge-in (a
    /// supervisor's barge replaces it).
    pub(super) fn stop(&mut self, now: Instant) {
        let _ = self.interrupt(now);
    }

    fn drain_ready(&mut self) {
        for i in 0..self.parts.len() {
            while let Some(Part {
                sentence,
                source: Source::Speech(Some(chunks)),
                ..
            }) = self.parts.get_mut(i)
            {
                let sentence = *sentence;
                let chunk = match chunks.try_recv() {
                    Ok(chunk) => Some(chunk),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                };
                if self.take_chunk(sentence, chunk, Some(i)) {
                    break;
                }
            }
        }
    }

    /// When [`Mouth::pump`] has a frame to send next (its play time minus
    /// [`LEAD`]): `None` while nothing is ready (held, synthesis pending, a
    /// new reply, which starts when its first chunk arrives). The call's
    /// loop wakes at this instant, so frames leave every 20 ms in step with
    /// their play times, not with a free-running tick whose phase drifts
    /// across theirs (two frames at once, then none for 40 ms).
    pub(super) fn next_due(&self) -> Option<Instant> {
        if self.paused {
            return None;
        }
        let part = self.parts.front()?;
        let ready =
            part.buffered.len() >= FRAME_SAMPLES || matches!(part.source, Source::Speech(None));
        let next = self.next_play?;
        ready.then(|| next.checked_sub(LEAD).unwrap_or(next))
    }

    /// Counts the frames whose play time has come as heard.
    fn settle(&mut self, now: Instant) {
        while let Some(sent) = self.in_flight.front() {
            if sent.play_at > now {
                break;
            }
            if let Some(spoken) = sent.sentence.and_then(|i| self.reply.get_mut(i)) {
                spoken.played += sent.samples.len();
            }
            self.in_flight.pop_front();
        }
    }
}

/// The words of `reply` the caller heard: every sentence played to its end,
/// then the share of the next one's words its played audio stands for.
fn heard(reply: &[Spoken]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for spoken in reply {
        if spoken.done && spoken.played >= spoken.made && spoken.made > 0 {
            words.extend(spoken.text.split_whitespace());
            continue;
        }
        let all: Vec<&str> = spoken.text.split_whitespace().collect();
        let made = spoken.made.max(1);
        let share = (spoken.played as f64 / made as f64).min(1.0);
        // A word counts once most of it was heard.
        let count = ((all.len() as f64) * share).floor() as usize;
        words.extend(all.iter().take(count));
        break;
    }
    words.join(" ")
}

/// Synthesizes one sentence in a task of its own (on `warm`, a request
/// opened ahead, or a new one), resampled to 16 kHz; the task stops (and the
/// engine's request is dropped) when the receiver is.
fn synthesize(
    engine: Arc<dyn Synthesizer>,
    options: SpeakOptions,
    text: String,
    warm: Option<Warm>,
) -> Chunks {
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::spawn(async move {
        let rate = engine.sample_rate();
        let mut resampler = if rate == RATE {
            None
        } else {
            match Resampler::new(rate, RATE) {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = tx
                        .send(Err(SpeechError::InvalidResponse(e.to_string())))
                        .await;
                    return;
                }
            }
        };
        let opened = match warm {
            Some(warm) => warm.opened().await,
            None => engine.open(&options).await,
        };
        let utterance = match opened {
            Ok(u) => u,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let Utterance {
            text: input,
            mut audio,
        } = utterance;
        if input.send(text).await.is_err() {
            return;
        }
        drop(input);
        loop {
            let chunk = tokio::select! {
                chunk = audio.recv() => chunk,
                () = tx.closed() => return,
            };
            let out = match chunk {
                None => break,
                Some(Ok(samples)) => Ok(match &mut resampler {
                    Some(r) => r.push(&samples),
                    None => samples,
                }),
                Some(Err(e)) => Err(e),
            };
            let failed = out.is_err();
            if tx.send(out).await.is_err() || failed {
                return;
            }
        }
        if let Some(r) = &mut resampler {
            let rest = r.flush();
            if !rest.is_empty() {
                let _ = tx.send(Ok(rest)).await;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;

    /// A voice that counts the requests opened and says each text as that
    /// many samples of its length.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Synthesizer for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn sample_rate(&self) -> u32 {
            RATE
        }
        async fn open(&self, _: &SpeakOptions) -> Result<Utterance, SpeechError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let (text, mut said) = mpsc::channel::<String>(4);
            let (speak, audio) = mpsc::channel(4);
            tokio::spawn(async move {
                while let Some(text) = said.recv().await {
                    let _ = speak.send(Ok(vec![1; text.len()])).await;
                }
            });
            Ok(Utterance { text, audio })
        }
    }

    /// The reply's first request opens with the reply, before its first
    /// sentence exists, and that sentence is spoken on it; the next ones
    /// open their own. A reply that said nothing leaves nothing open.
    #[tokio::test]
    async fn a_replys_first_request_opens_before_its_first_sentence() {
        let voice = Arc::new(Counting::default());
        let mut mouth = Mouth::new(
            Some(voice.clone() as Arc<dyn Synthesizer>),
            voiceless().options,
        );
        let opened = || voice.0.load(Ordering::SeqCst);
        let settled = async |want: usize| {
            let start = Instant::now();
            while opened() < want && start.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            opened()
        };
        mouth.new_reply();
        assert_eq!(settled(1).await, 1, "open before any text");
        mouth.say("Hello there.".into());
        mouth.synthesized().await;
        assert_eq!(mouth.reply[0].made, "Hello there.".len());
        assert_eq!(
            settled(1).await,
            1,
            "the first sentence used the open request"
        );
        mouth.say("Second.".into());
        assert_eq!(settled(2).await, 2);
        assert!(mouth.warm.is_none());
        // A reply that says nothing (a tool call), then another: the first
        // one's request is dropped, the second opens its own.
        mouth.new_reply();
        mouth.new_reply();
        assert!(mouth.warm.is_some());
    }

    fn spoken(text: &str, made: usize, done: bool, played: usize) -> Spoken {
        Spoken {
            text: text.into(),
            made,
            done,
            played,
        }
    }

    /// A mouth with no synthesizer (tests play audio into it themselves).
    fn voiceless() -> Mouth {
        Mouth::new(None, SpeakOptions::in_language("en"))
    }

    /// 20 ms frames whose samples all say which frame they are.
    fn numbered(frames: i16) -> Vec<i16> {
        (0..frames)
            .flat_map(|n| std::iter::repeat_n(n, FRAME_SAMPLES))
            .collect()
    }

    #[test]
    fn a_held_agent_goes_on_exactly_where_the_caller_stopped_hearing() {
        let mut mouth = voiceless();
        mouth.play_live(&numbered(10));
        let t0 = Instant::now();
        let sent: Vec<i16> = mouth.pump(t0).iter().map(|f| f.samples[0]).collect();
        // Real time plus the lead: frames 0..=4 (played at 0, 20, …, 80 ms).
        assert_eq!(sent, [0, 1, 2, 3, 4]);
        // The caller cuts in at 30 ms: frames 0 and 1 were heard.
        mouth.pause(t0 + Duration::from_millis(30));
        assert!(
            mouth.pump(t0 + Duration::from_millis(40)).is_empty(),
            "held"
        );
        assert!(mouth.speaking(t0 + Duration::from_millis(40)));
        // A backchannel after all: it goes on from frame 2.
        mouth.resume();
        let later = t0 + Duration::from_millis(300);
        let sent: Vec<i16> = mouth.pump(later).iter().map(|f| f.samples[0]).collect();
        assert_eq!(sent, [2, 3, 4, 5, 6]);
        assert!(mouth.pump(later).is_empty(), "the lead is full");
    }

    #[test]
    fn the_next_frame_is_due_a_lead_before_it_plays_and_never_while_held() {
        let mut mouth = voiceless();
        assert_eq!(mouth.next_due(), None, "nothing to say");
        mouth.play_live(&numbered(10));
        let t0 = Instant::now();
        assert_eq!(mouth.pump(t0).len(), 5);
        // Frame 5 plays at 100 ms: due at 20 ms, and sent by a pump then.
        let due = mouth.next_due().expect("more to send");
        assert_eq!(due, t0 + Duration::from_millis(20));
        assert_eq!(mouth.pump(due).len(), 1);
        assert_eq!(mouth.next_due(), Some(t0 + Duration::from_millis(40)));
        mouth.pause(t0 + Duration::from_millis(30));
        assert_eq!(mouth.next_due(), None, "held");
        mouth.resume();
        // Eight frames were not heard: five now (the lead), then three.
        assert_eq!(mouth.pump(t0 + Duration::from_millis(500)).len(), 5);
        assert_eq!(mouth.pump(t0 + Duration::from_millis(1000)).len(), 3);
        // Live audio shorter than a frame waits for more, not for a clock.
        mouth.play_live(&[1; 100]);
        assert_eq!(mouth.next_due(), None);
    }

    #[test]
    fn heard_counts_whole_sentences_then_the_share_of_the_cut_one() {
        let reply = [
            spoken("Hello there.", 100, true, 100),
            spoken("Our hours are nine to five today.", 700, true, 300),
            spoken("Anything else?", 100, true, 0),
        ];
        assert_eq!(heard(&reply), "Hello there. Our hours are");
        assert_eq!(heard(&reply[2..]), "");
        assert_eq!(heard(&[spoken("Still coming", 0, false, 0)]), "");
    }
}
