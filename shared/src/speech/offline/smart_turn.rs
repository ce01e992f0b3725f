//! The end-of-turn model: Pipecat's Smart Turn v3.2 (BSD-2-Clause, the
//! `smart-turn-v3.2-cpu.onnx` the `pipecat-ai` wheel ships), through the
//! same ONNX Runtime as Moonshine.
//!
//! It hears how a caller stops, not what they said: given the last 8 s of a
//! turn (ending in the pause), it gives the probability that the turn is
//! complete. Falling pitch and a finished phrase read as complete; "I moved
//! last month, [pause]" reads as unfinished. The turn taker combines it with
//! the words ([`crate::speech::turn`]): a finished sentence the model also
//! hears as finished is answered as fast as a question, one it hears as
//! unfinished waits longer.
//!
//! The input is Whisper's log-mel spectrogram of the 8 s (80 mel bands,
//! 10 ms hop), computed here as `transformers.WhisperFeatureExtractor` does
//! (Pipecat vendors the same arithmetic in numpy). One judgement costs ~40 ms
//! of one core, so it is kept from the calls' audio three ways: it runs on
//! threads in Linux's idle scheduling class (only on CPU nothing else
//! wants, so a busy relay's frames are never late for it), at most
//! [`SmartTurn::MAX_PARALLEL`] at once, and within [`CPU_SHARE`] of the cores
//! over time. A pause that finds the slots busy or the budget spent is
//! judged by its words alone: a late verdict is worth nothing, so none is
//! queued.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use realfft::{RealFftPlanner, RealToComplex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::speech::SpeechError;

/// The rate the model listens at.
pub const SAMPLE_RATE: u32 = 16_000;
/// The audio the model reads: the last 8 s of the turn, zero-padded in front.
pub const WINDOW: usize = SAMPLE_RATE as usize * 8;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 80;
/// Spectrogram frames the model reads (the centred STFT's last one dropped).
const FRAMES: usize = WINDOW / HOP;
const N_BINS: usize = N_FFT / 2 + 1;

/// The share of the machine's cores the model may use, on average.
pub const CPU_SHARE: f64 = 0.25;
/// The CPU time the model may use in a burst, per core, beyond that average.
const BURST_PER_CORE: Duration = Duration::from_millis(250);
/// Above this share of the cores used by the rest of the process (the
/// calls' audio), the model is not run at all: a loaded relay keeps its
/// cores for frames, and its callers are answered on their words.
pub const BUSY_SHARE: f64 = 0.35;
/// The process's own CPU use is read at most this often, when a pause asks
/// for a judgement; the calls' load is its average since the last reading,
/// less the judgements that finished meanwhile (one still running counts as
/// load: the error falls on the calls' side).
const LOAD_EVERY: Duration = Duration::from_secs(1);

/// The CPU time the model may still use: refilled at [`CPU_SHARE`] of the
/// cores up to `burst`, spent by each judgement's own CPU time; and how busy
/// the rest of the process is.
#[derive(Debug)]
struct Budget {
    cores: f64,
    burst: f64,
    left: f64,
    at: Instant,
    /// The process's CPU time and the model's spending when last read.
    load_read: Option<(Instant, Duration, f64)>,
    /// The model's spending so far (CPU-seconds).
    spent: f64,
    /// Cores the rest of the process used over the last reading.
    busy: f64,
}

impl Budget {
    fn new(cores: usize, now: Instant) -> Budget {
        let burst = BURST_PER_CORE.as_secs_f64() * cores as f64;
        Budget {
            cores: cores as f64,
            burst,
            left: burst,
            at: now,
            load_read: None,
            spent: 0.0,
            busy: 0.0,
        }
    }

    /// Whether a judgement may start at `now`, the process having used
    /// `process_cpu` of CPU time so far (`None`: unknown).
    fn allows(&mut self, now: Instant, process_cpu: Option<Duration>) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * CPU_SHARE * self.cores;
        self.left = (self.left + earned).min(self.burst);
        self.at = now;
        if let Some(cpu) = process_cpu {
            match self.load_read {
                Some((at, before, spent)) if now.saturating_duration_since(at) >= LOAD_EVERY => {
                    let used = cpu.saturating_sub(before).as_secs_f64() - (self.spent - spent);
                    self.busy = used.max(0.0) / now.saturating_duration_since(at).as_secs_f64();
                    self.load_read = Some((now, cpu, self.spent));
                }
                Some(_) => {}
                None => self.load_read = Some((now, cpu, self.spent)),
            }
        }
        self.left > 0.0 && self.busy < BUSY_SHARE * self.cores
    }

    fn spend(&mut self, used: Duration) {
        self.left -= used.as_secs_f64();
        self.spent += used.as_secs_f64();
    }
}

/// The CPU time the calling thread has used, where known.
fn thread_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given, or fails.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
            return None;
        }
        Some(Duration::new(
            u64::try_from(now.tv_sec).ok()?,
            u32::try_from(now.tv_nsec).ok()?,
        ))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The CPU time this process has used (user and system), where known.
fn process_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes the whole struct it is given, or fails.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: zeroed, then filled by a successful getrusage.
        let usage = unsafe { usage.assume_init() };
        let time = |t: libc::timeval| {
            Duration::new(
                u64::try_from(t.tv_sec).unwrap_or(0),
                u32::try_from(t.tv_usec).unwrap_or(0) * 1_000,
            )
        };
        Some(time(usage.ru_utime) + time(usage.ru_stime))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The fixed parts of the spectrogram: the FFT plan, the window and the mel
/// filters (each a run of non-zero weights from its first bin).
struct Spectrogram {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    filters: Vec<(usize, Vec<f64>)>,
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney's scale: linear below 1 kHz, logarithmic above.
    if hz < 1_000.0 {
        3.0 * hz / 200.0
    } else {
        15.0 + (hz / 1_000.0).ln() * 27.0 / 6.4f64.ln()
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel < 15.0 {
        200.0 * mel / 3.0
    } else {
        1_000.0 * ((mel - 15.0) * 6.4f64.ln() / 27.0).exp()
    }
}

impl Spectrogram {
    fn get() -> &'static Spectrogram {
        static SPECTROGRAM: OnceLock<Spectrogram> = OnceLock::new();
        SPECTROGRAM.get_or_init(|| {
            // A periodic Hann window (torch.hann_window).
            let window = (0..N_FFT)
                .map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / N_FFT as f64).cos())
                .collect();
            // Slaney-normalised triangles evenly spaced in mels from 0 to 8 kHz.
            let nyquist = f64::from(SAMPLE_RATE) / 2.0;
            let top = hz_to_mel(nyquist);
            let edges: Vec<f64> = (0..N_MELS + 2)
                .map(|i| mel_to_hz(top * i as f64 / (N_MELS + 1) as f64))
                .collect();
            let bin_hz = |bin: usize| nyquist * bin as f64 / (N_BINS - 1) as f64;
            let filters = (0..N_MELS)
                .map(|m| {
                    let (low, centre, high) = (edges[m], edges[m + 1], edges[m + 2]);
                    let norm = 2.0 / (high - low);
                    let weights: Vec<(usize, f64)> = (0..N_BINS)
                        .map(|bin| {
                            let hz = bin_hz(bin);
                            let down = (hz - low) / (centre - low);
                            let up = (high - hz) / (high - centre);
                            (bin, down.min(up).max(0.0) * norm)
                        })
                        .filter(|(_, w)| *w > 0.0)
                        .collect();
                    let first = weights.first().map_or(0, |(bin, _)| *bin);
                    (first, weights.into_iter().map(|(_, w)| w).collect())
                })
                .collect();
            Spectrogram {
                fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
                window,
                filters,
            }
        })
    }
}

/// The model's input for a turn's `audio` (16 kHz): Whisper's log-mel
/// features of its last 8 s, `N_MELS` rows of `FRAMES`, row-major.
pub fn log_mel(audio: &[i16]) -> Vec<f32> {
    let spectrogram = Spectrogram::get();
    let kept = &audio[audio.len().saturating_sub(WINDOW)..];
    let mut x = vec![0f32; WINDOW];
    for (to, &from) in x[WINDOW - kept.len()..].iter_mut().zip(kept) {
        *to = f32::from(from) / 32_768.0;
    }
    // Zero mean and unit variance over the whole window, padding included.
    let n = WINDOW as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = 1.0 / (variance + 1e-7).sqrt();
    // Centred frames: the signal reflected by half a frame at each end.
    let half = N_FFT / 2;
    let at = |i: usize| -> f64 {
        let j = if i < half {
            half - i
        } else if i - half >= WINDOW {
            2 * (WINDOW - 1) - (i - half)
        } else {
            i - half
        };
        (f64::from(x[j]) - mean) * scale
    };
    let mut frame = spectrogram.fft.make_input_vec();
    let mut spectrum = spectrogram.fft.make_output_vec();
    let mut scratch = spectrogram.fft.make_scratch_vec();
    let mut power = vec![0f64; N_BINS];
    let mut mel = vec![0f64; N_MELS * FRAMES];
    for t in 0..FRAMES {
        for (k, (slot, w)) in frame.iter_mut().zip(&spectrogram.window).enumerate() {
            *slot = at(t * HOP + k) * w;
        }
        // The plan's lengths are its own, so this cannot fail.
        let _ = spectrogram
            .fft
            .process_with_scratch(&mut frame, &mut spectrum, &mut scratch);
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for (m, (first, weights)) in spectrogram.filters.iter().enumerate() {
            let energy: f64 = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
            mel[m * FRAMES + t] = energy.max(1e-10).log10();
        }
    }
    let floor = mel.iter().copied().fold(f64::MIN, f64::max) - 8.0;
    mel.iter()
        .map(|&v| ((v.max(floor) + 4.0) / 4.0) as f32)
        .collect()
}

/// Smart Turn: one value per process, shared by every call.
pub struct SmartTurn {
    path: PathBuf,
    env: &'static Environment,
    sessions: super::Pool<Session>,
    slots: Arc<Semaphore>,
    budget: Mutex<Budget>,
}

impl std::fmt::Debug for SmartTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartTurn")
            .field("path", &self.path)
            .finish()
    }
}

impl SmartTurn {
    /// How many judgements run at once (each on its own session, one core).
    pub const MAX_PARALLEL: usize = 2;
    /// The engine's name in logs and start lines.
    pub const NAME: &'static str = "smart-turn-v3.2";

    /// Loads the model (`model`) on the runtime at `runtime_library`.
    pub fn load(model: &Path, runtime_library: &Path) -> Result<SmartTurn, SpeechError> {
        if !model.is_file() {
            return Err(SpeechError::Unavailable(format!(
                "the end-of-turn model is not installed: {} is missing (scripts/fetch-speech fetches it)",
                model.display()
            )));
        }
        let env = super::moonshine::runtime(runtime_library)?;
        let first = open(env, model)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(SmartTurn {
            path: model.to_owned(),
            env,
            sessions: super::Pool::new(first),
            slots: Arc::new(Semaphore::new(cores.clamp(1, Self::MAX_PARALLEL))),
            budget: Mutex::new(Budget::new(cores, Instant::now())),
        })
    }

    /// Whether a judgement may run now: a slot is free, the budget has CPU
    /// time left and the rest of the process is not busy. `None`: the words
    /// alone decide this pause (a late verdict, or one at the cost of the
    /// calls' audio, is worth nothing). Nothing is copied before this says yes.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        self.budget()
            .allows(Instant::now(), process_cpu())
            .then(|| Admission {
                model: Arc::clone(self),
                permit,
            })
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Admission::judge`] on this thread, outside the slots and the budget.
    pub fn probability(&self, audio: &[i16]) -> Result<f32, SpeechError> {
        let features = log_mel(audio);
        self.sessions.with(
            || open(self.env, &self.path),
            |session| run(session, features),
        )?
    }
}

/// A judgement [`SmartTurn::admit`] let through, holding its slot.
#[derive(Debug)]
pub struct Admission {
    model: Arc<SmartTurn>,
    permit: OwnedSemaphorePermit,
}

impl Admission {
    /// The probability that the turn whose audio (16 kHz, ending in the
    /// pause) is `audio` is complete, judged on a thread of its own in the
    /// idle scheduling class; `None` when the model failed (logged).
    pub async fn judge(self, audio: Vec<i16>) -> Option<f32> {
        let Admission { model, permit } = self;
        let worker = Arc::clone(&model);
        let (answer, judged) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("end-of-turn".into())
            .spawn(move || {
                let _permit = permit;
                idle_priority();
                let (started, cpu) = (Instant::now(), thread_cpu());
                let judged = worker.probability(&audio);
                let used = match (cpu, thread_cpu()) {
                    (Some(before), Some(after)) => after.saturating_sub(before),
                    _ => started.elapsed(),
                };
                let _ = answer.send((judged, used));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "the end-of-turn model has no thread; the words decide");
            return None;
        }
        // Spent here, not on the idle-class thread: a thread that may wait
        // long for a core never holds the lock the calls' tasks take.
        let Ok((judged, used)) = judged.await else {
            tracing::warn!("the end-of-turn model stopped; the words decide");
            return None;
        };
        model.budget().spend(used);
        judged
            .inspect_err(
                |e| tracing::warn!(error = %e, "the end-of-turn model failed; the words decide"),
            )
            .ok()
    }
}

/// Puts the calling thread in Linux's idle scheduling class: it runs only
/// on CPU that nothing else wants, so a judgement never delays a call's
/// frames (elsewhere, and if refused, it runs at normal priority).
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is read during the call only.
        let refused = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0;
        if refused {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "the end-of-turn model runs at normal priority"
            );
        }
    }
}

fn open(env: &Environment, model: &Path) -> Result<Session, SpeechError> {
    Session::builder(env)
        .and_then(|b| b.with_intra_threads(1)?.commit_from_file(model))
        .map_err(|e| SpeechError::Unavailable(format!("loading the end-of-turn model: {e}")))
}

fn run(session: &mut Session, features: Vec<f32>) -> Result<f32, SpeechError> {
    let failed =
        |e: ort::Error| SpeechError::InvalidResponse(format!("the end-of-turn model: {e}"));
    let input = Tensor::from_array(([1usize, N_MELS, FRAMES], features)).map_err(failed)?;
    let out = session
        .run(ort::inputs!["input_features" => input])
        .map_err(failed)?;
    let (_, probability) = out[0].try_extract_tensor::<f32>().map_err(failed)?;
    probability
        .first()
        .copied()
        .filter(|p| p.is_finite())
        .ok_or_else(|| {
            SpeechError::InvalidResponse("the end-of-turn model wrote no probability".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mel_filters_match_whisper() {
        // Values of transformers' mel_filter_bank(201, 80, 0, 8000, 16000,
        // "slaney", "slaney"), as Pipecat's numpy builds it.
        let s = Spectrogram::get();
        let weight = |m: usize, bin: usize| {
            let (first, w) = &s.filters[m];
            bin.checked_sub(*first)
                .and_then(|i| w.get(i))
                .copied()
                .unwrap_or(0.0)
        };
        for (m, bin, expected) in [
            (0, 1, 0.024_862_593_984_176),
            (40, 43, 0.014_735_565_741_439),
            (79, 196, 0.001_795_036_110_356),
        ] {
            let w = weight(m, bin);
            assert!((w - expected).abs() < 1e-9, "filter {m} at bin {bin}: {w}");
        }
        assert_eq!(weight(40, 37), 0.0);
        assert_eq!(s.filters.len(), N_MELS);
    }

    #[test]
    fn features_are_whisper_log_mels_of_the_last_eight_seconds() {
        // A 440 Hz tone for 1 s, padded in front to 8 s: the values Pipecat's
        // numpy features (transformers' WhisperFeatureExtractor) give it.
        let tone: Vec<i16> = (0..16_000)
            .map(|i| {
                (8_000.0 * (std::f64::consts::TAU * 440.0 * f64::from(i) / 16_000.0).sin()) as i16
            })
            .collect();
        let mel = log_mel(&tone);
        assert_eq!(mel.len(), N_MELS * FRAMES);
        let at = |m: usize, t: usize| mel[m * FRAMES + t];
        for (m, t, expected) in [
            (11, 750, 1.889_745_8),
            (12, 750, 1.745_065_6),
            (10, 750, 1.800_279_4),
            (11, 700, 1.744_464_3),
            (11, 699, 0.802_591_8),
            (14, 720, -0.110_254_15),
            (0, 0, -0.110_254_15),
            // The last frames reach into the reflected end.
            (11, 799, 1.887_206_8),
            (3, 799, 0.949_249_86),
            (40, 798, -0.110_254_15),
        ] {
            assert!(
                (at(m, t) - expected).abs() < 1e-4,
                "band {m} frame {t}: {} instead of {expected}",
                at(m, t)
            );
        }
        // Longer audio keeps only its last 8 s (numpy's values for them).
        let long = [vec![3_000i16; 16_000 * 5], tone, vec![0; 16_000 * 7]].concat();
        let mel = log_mel(&long);
        let at = |m: usize, t: usize| mel[m * FRAMES + t];
        for (m, t, expected) in [
            (11, 50, 1.889_745_8),
            (11, 99, 1.888_494_7),
            (11, 100, 1.744_464_3),
            (20, 60, -0.110_254_15),
            (0, 799, -0.110_254_15),
        ] {
            assert!(
                (at(m, t) - expected).abs() < 1e-4,
                "band {m} frame {t}: {} instead of {expected}",
                at(m, t)
            );
        }
    }

    #[test]
    fn the_model_keeps_to_its_share_of_the_cores() {
        let start = Instant::now();
        let mut budget = Budget::new(2, start);
        // A burst of 0.5 s of CPU on two cores: twelve 40 ms judgements pass
        // at once, the thirteenth does not.
        let judgement = Duration::from_millis(40);
        let mut passed = 0;
        while budget.allows(start, None) {
            budget.spend(judgement);
            passed += 1;
        }
        assert_eq!(passed, 13, "the last one may overdraw the budget");
        // Then 0.5 CPU-seconds a second (a quarter of two cores): one
        // judgement every 80 ms, however many pauses ask.
        let mut passed = 0;
        for ms in (0..10_000u64).step_by(10) {
            let now = start + Duration::from_millis(ms + 10);
            if budget.allows(now, None) {
                budget.spend(judgement);
                passed += 1;
            }
        }
        assert!((120..=140).contains(&passed), "{passed} judgements in 10 s");
    }

    #[test]
    fn a_busy_process_runs_no_model() {
        let start = Instant::now();
        let mut budget = Budget::new(2, start);
        let at = |s: u64| start + Duration::from_secs(s);
        let cpu = Duration::from_secs;
        assert!(budget.allows(at(0), Some(cpu(0))));
        // The model's own 0.4 s does not count as the calls' load: 0.5 of
        // 2 cores busy with the rest is under the 0.7 allowed.
        budget.spend(Duration::from_millis(400));
        assert!(budget.allows(at(1), Some(Duration::from_millis(900))));
        // The calls use 0.8 cores: none runs until they use less again.
        assert!(!budget.allows(at(2), Some(Duration::from_millis(1_700))));
        assert!(!budget.allows(at(2) + Duration::from_millis(500), Some(cpu(2))));
        assert!(budget.allows(at(3), Some(Duration::from_millis(2_300))));
    }

    #[test]
    fn a_missing_model_is_named() {
        let err = SmartTurn::load(
            Path::new("/nonexistent/smart-turn.onnx"),
            Path::new("/nonexistent/libonnxruntime.so"),
        )
        .unwrap_err();
        let SpeechError::Unavailable(why) = err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(why.contains("smart-turn.onnx") && why.contains("scripts/fetch-speech"));
    }
}
