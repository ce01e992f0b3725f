//! A live voice call's audio for supervisors (SPEC §11, §14
//! `/ws/supervisor`): both sides mixed, 20 ms at a time, to whoever listens,
//! and a supervisor's own voice into the call while they hold it.
//!
//! The voice pipeline of a call run here opens a [`Tap`] for as long as the
//! call runs; the supervisor socket on the same process [`listen`]s to it
//! and [`speak`]s into it. Audio is not carried between processes: a
//! supervisor whose socket reached another relay task than the one holding
//! the call gets the transcript only (the socket says so).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{broadcast, mpsc};

/// Mixed frames a slow listener may fall behind by before it skips (1 s).
const LISTEN_BACKLOG: usize = 50;
/// Chunks of a supervisor's voice waiting for the call (~2 s of 20 ms chunks).
const SPEAK_BACKLOG: usize = 100;

/// One 20 ms frame of both sides, 16 kHz PCM16.
pub type Frame = Arc<[i16]>;

struct Ends {
    frames: broadcast::Sender<Frame>,
    voice: mpsc::Sender<Vec<i16>>,
    taken_over: Arc<AtomicBool>,
}

static TAPS: LazyLock<Mutex<HashMap<String, Ends>>> = LazyLock::new(Default::default);

fn taps() -> std::sync::MutexGuard<'static, HashMap<String, Ends>> {
    TAPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pipeline's end of a call's audio tap; closed when dropped.
pub struct Tap {
    call_id: String,
    frames: broadcast::Sender<Frame>,
    /// A supervisor's voice for the caller, 16 kHz PCM16 chunks.
    pub voice: mpsc::Receiver<Vec<i16>>,
    taken_over: Arc<AtomicBool>,
}

impl Tap {
    /// Opens call `call_id`'s tap.
    pub fn open(call_id: &str) -> Tap {
        let (frames, _) = broadcast::channel(LISTEN_BACKLOG);
        let (voice_tx, voice) = mpsc::channel(SPEAK_BACKLOG);
        let taken_over = Arc::new(AtomicBool::new(false));
        taps().insert(
            call_id.to_owned(),
            Ends {
                frames: frames.clone(),
                voice: voice_tx,
                taken_over: Arc::clone(&taken_over),
            },
        );
        Tap {
            call_id: call_id.to_owned(),
            frames,
            voice,
            taken_over,
        }
    }

    /// Whether anyone listens (mixing is skipped when nobody does).
    pub fn listened(&self) -> bool {
        self.frames.receiver_count() > 0
    }

    /// Sends a mixed frame to the listeners.
    pub fn send(&self, frame: Frame) {
        let _ = self.frames.send(frame);
    }

    /// Whether a supervisor holds the call (their voice is played only then).
    pub fn set_taken_over(&self, taken: bool) {
        self.taken_over.store(taken, Ordering::Relaxed);
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        taps().remove(&self.call_id);
    }
}

/// Listens to call `call_id` if it runs here.
pub fn listen(call_id: &str) -> Option<broadcast::Receiver<Frame>> {
    taps().get(call_id).map(|e| e.frames.subscribe())
}

/// Why a supervisor's voice did not reach the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unheard {
    /// The call is not run by this process (or ended).
    #[error("this call's audio is not on this relay; speak with {{\"type\":\"say\",\"text\"}}")]
    NotHere,
    /// The supervisor has not taken the call over.
    #[error("the call is not taken over: take it over before speaking on it")]
    NotTakenOver,
    /// The call is behind on the supervisor's audio.
    #[error("the call is behind on your audio; some was dropped")]
    Behind,
}

/// A supervisor's voice (16 kHz PCM16) for call `call_id`'s caller.
pub fn speak(call_id: &str, samples: Vec<i16>) -> Result<(), Unheard> {
    let voice = {
        let taps = taps();
        let ends = taps.get(call_id).ok_or(Unheard::NotHere)?;
        if !ends.taken_over.load(Ordering::Relaxed) {
            return Err(Unheard::NotTakenOver);
        }
        ends.voice.clone()
    };
    voice.try_send(samples).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => Unheard::Behind,
        mpsc::error::TrySendError::Closed(_) => Unheard::NotHere,
    })
}
