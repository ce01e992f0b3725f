use std::collections::HashSet;

use super::*;

fn one_hot(dims: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dims];
    v[i % dims] = 1.0;
    v
}

fn chunk(id: &str, text: &str, vector: Vec<f32>) -> IndexedChunk {
    IndexedChunk {
        chunk_id: id.into(),
        text: text.into(),
        vector,
    }
}

fn sample() -> KnowledgeIndex {
    let mut index = KnowledgeIndex::new(4);
    index
        .add_document(
            "pricing",
            &[
                chunk("p1", "The Pro plan costs $49 per month.", one_hot(4, 0)),
                chunk("p2", "The Team plan costs $99 per month.", one_hot(4, 1)),
            ],
        )
        .unwrap();
    index
        .add_document(
            "hours",
            &[chunk(
                "h1",
                "We are open Monday to Friday from 9 to 5.",
                one_hot(4, 2),
            )],
        )
        .unwrap();
    index
}

#[test]
fn bm25_finds_the_words_and_dense_finds_the_meaning() {
    let index = sample();
    let hits = index.search("how much is the pro plan", None, None, 2);
    assert_eq!(hits[0].chunk_id, "p1");
    assert_eq!(hits[0].doc_id, "pricing");
    // No shared words, but the vector points at the hours chunk.
    let hits = index.search("when can I come by", Some(&one_hot(4, 2)), None, 1);
    assert_eq!(hits[0].chunk_id, "h1");
}

#[test]
fn both_rankings_agreeing_wins_the_former_fusion() {
    let index = sample();
    let rrf = Ranking::Rrf(Fusion::default());
    // First in both rankings: the highest fused score there is.
    let hits = index.search_with(&rrf, "team plan", Some(&one_hot(4, 1)), None, 3);
    assert_eq!(hits[0].chunk_id, "p2");
    assert!(hits[0].score > hits[1].score);
    assert!((hits[0].score - 1.25 / 61.0).abs() < 1e-6);
}

/// Three near-orthogonal directions and a query vector between two of them.
fn looks_alike() -> KnowledgeIndex {
    let mut index = KnowledgeIndex::new(4);
    index
        .add_document(
            "ours",
            &[chunk(
                "ours",
                "A missed visit without a day's notice costs fifty dollars.",
                vec![1.0, 0.0, 0.0, 0.0],
            )],
        )
        .unwrap();
    index
        .add_document(
            "theirs",
            &[
                chunk(
                    "theirs",
                    "Cancel your appointment online; cancel fees apply to appointment changes.",
                    vec![0.6, 0.8, 0.0, 0.0],
                ),
                chunk(
                    "order",
                    "Order A7731 ships on Monday.",
                    vec![0.0, 0.0, 1.0, 0.0],
                ),
                chunk(
                    "other",
                    "Orders ship within two days.",
                    vec![0.0, 0.0, 0.8, 0.6],
                ),
                // Words every business uses: in most chunks, so no evidence.
                chunk(
                    "common1",
                    "Cancel or move an appointment by phone.",
                    vec![0.0, 0.0, 0.0, 1.0],
                ),
                chunk(
                    "common2",
                    "Appointment reminders go out the day before; reply to cancel.",
                    vec![0.0, 0.0, 0.0, 1.0],
                ),
                chunk(
                    "common3",
                    "Ask us to cancel any appointment.",
                    vec![0.0, 0.0, 0.0, 1.0],
                ),
            ],
        )
        .unwrap();
    index
}

#[test]
fn dense_first_keeps_the_models_choice_over_common_shared_words() {
    let index = looks_alike();
    let query = "what if I cancel my appointment?";
    let vector = [0.9, 0.3, 0.0, 0.0];
    let hits = index.search(query, Some(&vector), None, 2);
    assert_eq!(hits[0].chunk_id, "ours");
    // The former fusion let the keyword match outrank it.
    let rrf = index.search_with(
        &Ranking::Rrf(Fusion::default()),
        query,
        Some(&vector),
        None,
        2,
    );
    assert_eq!(rrf[0].chunk_id, "theirs");
}

#[test]
fn an_exact_identifier_is_evidence_the_model_cannot_see() {
    let index = looks_alike();
    // The model prefers the general shipping chunk; the order number decides.
    let hits = index.search(
        "where is order A7731?",
        Some(&[0.0, 0.0, 0.9, 0.35]),
        None,
        2,
    );
    assert_eq!(hits[0].chunk_id, "order");
}

#[test]
fn scores_are_confidences_between_zero_and_one() {
    let index = looks_alike();
    let sure = index.search("missed visit", Some(&[1.0, 0.0, 0.0, 0.0]), None, 4);
    let unsure = index.search("parking", Some(&[0.0, -1.0, 0.0, 0.0]), None, 1);
    assert!(sure.iter().all(|h| (0.0..=1.0).contains(&h.score)));
    assert!(sure[0].score > 0.9, "{}", sure[0].score);
    assert!(unsure[0].score < 0.3, "{}", unsure[0].score);
    // Lexical scores: the share of the query's weighted terms held.
    let lexical = index.search_with(&Ranking::LexicalOnly, "order A7731", None, None, 2);
    assert_eq!(lexical[0].chunk_id, "order");
    assert!((lexical[0].score - 1.0).abs() < 1e-6);
    assert!(lexical[1].score < 1.0);
}

#[test]
fn lexical_first_orders_as_bm25_does() {
    let index = looks_alike();
    let query = "cancel appointment fees orders";
    let bm25 = index.search_with(&Ranking::LexicalOnly, query, None, None, 7);
    let first = index.search_with(
        &Ranking::for_embedder("hashing-384", true),
        query,
        Some(&[0.0, 0.0, 0.0, 1.0]),
        None,
        7,
    );
    let ids = |hits: &[Hit]| hits.iter().map(|h| h.chunk_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&bm25), ids(&first));
}

#[test]
fn scope_limits_the_documents() {
    let index = sample();
    let scope: HashSet<String> = ["hours".to_owned()].into();
    let hits = index.search("plan costs", Some(&one_hot(4, 0)), Some(&scope), 5);
    assert!(hits.iter().all(|h| h.doc_id == "hours"));
    let nothing: HashSet<String> = ["unknown".to_owned()].into();
    assert!(index.search("plan", None, Some(&nothing), 5).is_empty());
}

#[test]
fn removing_and_replacing_documents() {
    let mut index = sample();
    assert_eq!(index.len(), 3);
    assert!(index.remove_document("pricing"));
    assert!(!index.remove_document("pricing"));
    assert_eq!((index.len(), index.document_count()), (1, 1));
    assert!(index.search("plan costs", None, None, 5).is_empty());
    let hits = index.search("monday", Some(&one_hot(4, 2)), None, 5);
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].chunk_id.as_str(), hits[0].doc_id.as_str()),
        ("h1", "hours")
    );
    // Adding a document again replaces it.
    index
        .add_document("hours", &[chunk("h2", "Closed on Sundays.", one_hot(4, 3))])
        .unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.search("sundays", None, None, 5)[0].chunk_id, "h2");
}

#[test]
fn wrong_dimensions_are_refused_and_change_nothing() {
    let mut index = sample();
    let err = index
        .add_document("hours", &[chunk("x", "text", vec![1.0; 3])])
        .unwrap_err();
    assert_eq!(
        err,
        IndexError::Dimensions {
            chunk_id: "x".into(),
            expected: 4,
            got: 3
        }
    );
    assert_eq!(index.len(), 3);
}

#[test]
fn top_k_and_empty_queries() {
    let index = sample();
    assert!(index.search("plan", None, None, 0).is_empty());
    assert_eq!(index.search("plan month", None, None, 1).len(), 1);
    assert!(index.search("the of and", None, None, 3).is_empty());
    assert!(
        KnowledgeIndex::new(4)
            .search("plan", Some(&one_hot(4, 0)), None, 3)
            .is_empty()
    );
}

#[test]
fn dot_product_matches_the_plain_sum() {
    let a: Vec<i8> = (0..389).map(|i| (i % 255 - 127) as i8).collect();
    let b: Vec<i8> = (0..389).map(|i| (127 - i % 200) as i8).collect();
    let plain: i32 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    assert_eq!(dot_i8(&a, &b), plain);
}

#[test]
fn only_the_offline_embedders_scores_are_calibrated() {
    assert!(Calibration::is_fitted(
        "local:all-MiniLM-L6-v2 (384 dims, CPU avx2)"
    ));
    assert!(Calibration::is_fitted(
        "hashing-384 (lexical fallback, no model)"
    ));
    assert!(!Calibration::is_fitted(
        "openai-compatible:text-embedding-3-small"
    ));
}
