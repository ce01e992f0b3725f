//! The encoder against the reference: vectors of all-MiniLM-L6-v2 computed
//! in float64 with numpy straight from the same model files
//! (`tests/data/reference.py`: BERT, mean pooling, normalisation, as
//! sentence-transformers does; it agrees with candle-transformers' BertModel
//! to 3e-7). Needs the model (`scripts/fetch-model`): says SKIPPED without it,
//! and fails instead in CI or with `SWITCHBOARD_REQUIRE_MODEL=1`. `fixture.rs`
//! checks the forward pass on a tiny generated model that is always there.

mod common;

use common::compare;
use switchboard_encoder::{Kernels, SentenceEncoder};

fn reference() -> common::Reference {
    common::reference("all-MiniLM-L6-v2.reference.json")
}

fn model() -> Option<SentenceEncoder> {
    common::model("SWITCHBOARD_EMBEDDING_MODEL_DIR", "all-MiniLM-L6-v2")
}

#[test]
fn every_kernel_set_reproduces_the_reference_vectors() {
    let Some(model) = model() else { return };
    let reference = reference();
    assert_eq!(model.dimensions(), 384);
    assert_eq!(model.max_tokens(), 256);
    for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Baseline] {
        let Some(model) = model.clone().with_kernels(kernels) else {
            eprintln!("{kernels:?}: not on this machine");
            continue;
        };
        let vectors = model.encode(&reference.texts).unwrap();
        for (i, (got, want)) in vectors.iter().zip(&reference.vectors).enumerate() {
            let (worst, cosine) = compare(got, want);
            eprintln!("{kernels:?} text {i}: largest difference {worst:.1e}, cosine {cosine:.9}");
            assert!(
                worst < 1e-6 && cosine > 0.999_999,
                "{kernels:?}, text {i}: {worst:e}, {cosine}"
            );
        }
    }
}

#[test]
fn a_text_gets_the_same_vector_alone_in_a_batch_or_beside_others() {
    let Some(model) = model() else { return };
    let reference = reference();
    // Many texts of many lengths: several passes, several workers.
    let texts: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "{} {}",
                reference.texts[i % reference.texts.len()],
                "and more words ".repeat(i)
            )
        })
        .collect();
    let together = model.clone().with_workers(3).encode(&texts).unwrap();
    for i in [0, 7, 33, 59] {
        let alone = model.clone().with_workers(1).encode(&texts[i..=i]).unwrap();
        let (worst, _) = compare(
            &alone[0],
            &together[i]
                .iter()
                .map(|&x| f64::from(x))
                .collect::<Vec<_>>(),
        );
        assert!(worst < 1e-6, "text {i} moved by {worst:e}");
    }
    assert_ne!(together[0], together[1]);
}

#[test]
fn long_texts_are_cut_at_the_limit_keeping_the_closing_separator() {
    let Some(model) = model() else { return };
    let reference = reference();
    // The reference cut the long text at 256 tokens, keeping [SEP] last.
    assert_eq!(reference.ids.last().unwrap().len(), 256);
    assert_eq!(*reference.ids.last().unwrap().last().unwrap(), 102);
    // A shorter read: the vector of the first 32 tokens, not of the whole.
    let long = reference.texts.last().unwrap();
    let full = model.encode(&[long]).unwrap();
    let short = model.clone().with_max_tokens(32).encode(&[long]).unwrap();
    let (worst, cosine) = compare(
        &short[0],
        &full[0].iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
    );
    assert!(worst > 1e-4 && cosine > 0.5, "{worst} {cosine}");
    assert_eq!(
        model.clone().with_max_tokens(1).max_tokens(),
        switchboard_encoder::MIN_TOKENS
    );
    assert_eq!(model.with_max_tokens(100_000).max_tokens(), 256);
}

#[test]
fn odd_inputs_still_give_unit_vectors() {
    let Some(model) = model() else { return };
    let texts = ["", " ", "🚲🚲🚲", "\u{0}\u{1}\u{2}", &"word ".repeat(2000)];
    let vectors = model.encode(&texts).unwrap();
    for (t, v) in texts.iter().zip(&vectors) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4 && v.iter().all(|x| x.is_finite()),
            "{t:?}: {norm}"
        );
    }
    assert!(model.encode::<&str>(&[]).unwrap().is_empty());
}
