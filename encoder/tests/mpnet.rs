//! The MPNet architecture against its reference: vectors of
//! sentence-transformers all-mpnet-base-v2 computed in float64 with numpy
//! straight from the same model files (`tests/data/mpnet_reference.py`,
//! written from Hugging Face's MPNet modeling code: positions from
//! padding_idx + 1, no token types, the relative-position bias shared by
//! all layers, mean pooling, normalisation). Texts run from 3 tokens to
//! past 128 (distances that share the last bucket) and past 384 (cut at the
//! model's limit, keeping `</s>`). Needs the model (`scripts/fetch-model
//! --model all-mpnet-base-v2`, or `SWITCHBOARD_MPNET_MODEL_DIR`): says
//! SKIPPED without it, and fails instead in CI or with
//! `SWITCHBOARD_REQUIRE_MODEL=1`.

mod common;

use common::compare;
use switchboard_encoder::{Kernels, SentenceEncoder};

fn reference() -> common::Reference {
    common::reference("all-mpnet-base-v2.reference.json")
}

fn model() -> Option<SentenceEncoder> {
    common::model("SWITCHBOARD_MPNET_MODEL_DIR", "all-mpnet-base-v2")
}

#[test]
fn every_kernel_set_reproduces_the_mpnet_reference_vectors() {
    let Some(model) = model() else { return };
    let reference = reference();
    assert_eq!(model.dimensions(), 768);
    assert_eq!(model.max_tokens(), 384);
    // The fixture covers what the test claims: a text past 128 tokens, and
    // one the reference cut at 384 keeping `</s>` (id 2) last.
    let lengths: Vec<usize> = reference.ids.iter().map(Vec::len).collect();
    assert!(lengths.iter().any(|&n| n > 128 && n < 384), "{lengths:?}");
    let cut = reference.ids.last().unwrap();
    assert_eq!((cut.len(), cut[0], cut[383]), (384, 0, 2));
    let (mut lowest, mut widest) = (1f64, 0f64);
    for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Baseline] {
        let Some(model) = model.clone().with_kernels(kernels) else {
            eprintln!("{kernels:?}: not on this machine");
            continue;
        };
        // All texts in one call: passes mix long and short sequences.
        let vectors = model.encode(&reference.texts).unwrap();
        for (i, (got, want)) in vectors.iter().zip(&reference.vectors).enumerate() {
            let (worst, cosine) = compare(got, want);
            eprintln!(
                "{kernels:?} text {i} ({} tokens): largest difference {worst:.1e}, cosine {cosine:.9}",
                reference.ids[i].len()
            );
            assert!(
                cosine >= 0.9999 && worst < 2e-6,
                "{kernels:?}, text {i}: cosine {cosine}, largest difference {worst:e}"
            );
            (lowest, widest) = (lowest.min(cosine), widest.max(worst));
        }
    }
    eprintln!("lowest cosine {lowest:.9}, largest difference {widest:.1e}");
}

#[test]
fn an_mpnet_vector_does_not_depend_on_its_batch() {
    let Some(model) = model() else { return };
    let reference = reference();
    let together = model
        .clone()
        .with_workers(2)
        .encode(&reference.texts)
        .unwrap();
    // The shortest beside the longest (one relative-bias table for both),
    // and a long one, each alone.
    for i in [0, 4, 8] {
        let alone = model
            .clone()
            .with_workers(1)
            .encode(&reference.texts[i..=i])
            .unwrap();
        let wide: Vec<f64> = together[i].iter().map(|&x| f64::from(x)).collect();
        let (worst, _) = compare(&alone[0], &wide);
        assert!(worst < 1e-6, "text {i} moved by {worst:e}");
    }
}
