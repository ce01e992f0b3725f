//! Loading refuses what it cannot run, with the file and the reason.

use switchboard_encoder::{Error, SentenceEncoder};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const CONFIG: &str = r#"{"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
    "intermediate_size": 16, "max_position_embeddings": 16, "vocab_size": 10}"#;

#[test]
fn a_missing_directory_names_the_file() {
    let err = SentenceEncoder::load(std::path::Path::new("/nonexistent/model")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn a_bad_config_or_weights_file_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.json", "{not json");
    let err = SentenceEncoder::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::Invalid { .. }) && err.to_string().contains("config.json"),
        "{err}"
    );

    write(dir.path(), "config.json", CONFIG);
    write(dir.path(), "tokenizer.json", "{}");
    let err = SentenceEncoder::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}
