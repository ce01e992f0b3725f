//! espeak-ng text-to-speech: the voice that is always there (a Debian
//! package, no model), robotic but clear.
//!
//! Each sentence is one `espeak-ng` process: the text goes in on standard
//! input (never on a command line or through a shell, so no text can become
//! an option or a command), the WAV comes out on standard output, and a
//! process that overruns [`ESPEAK_TIMEOUT`] is killed. Dropping the
//! [`Utterance`] kills the running process and stops the rest.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
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
    voices: Arc<Voices>,
}

/// The voices this espeak-ng has (`--voices`, `--voices=variant`): a voice
/// id is used only when it names one of them, so an agent set up with a
/// cloud provider's voice (`21m00Tcm4TlvDq8ikWAM`) still speaks offline,
/// in its language, instead of failing every sentence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Voices {
    /// Language codes, lowercase (`en-us`, `en`, `de`).
    languages: HashSet<String>,
    /// Variant names, lowercase, to the name espeak-ng's file has (`f3`, `alex` → `Alex`).
    variants: HashMap<String, String>,
}

impl Voices {
    /// Reads the tables `espeak-ng --voices` and `--voices=variant` print:
    /// a header, then one voice a line (priority, language, age/gender,
    /// name, file, other languages as `(en 2)`).
    pub fn parse(languages: &str, variants: &str) -> Voices {
        let rows = |table: &str| {
            table
                .lines()
                .skip(1)
                .map(|line| {
                    line.split_whitespace()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        let mut voices = Voices::default();
        for row in rows(languages) {
            if let Some(code) = row.get(1) {
                voices.languages.insert(code.to_ascii_lowercase());
            }
            for other in row.iter().skip(5) {
                if let Some(code) = other.strip_prefix('(') {
                    voices.languages.insert(code.to_ascii_lowercase());
                }
            }
        }
        for row in rows(variants) {
            if let Some(name) = row.get(4).and_then(|file| file.strip_prefix("!v/")) {
                voices
                    .variants
                    .insert(name.to_ascii_lowercase(), name.to_owned());
            }
        }
        voices
    }

    /// The espeak-ng voice for `options`: the agent's `voice_id` when it
    /// names a voice here (a language, optionally `+` a variant: `en-gb+f3`),
    /// else the agent's language (`en-US` → `en-us`, `pt-XX` → `pt`), else
    /// American English. Only names from espeak-ng's own tables come out, so
    /// no text can become an option.
    pub fn pick(&self, options: &SpeakOptions) -> String {
        let language = |code: &str| {
            let code = code.to_ascii_lowercase();
            if self.languages.contains(&code) {
                return Some(code);
            }
            let primary = code.split('-').next().unwrap_or_default();
            self.languages.contains(primary).then(|| primary.to_owned())
        };
        if let Some(id) = options.voice_id.as_deref() {
            let (base, variant) = match id.split_once('+') {
                Some((base, variant)) => (base, Some(variant)),
                None => (id, None),
            };
            let variant = variant.map(|v| self.variants.get(&v.to_ascii_lowercase()));
            if let Some(base) = language(base) {
                match variant {
                    None => return base,
                    Some(Some(v)) => return format!("{base}+{v}"),
                    Some(None) => {}
                }
            }
        }
        language(&options.language)
            .or_else(|| language("en-us"))
            .unwrap_or_else(|| "en".into())
    }
}

impl Espeak {
    /// The program name looked up on `PATH`.
    pub const PROGRAM: &'static str = "espeak-ng";

    /// espeak-ng at `program`, if it runs, with the voices it has (two
    /// runs of `--voices`). Blocks for the few milliseconds that takes; call
    /// it once.
    pub fn find(program: impl Into<PathBuf>) -> Result<Espeak, SpeechError> {
        let program = program.into();
        let table = |which: &str| {
            let output = std::process::Command::new(&program)
                .arg(which)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map_err(|e| {
                    SpeechError::Unavailable(format!(
                        "{} does not run ({e}); install it with `apt-get install espeak-ng`",
                        program.display()
                    ))
                })?;
            if !output.status.success() {
                return Err(SpeechError::Unavailable(format!(
                    "{} {which} failed ({})",
                    program.display(),
                    output.status
                )));
            }
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        };
        let voices = Voices::parse(&table("--voices")?, &table("--voices=variant")?);
        Ok(Espeak {
            program,
            voices: Arc::new(voices),
        })
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
            .args([
                "--stdout",
                "--stdin",
                "-v",
                &self.voices.pick(options),
                "-s",
            ])
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
            ..SpeakOptions::in_language(language)
        }
    }

    /// The tables as espeak-ng 1.51 prints them (a few rows).
    fn voices() -> Voices {
        Voices::parse(
            "Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  pt              --/M      Portuguese_(Portugal) roa/pt               (pt-pt 5)
",
            "Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/M      Alex               !v/Alex
 5  variant         --/F      female3            !v/f3
",
        )
    }

    #[test]
    fn voices_are_names_from_espeaks_tables_never_options() {
        let v = voices();
        assert_eq!(v.pick(&options(Some("en-gb+f3"), "en-US")), "en-gb+f3");
        assert_eq!(v.pick(&options(Some("EN-US+alex"), "en")), "en-us+Alex");
        assert_eq!(v.pick(&options(None, "en-US")), "en-us");
        assert_eq!(v.pick(&options(None, "pt-BR")), "pt");
        assert_eq!(v.pick(&options(Some("--help"), "en")), "en");
        assert_eq!(v.pick(&options(Some("a b;rm"), "-x")), "en-us");
        // A cloud provider's voice id, or an unknown variant: the language's voice.
        assert_eq!(
            v.pick(&options(Some("21m00Tcm4TlvDq8ikWAM"), "en-GB")),
            "en-gb"
        );
        assert_eq!(v.pick(&options(Some("en-us+nope"), "af")), "af");
        // A regional language espeak-ng lacks keeps its variant on the main language.
        assert_eq!(v.pick(&options(Some("pt-BR+f3"), "pt-BR")), "pt+f3");
        assert_eq!(Voices::default().pick(&options(None, "en-US")), "en");
    }

    #[test]
    fn the_installed_espeak_lists_its_voices() {
        // CI installs espeak-ng (.ci/run); a machine without it fails here, loudly.
        let espeak = Espeak::find(Espeak::PROGRAM).expect("espeak-ng is installed");
        assert!(
            espeak.voices.languages.contains("en-us"),
            "{:?}",
            espeak.voices
        );
        assert!(
            espeak.voices.variants.contains_key("f3"),
            "{:?}",
            espeak.voices
        );
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
