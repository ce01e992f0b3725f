//! Audio plumbing between the callers' transports and the speech engines:
//! G.711 μ-law (the phone network), streaming resampling (8 kHz phone, 16 kHz
//! speech-to-text, 22.05/24 kHz voices), WAV files, exact 20 ms frames, the
//! base64 payloads of Twilio media messages, and mixing two sides into one
//! track for recordings.
//!
//! Everything here is pure (no I/O) and cheap per frame: a call pushes 50
//! frames a second through it on each side, on two shared cores.

use audio_codec_algorithms::{decode_ulaw, encode_ulaw};
use base64::Engine as _;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

use super::Pcm;

/// The rate of the phone network (Twilio media streams): 8,000 samples/s.
pub const PHONE_RATE: u32 = 8_000;

/// The length of one transport frame. Twilio sends and wants 20 ms frames
/// (160 μ-law bytes at 8 kHz); the pipeline works in the same rhythm.
pub const FRAME_MS: u32 = 20;

/// μ-law byte of silence (digital zero), for padding the last frame of a reply.
pub const ULAW_SILENCE: u8 = 0xFF;

/// Why audio could not be read, converted or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    /// A WAV file that is not one, is cut short, or holds a format we do not read.
    #[error("unreadable WAV audio: {0}")]
    Wav(String),
    /// A sample rate the resampler cannot convert (zero, absurdly large).
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Rate {
        /// Rate of the input.
        from: u32,
        /// Rate wanted.
        to: u32,
        /// What the resampler said.
        reason: String,
    },
    /// A media payload that is not base64.
    #[error("the audio payload is not valid base64")]
    Payload,
}

/// The number of samples in `ms` milliseconds at `rate` (160 for 20 ms at 8 kHz).
pub fn samples_in(rate: u32, ms: u32) -> usize {
    (u64::from(rate) * u64::from(ms) / 1000) as usize
}

/// Encodes PCM16 samples as G.711 μ-law, one byte per sample.
pub fn ulaw_encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| encode_ulaw(s)).collect()
}

/// Decodes G.711 μ-law bytes to PCM16 samples, one sample per byte.
pub fn ulaw_decode(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| decode_ulaw(b)).collect()
}

/// The `payload` of a Twilio `media` message: μ-law bytes in standard base64.
pub fn encode_payload(ulaw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(ulaw)
}

/// The μ-law bytes of a Twilio `media` message's `payload`. The payload comes
/// from the network: anything that is not base64 is an error, never a panic.
pub fn decode_payload(payload: &str) -> Result<Vec<u8>, AudioError> {
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|_| AudioError::Payload)
}

/// Rates above this are not audio a caller or a voice makes; refusing them
/// keeps a hostile header from sizing buffers.
const MAX_RATE: u32 = 192_000;

/// Converts a stream of PCM16 audio from one rate to another, chunk by chunk.
///
/// The stream is cut into 20 ms blocks for a synchronous FFT resampler
/// (`rubato`) whose filter state carries over from block to block, so chunk
/// borders leave no clicks and any chunk sizes give the same output. The
/// resampler's start-up delay is trimmed, so sample *n* of the output lines up
/// with sample *n · to / from* of the input; [`Resampler::flush`] returns the
/// tail, after which the total output length is the input length scaled by
/// the ratio, rounded.
pub struct Resampler {
    from: u32,
    to: u32,
    inner: Option<Fft<f32>>,
    /// Input samples waiting for a whole block.
    pending: Vec<f32>,
    /// Output scratch of one block.
    out: Vec<f32>,
    /// Output samples still to drop at the start (the filter's delay).
    skip: usize,
    consumed: u64,
    produced: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (equal rates pass audio through).
    pub fn new(from: u32, to: u32) -> Result<Resampler, AudioError> {
        let refuse = |reason: &str| AudioError::Rate {
            from,
            to,
            reason: reason.to_owned(),
        };
        if from == 0 || to == 0 || from > MAX_RATE || to > MAX_RATE {
            return Err(refuse("rates must be between 1 and 192000 Hz"));
        }
        let inner = if from == to {
            None
        } else {
            let fft = Fft::<f32>::new_custom(
                from as usize,
                to as usize,
                block_len(from, to),
                1,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Both,
            )
            .map_err(|e| refuse(&e.to_string()))?;
            Some(fft)
        };
        let (skip, out) = match &inner {
            Some(fft) => (fft.output_delay(), vec![0.0; fft.output_frames_max()]),
            None => (0, Vec::new()),
        };
        Ok(Resampler {
            from,
            to,
            inner,
            pending: Vec::new(),
            out,
            skip,
            consumed: 0,
            produced: 0,
        })
    }

    /// The input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Resamples the next chunk of the stream (any length, even empty) and
    /// returns the output ready so far; the rest comes with later chunks or
    /// [`Resampler::flush`].
    pub fn push(&mut self, samples: &[i16]) -> Vec<i16> {
        self.consumed += samples.len() as u64;
        if self.inner.is_none() {
            self.produced += samples.len() as u64;
            return samples.to_vec();
        }
        self.pending
            .extend(samples.iter().map(|&s| f32::from(s) / 32768.0));
        let mut output = Vec::new();
        self.drain_blocks(false, &mut output);
        output
    }

    /// Ends the stream: resamples what is left (padded with silence) and
    /// returns the remaining output. The resampler then starts a new stream.
    pub fn flush(&mut self) -> Vec<i16> {
        let mut output = Vec::new();
        if self.inner.is_some() {
            let target = (self.consumed * u64::from(self.to) + u64::from(self.from) / 2)
                / u64::from(self.from);
            // Feed silence until the delayed tail has come out.
            while self.produced < target {
                let before = (self.produced, self.skip);
                self.drain_blocks(true, &mut output);
                if (self.produced, self.skip) == before {
                    // The resampler refused the block: stop rather than spin.
                    break;
                }
            }
            let extra = (self.produced - target.min(self.produced)) as usize;
            output.truncate(output.len().saturating_sub(extra));
        }
        self.reset();
        output
    }

    /// Forgets the stream so far (a new caller turn, a new reply).
    pub fn reset(&mut self) {
        if let Some(fft) = &mut self.inner {
            fft.reset();
            self.skip = fft.output_delay();
        }
        self.pending.clear();
        self.consumed = 0;
        self.produced = 0;
    }

    /// Runs every whole block of `pending` (and, when `finish`, one block of
    /// what is left padded with silence) and appends the output.
    fn drain_blocks(&mut self, finish: bool, output: &mut Vec<i16>) {
        let Some(fft) = &mut self.inner else {
            return;
        };
        let mut start = 0;
        loop {
            let need = fft.input_frames_next();
            let available = self.pending.len() - start;
            if available < need && !(finish && start == 0) {
                break;
            }
            let take = available.min(need);
            let frames_out = fft.output_frames_next();
            if self.out.len() < frames_out {
                self.out.resize(frames_out, 0.0);
            }
            let input = &self.pending[start..start + take];
            let Ok(adapter_in) = InterleavedSlice::new(input, 1, take) else {
                break;
            };
            let Ok(mut adapter_out) = InterleavedSlice::new_mut(&mut self.out, 1, frames_out)
            else {
                break;
            };
            let indexing = rubato::Indexing::new().partial_len(take);
            let Ok((_, written)) =
                fft.process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            else {
                break;
            };
            start += take;
            let drop = self.skip.min(written);
            self.skip -= drop;
            output.extend(self.out[drop..written].iter().map(|&s| to_i16(s)));
            self.produced += (written - drop) as u64;
            if finish {
                break;
            }
        }
        self.pending.drain(..start);
    }
}

/// The input block of the FFT resampler: about 20 ms, a whole number of the
/// smallest blocks the two rates allow (441 → 320 samples for 22.05 → 16 kHz),
/// and even on both sides. The trimmed start-up delay is half the output
/// block; an odd block would leave the output half a sample late (a 440 Hz
/// tone 6 % off at 22.05 kHz).
fn block_len(from: u32, to: u32) -> usize {
    let common = gcd(from, to);
    let (step_in, step_out) = ((from / common) as usize, (to / common) as usize);
    let mut blocks = samples_in(from, FRAME_MS).div_ceil(step_in).max(1);
    if (step_in * blocks) % 2 == 1 || (step_out * blocks) % 2 == 1 {
        blocks *= 2;
    }
    step_in * blocks
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A float sample back to PCM16, clipped (the filter may overshoot a full-scale input).
fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Resamples a whole clip (a WAV fixture, a recorded reply) in one call.
pub fn resample(pcm: &Pcm, to: u32) -> Result<Pcm, AudioError> {
    let mut resampler = Resampler::new(pcm.rate, to)?;
    let mut samples = resampler.push(&pcm.samples);
    samples.extend(resampler.flush());
    Ok(Pcm::new(to, samples))
}

/// Reads a WAV file (integer PCM of 8–32 bits, or 32-bit float; any number
/// of channels, averaged to mono) into PCM16.
pub fn read_wav(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let wav_error = |e: hound::Error| AudioError::Wav(e.to_string());
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(wav_error)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<i32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let shift = i32::from(bits) - 16;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| if shift >= 0 { v >> shift } else { v << -shift }))
                .collect::<Result<_, _>>()
                .map_err(wav_error)?
        }
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(|v| i32::from(to_i16(v))))
            .collect::<Result<_, _>>()
            .map_err(wav_error)?,
        (format, bits) => {
            return Err(AudioError::Wav(format!(
                "{bits}-bit {format:?} samples are not supported"
            )));
        }
    };
    let samples = interleaved
        .chunks(channels)
        .map(|frame| {
            let sum: i64 = frame.iter().map(|&v| i64::from(v)).sum();
            (sum / frame.len() as i64).clamp(-32768, 32767) as i16
        })
        .collect();
    Ok(Pcm::new(spec.sample_rate, samples))
}

/// Writes PCM16 mono audio as a WAV file.
pub fn write_wav(pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    let wav_error = |e: hound::Error| AudioError::Wav(e.to_string());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + pcm.samples.len() * 2));
    let mut writer = hound::WavWriter::new(&mut bytes, spec).map_err(wav_error)?;
    for &s in &pcm.samples {
        writer.write_sample(s).map_err(wav_error)?;
    }
    writer.finalize().map_err(wav_error)?;
    Ok(bytes.into_inner())
}

/// Cuts a stream of chunks of any size into frames of exactly `len` items:
/// 160 μ-law bytes for Twilio, 320 samples for 16 kHz speech-to-text.
#[derive(Debug, Clone)]
pub struct Framer<T> {
    len: usize,
    pending: Vec<T>,
}

impl<T: Copy> Framer<T> {
    /// A framer of `len`-item frames (at least one item).
    pub fn new(len: usize) -> Framer<T> {
        Framer {
            len: len.max(1),
            pending: Vec::new(),
        }
    }

    /// The frame length.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// Adds a chunk and returns every whole frame now complete, in order;
    /// the remainder waits for the next chunk.
    pub fn push(&mut self, chunk: &[T]) -> Vec<Vec<T>> {
        self.pending.extend_from_slice(chunk);
        let whole = self.pending.len() / self.len * self.len;
        let frames = self.pending[..whole]
            .chunks_exact(self.len)
            .map(<[T]>::to_vec)
            .collect();
        self.pending.drain(..whole);
        frames
    }

    /// Ends the stream: the remainder as a last frame padded with `silence`,
    /// or `None` when nothing is left.
    pub fn flush(&mut self, silence: T) -> Option<Vec<T>> {
        if self.pending.is_empty() {
            return None;
        }
        let mut frame = std::mem::take(&mut self.pending);
        frame.resize(self.len, silence);
        Some(frame)
    }

    /// Drops the remainder (barge-in: the rest of a reply is not sent).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Samples as 16-bit little-endian PCM bytes: the widget's and the
/// supervisor socket's audio, a recording's segments.
pub fn pcm16_le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// 16-bit little-endian PCM bytes as samples (an odd last byte is dropped).
pub fn pcm16_from_le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Mixes two sides of a call (caller and agent, same rate) into one track,
/// sample by sample with saturation; the shorter side counts as silence.
pub fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.saturating_add(y)
        })
        .collect()
}

/// Two sides of a call as one interleaved stereo track (`a` left, `b`
/// right); the shorter side counts as silence.
pub fn interleave(a: &[i16], b: &[i16]) -> Vec<i16> {
    let len = a.len().max(b.len());
    let mut out = Vec::with_capacity(len * 2);
    for i in 0..len {
        out.push(a.get(i).copied().unwrap_or(0));
        out.push(b.get(i).copied().unwrap_or(0));
    }
    out
}

/// An interleaved stereo track mixed down to mono, as [`mix`] would have
/// mixed its two sides (an odd last sample is dropped).
pub fn downmix(stereo: &[i16]) -> Vec<i16> {
    stereo
        .chunks_exact(2)
        .map(|pair| pair[0].saturating_add(pair[1]))
        .collect()
}

#[cfg(test)]
mod tests;
