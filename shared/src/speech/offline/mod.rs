//! The offline speech engines: speech-to-text and text-to-speech with no
//! provider and no network, for test mode, local development and anyone
//! without provider keys.
//!
//! - Speech-to-text: Moonshine tiny-en ([`moonshine`]) through ONNX Runtime,
//!   both fetched into [`crate::config::Config::speech_model_home`]
//!   (`scripts/fetch-speech`, or the local server's first start: [`fetch`]).
//! - Text-to-speech: espeak-ng ([`espeak`]), the Debian package.
//! - End of turn: Pipecat's Smart Turn v3.2 ([`smart_turn`]) on the same
//!   runtime, fetched with Moonshine; it serves every call, cloud engines or
//!   not, since it hears the caller's audio and needs no provider.
//!
//! Each engine is loaded once per process and shared by every call; until
//! its files are there, asking for it answers `Unavailable` with the reason
//! (and asks again next time, so a fetch that finishes later takes effect).

pub mod espeak;
pub mod fetch;
pub mod moonshine;
pub mod smart_turn;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use self::espeak::Espeak;
use self::moonshine::{Moonshine, MoonshineFiles, MoonshineTranscriber};
use self::smart_turn::SmartTurn;
use super::{SpeechError, Synthesizer, Transcriber};
use crate::App;

/// The Moonshine model's directory under the speech directory.
pub const MOONSHINE_DIR: &str = "moonshine-tiny-en";
/// ONNX Runtime's library under the speech directory.
pub const RUNTIME_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.32.0";

/// The end-of-turn model under the speech directory.
pub const SMART_TURN_MODEL: &str = "smart-turn/smart-turn-v3.2-cpu.onnx";

/// Where this repository's tests and benchmarks find the fetched engines:
/// `SWITCHBOARD_SPEECH_MODEL_DIR`, else the repository's
/// `.switchboard/models/speech` (where `scripts/fetch-speech` puts them).
#[doc(hidden)]
pub fn repository_home() -> PathBuf {
    std::env::var_os("SWITCHBOARD_SPEECH_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.switchboard/models/speech")
        })
}

/// The first file of the offline speech engines missing under `home`, if any.
pub fn missing(home: &Path) -> Option<PathBuf> {
    moonshine_files(home)
        .missing()
        .or_else(|| Some(home.join(SMART_TURN_MODEL)).filter(|p| !p.is_file()))
}

/// Where Moonshine and the runtime are for files under `home`.
pub fn moonshine_files(home: &Path) -> MoonshineFiles {
    MoonshineFiles {
        model_dir: home.join(MOONSHINE_DIR),
        runtime: home.join(RUNTIME_LIBRARY),
    }
}

/// The offline speech-to-text engine, or why it is not available here.
/// The first successful call loads the model (a few hundred milliseconds,
/// blocking): the server does it at start through [`warm_up`].
pub fn transcriber(app: &App) -> Result<Arc<dyn Transcriber>, SpeechError> {
    let model = moonshine(&moonshine_files(&app.config.speech_model_home()))?;
    Ok(Arc::new(MoonshineTranscriber::new(model)))
}

/// The offline text-to-speech engine, or why it is not available here.
pub fn synthesizer(_app: &App) -> Result<Arc<dyn Synthesizer>, SpeechError> {
    Ok(Arc::new(espeak()?))
}

/// The end-of-turn model, or why it is not available here (loaded once,
/// like Moonshine: the server does it at start through [`warm_up`]).
pub fn turn_detector(app: &App) -> Result<Arc<SmartTurn>, SpeechError> {
    let home = app.config.speech_model_home();
    let files = (home.join(SMART_TURN_MODEL), home.join(RUNTIME_LIBRARY));
    static LOADED: Loaded<(PathBuf, PathBuf), SmartTurn> = Mutex::new(None);
    load_once(&LOADED, files, |(model, runtime)| {
        SmartTurn::load(model, runtime)
    })
}

/// The process's espeak-ng, found (and its voices listed) on first success.
pub fn espeak() -> Result<Espeak, SpeechError> {
    static ESPEAK: Mutex<Option<Espeak>> = Mutex::new(None);
    let mut slot = ESPEAK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = slot.as_ref() {
        return Ok(found.clone());
    }
    let found = Espeak::find(Espeak::PROGRAM)?;
    *slot = Some(found.clone());
    Ok(found)
}

/// The process's Moonshine for `files`, loaded on first success.
fn moonshine(files: &MoonshineFiles) -> Result<Arc<Moonshine>, SpeechError> {
    static LOADED: Loaded<MoonshineFiles, Moonshine> = Mutex::new(None);
    load_once(&LOADED, files.clone(), Moonshine::load)
}

/// Loaded copies of one model for its parallel runs: a run takes an idle
/// copy (or opens one) and gives it back, so no lock is held while it runs
/// and two runs never share a copy.
struct Pool<T>(Mutex<Vec<T>>);

impl<T> Pool<T> {
    fn new(first: T) -> Pool<T> {
        Pool(Mutex::new(vec![first]))
    }

    /// `work` on an idle copy, or on one `open`ed now; the copy goes back
    /// to the pool afterwards.
    fn with<R>(
        &self,
        open: impl FnOnce() -> Result<T, SpeechError>,
        work: impl FnOnce(&mut T) -> R,
    ) -> Result<R, SpeechError> {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut copy = match taken {
            Some(copy) => copy,
            None => open()?,
        };
        let done = work(&mut copy);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
        Ok(done)
    }
}

/// A model loaded once per process, with the files it was loaded from.
type Loaded<K, V> = Mutex<Option<(K, Arc<V>)>>;

/// The model in `slot` if it was loaded from `files`, else `load`ed from
/// them now (and kept, on success: a failure is tried again next time).
fn load_once<K: PartialEq, V>(
    slot: &Loaded<K, V>,
    files: K,
    load: impl FnOnce(&K) -> Result<V, SpeechError>,
) -> Result<Arc<V>, SpeechError> {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((loaded_from, model)) = slot.as_ref()
        && *loaded_from == files
    {
        return Ok(Arc::clone(model));
    }
    let model = Arc::new(load(&files)?);
    *slot = Some((files, Arc::clone(&model)));
    Ok(model)
}

/// Loads both engines off the async threads and returns the start lines
/// that say which offline speech engines are active, or why not (one line
/// each).
pub async fn warm_up(app: Arc<App>) -> Vec<String> {
    let home = app.config.speech_model_home();
    tokio::task::spawn_blocking(move || {
        let stt = match transcriber(&app) {
            Ok(t) => format!(
                "offline speech-to-text: {} (from {})",
                t.name(),
                home.display()
            ),
            Err(e) => format!("offline speech-to-text: none ({e})"),
        };
        let tts = match synthesizer(&app) {
            Ok(s) => format!(
                "offline text-to-speech: {} ({} Hz)",
                s.name(),
                s.sample_rate()
            ),
            Err(e) => format!("offline text-to-speech: none ({e})"),
        };
        let turn = match turn_detector(&app) {
            Ok(_) => format!(
                "end-of-turn model: {} (with the words, it decides when a caller is done)",
                SmartTurn::NAME
            ),
            Err(e) => format!("end-of-turn model: none, the words alone decide ({e})"),
        };
        vec![stt, tts, turn]
    })
    .await
    .unwrap_or_else(|e| vec![format!("offline speech: the engines did not load ({e})")])
}
