//! Retrieval quality of the knowledge engine on a small test set about a
//! fictional bike shop (`tests/data/knowledge/`): every document goes through
//! extract → chunk → embed → index, and each of the 41 questions must find,
//! in its top 3 hits, a chunk of the labelled document that contains the
//! labelled phrase (hit@3).
//!
//! With the real offline model (`SWITCHBOARD_EMBEDDING_MODEL_DIR`, or the
//! workspace's `.switchboard/models/all-MiniLM-L6-v2` that `scripts/fetch-model`
//! fills) hit@3 must be ≥ 0.9; the lexical fallback is held to a lower floor.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard::engine::knowledge::{
    Chunk, Embedder, HashingEmbedder, IndexedChunk, KnowledgeIndex, MODEL_DIR_ENV, Ranking,
    chunk_for_model, extract, is_lexical_fallback, offline_embedder, title_from_name,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/knowledge")
}

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(MODEL_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.switchboard/models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    // Skips, or fails in CI (and under scripts/test) where the model is required.
    switchboard::engine::knowledge::embed::skip_without_model(&dir);
    None
}

/// The test documents as uploaded files: (name, bytes, mime type).
fn documents() -> Vec<(String, Vec<u8>, &'static str)> {
    let read = |name: &str| std::fs::read(data_dir().join(name)).expect("test document");
    let source = String::from_utf8(read("warranty.pdf.txt")).expect("utf-8");
    let pages: Vec<Vec<String>> = source
        .split("\n---\n")
        .map(|page| {
            page.split("\n\n")
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| !p.is_empty())
                .collect()
        })
        .collect();
    vec![
        ("about.md".into(), read("about.md"), "text/markdown"),
        ("prices.csv".into(), read("prices.csv"), "text/csv"),
        ("faq.html".into(), read("faq.html"), "text/html"),
        (
            "warranty.pdf".into(),
            support::pdf::pdf_from_pages(&pages),
            "application/pdf",
        ),
    ]
}

struct Question {
    text: String,
    document: String,
    phrase: String,
}

fn questions() -> Vec<Question> {
    let text = std::fs::read_to_string(data_dir().join("questions.tsv")).expect("questions");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let mut next = || {
                fields
                    .next()
                    .expect("question, document, phrase")
                    .to_owned()
            };
            Question {
                text: next(),
                document: next(),
                phrase: next(),
            }
        })
        .collect()
}

struct Corpus {
    index: KnowledgeIndex,
    chunks: Vec<(String, Chunk)>,
}

impl Corpus {
    async fn build(embedder: &dyn Embedder) -> Corpus {
        let mut index = KnowledgeIndex::new(embedder.dimensions()).with_ranking(
            Ranking::for_embedder(embedder.name(), is_lexical_fallback(embedder)),
        );
        let mut all = Vec::new();
        for (name, bytes, mime) in documents() {
            let mut document =
                extract(&bytes, mime, Some(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            // As the ingest worker does: titled by the document's name, cut
            // to the embedder's window, title and heading embedded.
            if document.title.is_none() {
                document.title = title_from_name(&name);
            }
            let chunks = chunk_for_model(&document, embedder);
            let texts: Vec<String> = chunks.iter().map(Chunk::embedding_text).collect();
            let vectors = embedder.embed(&texts).await.expect("embed");
            let indexed: Vec<IndexedChunk> = chunks
                .iter()
                .zip(vectors)
                .map(|(c, vector)| IndexedChunk {
                    chunk_id: format!("{name}#{}", c.index),
                    text: c.text.clone(),
                    vector,
                })
                .collect();
            index.add_document(&name, &indexed).expect("index");
            all.extend(chunks.into_iter().map(|c| (name.clone(), c)));
        }
        Corpus { index, chunks: all }
    }

    fn chunk(&self, chunk_id: &str) -> &Chunk {
        let (doc, index) = chunk_id.rsplit_once('#').expect("chunk id");
        let index: usize = index.parse().expect("index");
        &self
            .chunks
            .iter()
            .find(|(d, c)| d == doc && c.index == index)
            .expect("chunk")
            .1
    }
}

/// Which rankings a search uses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Hybrid,
    DenseOnly,
    LexicalOnly,
}

/// hit@3 over the question set, printing every miss of the hybrid search
/// and, for comparison, the score of each ranking alone.
async fn hit_at_3(embedder: &dyn Embedder) -> f64 {
    let corpus = Corpus::build(embedder).await;
    let questions = questions();
    assert!(questions.len() >= 30);
    let texts: Vec<String> = questions.iter().map(|q| q.text.clone()).collect();
    let vectors = embedder.embed(&texts).await.expect("embed questions");
    let mut scores = Vec::new();
    for mode in [Mode::Hybrid, Mode::DenseOnly, Mode::LexicalOnly] {
        let mut hits = 0;
        for (question, vector) in questions.iter().zip(&vectors) {
            let results = match mode {
                Mode::Hybrid => corpus.index.search(&question.text, Some(vector), None, 3),
                Mode::DenseOnly => corpus.index.search("", Some(vector), None, 3),
                Mode::LexicalOnly => corpus.index.search(&question.text, None, None, 3),
            };
            let found = results.iter().any(|hit| {
                hit.doc_id == question.document
                    && corpus.chunk(&hit.chunk_id).text.contains(&question.phrase)
            });
            if found {
                hits += 1;
            } else if mode == Mode::Hybrid {
                let got: Vec<String> = results
                    .iter()
                    .map(|h| {
                        format!(
                            "{} {:?}",
                            h.chunk_id,
                            corpus
                                .chunk(&h.chunk_id)
                                .text
                                .chars()
                                .take(50)
                                .collect::<String>()
                        )
                    })
                    .collect();
                println!(
                    "MISS {:?} (want {} / {:?}) got {got:?}",
                    question.text, question.document, question.phrase
                );
            }
        }
        let score = hits as f64 / questions.len() as f64;
        println!(
            "hit@3 = {score:.3} ({hits}/{}) {mode:?} with {} over {} chunks",
            questions.len(),
            embedder.name(),
            corpus.chunks.len()
        );
        scores.push(score);
    }
    scores[0]
}

#[test]
fn every_labelled_phrase_is_in_a_chunk_of_its_document() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let corpus = runtime.block_on(Corpus::build(&HashingEmbedder::default()));
    for question in questions() {
        let holders = corpus
            .chunks
            .iter()
            .filter(|(doc, chunk)| {
                doc == &question.document && chunk.text.contains(&question.phrase)
            })
            .count();
        assert!(
            holders >= 1,
            "{:?} is in no chunk of {}",
            question.phrase,
            question.document
        );
    }
    // Structure survived: headings reached the chunks of each format.
    let headed = |doc: &str, heading: &str| {
        corpus
            .chunks
            .iter()
            .any(|(d, c)| d == doc && c.heading.as_deref().is_some_and(|h| h.contains(heading)))
    };
    assert!(headed("about.md", "Brightside Bikes > Opening hours"));
    assert!(headed("faq.html", "Returns and refunds"));
    assert!(headed("warranty.pdf", "Tyre Pressure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_at_3_with_the_offline_model() {
    let Some(dir) = model_dir() else { return };
    let embedder: Arc<dyn Embedder> = offline_embedder(Some(&dir), None);
    assert!(
        embedder.name().starts_with("local:"),
        "model not loaded: {}",
        embedder.name()
    );
    let score = hit_at_3(embedder.as_ref()).await;
    assert!(
        score >= 0.9,
        "hit@3 {score:.3} < 0.9 with the offline model"
    );
    // The faster, shorter read (SWITCHBOARD_EMBEDDING_MAX_TOKENS=128) is
    // shown, not held to the bar: it trades quality for ingest speed.
    println!("the offline model reading at most 128 tokens per chunk:");
    let short = offline_embedder(Some(&dir), Some(128));
    hit_at_3(short.as_ref()).await;
}

#[tokio::test]
async fn hit_at_3_with_the_lexical_fallback() {
    let embedder = offline_embedder(None, None);
    assert!(embedder.name().contains("fallback"));
    let score = hit_at_3(embedder.as_ref()).await;
    // BM25's own 0.732: the fallback ranks as BM25 does (issue 16).
    assert!(score >= 0.7, "hit@3 {score:.3} < 0.7 with the fallback");
}

#[tokio::test]
async fn scope_keeps_answers_inside_the_assigned_documents() {
    let embedder = HashingEmbedder::default();
    let corpus = Corpus::build(&embedder).await;
    let scope: HashSet<String> = ["prices.csv".to_owned()].into();
    // The frame's guarantee is in the warranty; the fallback ranks by words,
    // so the question also names something the price list holds.
    let query = "How long is the frame guaranteed, and how long does a brake adjustment take?";
    let vector = embedder.embed_one(query);
    let hits = corpus.index.search(query, Some(&vector), Some(&scope), 5);
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.doc_id == "prices.csv"));
}
