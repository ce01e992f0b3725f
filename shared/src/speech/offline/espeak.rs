//! espeak-ng text-to-speech: the voice that is always there (a Debian
//! package, no model), robotic but clear.
//!
//! Each sentence is one `espeak-ng` process: the text goes in on standard
//! input (never on a command line or through a shell, so no text can become
//! an option or a command), the WAV comes out on standard output, and a
//! process that overruns [`ESPEAK_TIMEOUT`] is killed. Dropping the
//! [`Utterance`] kills the running process and stops the rest.

use std::io::Cursor;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::speech::{SpeakOptions, SpeechError, Synthesizer, Utterance};

/// The rate espeak-ng speaks at.
pub const SAMPLE_RATE: u32 = 22_050;
/// The longest one sentence may take to synthesise.
pub const ESPEAK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest sentence handed to one process (longer text is refused with
/// an error rather than tying up a process).
const MAX_SENTENCE: usize = 4_000;
/// Words a minute at speed 1.0 (espeak-ng's default).
const BASE_WPM: f64 = 175.0;
/// Audio goes out in pieces of this many samples (~100 ms), so the
/// pipeline can start playing before a long sentence is all copied.
const CHUNK: usize = 2_205;

/// espeak-ng as a [`Synthesizer`].
#[derive(Debug, Clone)]
pub struct Espeak {
    program: PathBuf,
}

impl Espeak {
    /// The program name looked up on `PATH`.
    pub const PROGRAM: &'static str = "espeak-ng";

    /// espeak-ng at `program`, if it runs (`--version`). Blocks for the few
    /// milliseconds the check takes; call it once.
    pub fn find(program: impl Into<PathBuf>) -> Result<Espeak, SpeechError> {
        let program = program.into();
        let status = std::process::Command::new(&program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| {
                SpeechError::Unavailable(format!(
                    "{} does not run ({e}); install it with `apt-get install espeak-ng`",
                    program.display()
                ))
            })?;
        if !status.success() {
            return Err(SpeechError::Unavailable(format!(
                "{} --version failed ({status})",
                program.display()
            )));
        }
        Ok(Espeak { program })
    }

    /// Speaks one sentence: PCM16 at [`SAMPLE_RATE`].
    pub async fn speak(&self, text: &str, options: &SpeakOptions) -> Result<Vec<i16>, SpeechError> {
        if text.len() > MAX_SENTENCE {
            return Err(SpeechError::BadRequest(format!(
                "a sentence of {} bytes is longer than espeak-ng takes at once ({MAX_SENTENCE})",
                text.len()
            )));
        }
        let mut child = Command::new(&self.program)
            .args(["--stdout", "--stdin", "-v", &voice(options), "-s"])
            .arg(words_per_minute(options.speed).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SpeechError::Unavailable(format!("espeak-ng does not start: {e}")))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| SpeechError::Unavailable("espeak-ng has no standard input".into()))?;
        let input = format!("{}\n", text.replace(['\r', '\n'], " "));
        let output = tokio::time::timeout(ESPEAK_TIMEOUT, async move {
            // Written concurrently with reading: a long text would otherwise
            // fill both pipes and stall.
            let write = async move {
                let written = stdin.write_all(input.as_bytes()).await;
                drop(stdin);
                written
            };
            let (written, output) = tokio::join!(write, child.wait_with_output());
            written.and(output)
        })
        .await
        .map_err(|_| {
            SpeechError::Unavailable(format!(
                "espeak-ng took longer than {} s",
                ESPEAK_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| SpeechError::Unavailable(format!("espeak-ng: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(SpeechError::BadRequest(format!(
                "espeak-ng failed ({}): {}",
                output.status,
                stderr.trim()
            )));
        }
        pcm_of_wav(&output.stdout)
    }
}

/// The samples of espeak-ng's WAV. Written to a pipe, its header cannot
/// know the length and claims ~2 GB, so samples are read until the bytes
/// end.
fn pcm_of_wav(bytes: &[u8]) -> Result<Vec<i16>, SpeechError> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| SpeechError::InvalidResponse(format!("espeak-ng's WAV: {e}")))?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_rate != SAMPLE_RATE {
        return Err(SpeechError::InvalidResponse(format!(
            "espeak-ng wrote {} channel(s) of {}-bit audio at {} Hz; expected mono 16-bit at {SAMPLE_RATE} Hz",
            spec.channels, spec.bits_per_sample, spec.sample_rate
        )));
    }
    Ok(reader.into_samples::<i16>().map_while(Result::ok).collect())
}

/// The espeak-ng voice: the agent's `voice_id` when it names one (letters,
/// digits, `-`, `+`: `en-us`, `en-gb+f3`), else the agent's language
/// (`en-US` → `en-us`), else American English.
fn voice(options: &SpeakOptions) -> String {
    let safe = |v: &str| {
        !v.is_empty()
            && v.len() <= 32
            && !v.starts_with('-')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')
    };
    match options.voice_id.as_deref() {
        Some(v) if safe(v) => v.to_ascii_lowercase(),
        _ if safe(&options.language) => options.language.to_ascii_lowercase(),
        _ => "en-us".into(),
    }
}

/// espeak-ng's `-s` for the agent's speed (0.5–2).
fn words_per_minute(speed: Option<f64>) -> u32 {
    let speed = speed
        .filter(|s| s.is_finite())
        .unwrap_or(1.0)
        .clamp(0.5, 2.0);
    (BASE_WPM * speed).round() as u32
}

#[async_trait]
impl Synthesizer for Espeak {
    fn name(&self) -> &str {
        "offline:espeak-ng"
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    async fn open(&self, options: &SpeakOptions) -> Result<Utterance, SpeechError> {
        let (text_tx, mut text_rx) = mpsc::channel::<String>(16);
        let (audio_tx, audio_rx) = mpsc::channel(64);
        let (engine, options) = (self.clone(), options.clone());
        tokio::spawn(async move {
            while let Some(sentence) = text_rx.recv().await {
                if sentence.trim().is_empty() {
                    continue;
                }
                // A dropped Utterance (barge-in) ends the process at once.
                let spoken = tokio::select! {
                    spoken = engine.speak(&sentence, &options) => spoken,
                    () = audio_tx.closed() => return,
                };
                match spoken {
                    Ok(samples) => {
                        for chunk in samples.chunks(CHUNK) {
                            if audio_tx.send(Ok(chunk.to_vec())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = audio_tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(Utterance {
            text: text_tx,
            audio: audio_rx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(voice_id: Option<&str>, language: &str) -> SpeakOptions {
        SpeakOptions {
            voice_id: voice_id.map(str::to_owned),
            language: language.into(),
            speed: None,
            stability: None,
            similarity_boost: None,
        }
    }

    #[test]
    fn voices_are_names_never_options() {
        assert_eq!(voice(&options(Some("en-gb+f3"), "en-US")), "en-gb+f3");
        assert_eq!(voice(&options(None, "en-US")), "en-us");
        assert_eq!(voice(&options(Some("--help"), "en")), "en");
        assert_eq!(voice(&options(Some("a b;rm"), "-x")), "en-us");
    }

    #[test]
    fn speed_maps_to_bounded_words_per_minute() {
        assert_eq!(words_per_minute(None), 175);
        assert_eq!(words_per_minute(Some(2.0)), 350);
        assert_eq!(words_per_minute(Some(100.0)), 350);
        assert_eq!(words_per_minute(Some(f64::NAN)), 175);
        assert_eq!(words_per_minute(Some(0.1)), 88);
    }

    #[test]
    fn unreadable_wav_is_an_error_not_a_panic() {
        assert!(pcm_of_wav(b"").is_err());
        assert!(pcm_of_wav(b"RIFF....WAVEjunk").is_err());
    }
}
