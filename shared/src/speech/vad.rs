//! Voice activity: is the caller speaking in this frame?
//!
//! A small type over `earshot`, a pure-Rust neural voice-activity detector
//! (a few µs per 16 ms frame, no model file to fetch): the pipeline feeds it
//! the caller's 20 ms frames at 8 or 16 kHz and reads, per frame, the speech
//! probability and a smoothed yes/no. The smoothing is what the turn-taking
//! decisions need: speech must last `start_ms` before it counts (a click, a
//! cough does not start a turn) and silence must last `hangover_ms` before it
//! counts (the gaps between words and the stops of "t", "k" do not end one);
//! between the two thresholds the current state holds (hysteresis), and audio
//! too quiet to be a caller at the phone (`min_level_db`) is never speech.

use earshot::Detector;

use super::audio::{AudioError, Resampler};

/// The rate the detector runs at.
const DETECTOR_RATE: u32 = 16_000;
/// The detector's frame: 256 samples at 16 kHz, 16 ms.
const DETECTOR_FRAME: usize = 256;
const DETECTOR_FRAME_MS: u32 = 16;
/// Quiet detector frames (under `min_level_db`) the model still runs on, so
/// a short quiet stretch inside speech (a stop consonant, a breath) keeps its
/// context; past them the model is reset once and rests until sound returns,
/// which it then hears as it hears the start of a call. A caller is quiet
/// most of a call (while the agent speaks), and the model is most of the
/// pipeline's work per frame.
const QUIET_CONTEXT_FRAMES: u32 = 8;

/// How eager the detector is. The defaults suit phone audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Probability at or above which a frame is voiced while the caller is silent.
    pub threshold: f32,
    /// Probability below which a frame is unvoiced while the caller speaks
    /// (lower than `threshold`: once speaking, weaker frames still count).
    pub release: f32,
    /// Voiced audio needed before the caller counts as speaking.
    pub start_ms: u32,
    /// Unvoiced audio needed before the caller counts as silent again.
    pub hangover_ms: u32,
    /// Frames quieter than this (dBFS, RMS) are unvoiced whatever the model says.
    pub min_level_db: f32,
    /// While the caller is silent, a frame at least this loud (dBFS, RMS) may
    /// be a voice coming back that the model does not call voice yet: the
    /// soft "s" of "so", the "th" of "that" (see [`VadFrame::rising`]).
    pub sound_db: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            release: 0.35,
            start_ms: 48,
            hangover_ms: 128,
            min_level_db: -50.0,
            sound_db: -50.0,
        }
    }
}

/// What the detector says about one pushed frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadFrame {
    /// The highest speech probability (0..=1) among the detector frames this
    /// push completed (the previous one when it completed none).
    pub probability: f32,
    /// The smoothed decision: the caller is speaking.
    pub speech: bool,
    /// Not speaking, but the latest frames are voiced (the detector waits
    /// for `start_ms` of them before it says so) or loud enough to be the
    /// quiet consonant a voice comes back with (`sound_db`). A voice coming
    /// back after a pause is heard here first: a turn must not end on it.
    pub rising: bool,
}

/// A voice-activity detector for one audio stream (one caller).
pub struct Vad {
    detector: Box<Detector>,
    /// Brings 8 kHz phone audio to the detector's 16 kHz (`None` at 16 kHz).
    upsampler: Option<Resampler>,
    config: VadConfig,
    /// 16 kHz samples waiting for a whole detector frame.
    pending: Vec<i16>,
    probability: f32,
    speaking: bool,
    /// How long the frames have disagreed with `speaking`, in ms.
    against_ms: u32,
    /// Quiet detector frames in a row.
    quiet_frames: u32,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("config", &self.config)
            .field("speaking", &self.speaking)
            .field("probability", &self.probability)
            .finish()
    }
}

impl Vad {
    /// A detector for audio at `rate` Hz (8 kHz phone audio or 16 kHz; other
    /// rates are converted too).
    pub fn new(rate: u32, config: VadConfig) -> Result<Vad, AudioError> {
        let upsampler = if rate == DETECTOR_RATE {
            None
        } else {
            Some(Resampler::new(rate, DETECTOR_RATE)?)
        };
        Ok(Vad {
            detector: Detector::default_boxed(),
            upsampler,
            config,
            pending: Vec::with_capacity(DETECTOR_FRAME * 2),
            probability: 0.0,
            speaking: false,
            against_ms: 0,
            quiet_frames: 0,
        })
    }

    /// The smoothed state after the last push.
    pub fn speaking(&self) -> bool {
        self.speaking
    }

    /// Runs the detector over the next frame of the stream (any length; the
    /// pipeline pushes 20 ms frames).
    pub fn push(&mut self, frame: &[i16]) -> VadFrame {
        match &mut self.upsampler {
            Some(upsampler) => {
                let upsampled = upsampler.push(frame);
                self.pending.extend_from_slice(&upsampled);
            }
            None => self.pending.extend_from_slice(frame),
        }
        let mut highest: Option<f32> = None;
        // The frame as pushed, not the detector frames it completed (those
        // lag by up to 16 ms): the start of a voice is heard at once.
        let level = level_db(frame);
        let whole = self.pending.len() / DETECTOR_FRAME * DETECTOR_FRAME;
        for start in (0..whole).step_by(DETECTOR_FRAME) {
            let chunk = &self.pending[start..start + DETECTOR_FRAME];
            let probability = if level_db(chunk) < self.config.min_level_db {
                // Silence is silence; the model runs only to keep its context.
                self.quiet_frames = self.quiet_frames.saturating_add(1);
                if self.quiet_frames <= QUIET_CONTEXT_FRAMES {
                    self.detector.predict_i16(chunk);
                } else if self.quiet_frames == QUIET_CONTEXT_FRAMES + 1 {
                    self.detector.reset();
                }
                0.0
            } else {
                self.quiet_frames = 0;
                self.detector.predict_i16(chunk).clamp(0.0, 1.0)
            };
            highest = Some(highest.map_or(probability, |h: f32| h.max(probability)));
            self.smooth(probability);
        }
        self.pending.drain(..whole);
        if let Some(h) = highest {
            self.probability = h;
        }
        VadFrame {
            probability: self.probability,
            speech: self.speaking,
            rising: !self.speaking && (self.against_ms > 0 || level >= self.config.sound_db),
        }
    }

    /// Forgets the stream (the detector's context and the smoothing).
    pub fn reset(&mut self) {
        self.detector.reset();
        if let Some(upsampler) = &mut self.upsampler {
            upsampler.reset();
        }
        self.pending.clear();
        self.probability = 0.0;
        self.speaking = false;
        self.against_ms = 0;
        self.quiet_frames = 0;
    }

    /// Applies one detector frame's probability to the smoothed state.
    fn smooth(&mut self, probability: f32) {
        let voiced = if self.speaking {
            probability >= self.config.release
        } else {
            probability >= self.config.threshold
        };
        if voiced == self.speaking {
            self.against_ms = 0;
            return;
        }
        self.against_ms += DETECTOR_FRAME_MS;
        let needed = if self.speaking {
            self.config.hangover_ms
        } else {
            self.config.start_ms
        };
        if self.against_ms >= needed {
            self.speaking = voiced;
            self.against_ms = 0;
        }
    }
}

/// The RMS level of `samples` in dBFS (−∞ for digital silence).
pub fn level_db(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    let rms = (energy / samples.len() as f64).sqrt() / 32768.0;
    (20.0 * rms.log10()) as f32
}

#[cfg(test)]
mod tests;
