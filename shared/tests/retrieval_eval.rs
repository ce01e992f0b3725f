//! Retrieval quality on questions asked the way callers talk (issue 16):
//! the evaluation set in `tests/data/retrieval-eval/` (several businesses
//! with look-alike policies in text, CSV, Markdown and HTML; caller-style
//! paraphrases and exact-identifier questions; a dev split to tune on and a
//! test split to report) goes through the real pipeline — extract → chunk
//! for the embedder's window → embed title + heading + text → index — and
//! every ranking mode is measured: hit@1, hit@3 and MRR@5, scoped to the
//! question's business (as an agent is) and over all businesses.
//!
//! Embedders measured: every offline model directory found (a directory
//! with `model.safetensors` under the workspace's `.switchboard/models/`,
//! `SWITCHBOARD_EMBEDDING_MODEL_DIR`, and the `:`-separated
//! `SWITCHBOARD_EVAL_MODEL_DIRS`), and the lexical fallback. A missing model
//! skips its measurement, or fails it where the model is required
//! (`SWITCHBOARD_REQUIRE_MODEL=1`, as the other model tests do).
//!
//! `SWITCHBOARD_EVAL_TUNE=1` also prints the dev-split grid the defaults
//! were chosen from (evidence weight, rare-term share) and the fitted
//! calibration; nothing is tuned on the test split.

#[path = "retrieval_eval/followups.rs"]
mod followups;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use switchboard::engine::knowledge::{
    Calibration, Chunk, ChunkOptions, Embedder, Evidence, Fusion, HashingEmbedder, IndexedChunk,
    KnowledgeIndex, MODEL_DIR_ENV, Ranking, chunk_counted, chunk_document, chunk_for_model,
    extract, is_lexical_fallback, offline_embedder, title_from_name,
};

/// hit@3 every offline model must reach on the test split (scoped search).
/// The goal is 0.85; all-MiniLM-L6-v2 reaches 0.801 (BENCHMARKS.md),
/// and this floor leaves room for small edits to the set while still
/// failing on a real regression (the former pipeline scored 0.714).
const MODEL_HIT3_FLOOR: f64 = 0.75;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/retrieval-eval")
}

#[derive(Debug, Clone, Deserialize)]
struct Question {
    id: String,
    split: String,
    kind: String,
    business: String,
    question: String,
    doc: String,
    answer: String,
    /// Earlier caller turns of a follow-up ("and on Saturdays?"): searched
    /// alone, as here, such questions are expected to miss (query rewriting
    /// is measured in `followups`).
    #[serde(default)]
    history: Vec<String>,
}

fn questions() -> Vec<Question> {
    let text = std::fs::read_to_string(data_dir().join("questions.jsonl")).expect("questions");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// One evaluation document: id `<business>/<file stem>`, as questions name it.
struct Doc {
    id: String,
    business: String,
    file: String,
    bytes: Vec<u8>,
    mime: &'static str,
}

fn documents() -> Vec<Doc> {
    let mut out = Vec::new();
    let root = data_dir().join("docs");
    let mut businesses: Vec<_> = std::fs::read_dir(&root)
        .expect("docs")
        .map(|e| e.expect("entry").path())
        .collect();
    businesses.sort();
    for dir in businesses {
        let business = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("business")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let (stem, ext) = file.rsplit_once('.').expect("extension");
            let mime = match ext {
                "txt" => "text/plain",
                "csv" => "text/csv",
                "md" => "text/markdown",
                "html" => "text/html",
                other => panic!("unexpected document type {other}"),
            };
            out.push(Doc {
                id: format!("{business}/{stem}"),
                business: business.clone(),
                file: file.clone(),
                bytes: std::fs::read(&path).expect("document"),
                mime,
            });
        }
    }
    out
}

/// How documents are cut and what is embedded.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Pipeline {
    /// Chunks fitted to the embedder's window, title and heading embedded.
    Current,
    /// As `Current` with other sizes, in the embedder's tokens (tuning).
    Sized(ChunkOptions),
    /// Before issue 16: ~300 estimated tokens, heading only.
    Before,
}

struct Corpus {
    index: KnowledgeIndex,
    texts: BTreeMap<String, (String, String)>,
    by_business: BTreeMap<String, HashSet<String>>,
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Corpus {
    async fn build(embedder: &dyn Embedder, pipeline: Pipeline) -> Corpus {
        let mut index = KnowledgeIndex::new(embedder.dimensions());
        let mut texts = BTreeMap::new();
        let mut by_business: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for doc in documents() {
            let mut extracted = extract(&doc.bytes, doc.mime, Some(&doc.file))
                .unwrap_or_else(|e| panic!("{}: {e}", doc.id));
            let chunks: Vec<Chunk> = match pipeline {
                Pipeline::Current => {
                    if extracted.title.is_none() {
                        extracted.title = title_from_name(&doc.file);
                    }
                    chunk_for_model(&extracted, embedder)
                }
                Pipeline::Sized(options) => {
                    if extracted.title.is_none() {
                        extracted.title = title_from_name(&doc.file);
                    }
                    let count = |text: &str| embedder.count_tokens(text).unwrap_or(0);
                    chunk_counted(&extracted, &options, &count)
                }
                Pipeline::Before => chunk_document(&extracted),
            };
            let embedded: Vec<String> = chunks
                .iter()
                .map(|c| match pipeline {
                    Pipeline::Current | Pipeline::Sized(_) => c.embedding_text(),
                    Pipeline::Before => c.text.clone(),
                })
                .collect();
            let vectors = embedder.embed(&embedded).await.expect("embed");
            let indexed: Vec<IndexedChunk> = chunks
                .iter()
                .zip(vectors)
                .map(|(c, vector)| IndexedChunk {
                    chunk_id: format!("{}#{}", doc.id, c.index),
                    text: c.text.clone(),
                    vector,
                })
                .collect();
            index.add_document(&doc.id, &indexed).expect("index");
            if std::env::var_os("SWITCHBOARD_EVAL_DUMP").is_some() {
                for (c, text) in chunks.iter().zip(&embedded) {
                    println!("CHUNK {}#{} {} tokens: {text:?}", doc.id, c.index, c.tokens);
                }
            }
            for c in &chunks {
                texts.insert(
                    format!("{}#{}", doc.id, c.index),
                    (doc.id.clone(), normalise(&c.text)),
                );
            }
            by_business
                .entry(doc.business.clone())
                .or_default()
                .insert(doc.id.clone());
        }
        Corpus {
            index,
            texts,
            by_business,
        }
    }

    fn answers(&self, chunk_id: &str, question: &Question) -> bool {
        self.texts.get(chunk_id).is_some_and(|(doc, text)| {
            doc == &question.doc && text.contains(&normalise(&question.answer))
        })
    }
}

/// hit@1, hit@3, MRR@5 and the top hit's score per question.
#[derive(Default, Clone)]
struct Scores {
    n: usize,
    hit1: usize,
    hit3: usize,
    rr: f64,
    /// (top score, whether the top hit answers) of each question.
    tops: Vec<(f32, bool)>,
}

impl Scores {
    fn add(&mut self, rank: Option<usize>, top: Option<f32>) {
        self.n += 1;
        if let Some(r) = rank {
            self.hit1 += usize::from(r == 0);
            self.hit3 += usize::from(r < 3);
            self.rr += 1.0 / (r as f64 + 1.0);
        }
        if let Some(score) = top {
            self.tops.push((score, rank == Some(0)));
        }
    }
    fn hit1(&self) -> f64 {
        self.hit1 as f64 / self.n.max(1) as f64
    }
    fn hit3(&self) -> f64 {
        self.hit3 as f64 / self.n.max(1) as f64
    }
    fn mrr(&self) -> f64 {
        self.rr / self.n.max(1) as f64
    }
    fn line(&self) -> String {
        format!(
            "hit@1 {:.3}  hit@3 {:.3}  MRR@5 {:.3}  (n={})",
            self.hit1(),
            self.hit3(),
            self.mrr(),
            self.n
        )
    }
}

/// Scores of `ranking` on the questions of `split`, scoped to the
/// question's business or not.
fn measure(
    corpus: &Corpus,
    questions: &[(Question, Vec<f32>)],
    ranking: &Ranking,
    split: &str,
    scoped: bool,
    verbose: bool,
) -> Scores {
    let mut scores = Scores::default();
    for (q, vector) in questions.iter().filter(|(q, _)| q.split == split) {
        let scope = scoped.then(|| &corpus.by_business[&q.business]);
        let hits = corpus
            .index
            .search_with(ranking, &q.question, Some(vector), scope, 5);
        let rank = hits.iter().position(|h| corpus.answers(&h.chunk_id, q));
        if verbose && rank.is_none_or(|r| r >= 3) {
            let got: Vec<String> = hits
                .iter()
                .take(3)
                .map(|h| format!("{} {:.2}", h.chunk_id, h.score))
                .collect();
            println!(
                "  MISS {} [{}] {:?} want {} got {got:?}",
                q.id, q.kind, q.question, q.doc
            );
        }
        scores.add(rank, hits.first().map(|h| h.score));
    }
    scores
}

/// The rankings compared, by name, for an embedder.
fn rankings(embedder: &dyn Embedder) -> Vec<(&'static str, Ranking)> {
    let lexical = is_lexical_fallback(embedder);
    vec![
        ("new", Ranking::for_embedder(embedder.name(), lexical)),
        ("dense", Ranking::DenseOnly(Calibration::default())),
        ("bm25", Ranking::LexicalOnly),
        ("rrf (before)", Ranking::Rrf(Fusion::default())),
    ]
}

/// Measures one embedder; returns (mode, split, scoped) → scores.
async fn evaluate(embedder: &dyn Embedder) -> BTreeMap<(String, String, bool), Scores> {
    let questions = questions();
    let texts: Vec<String> = questions.iter().map(|q| q.question.clone()).collect();
    let vectors = embedder.embed(&texts).await.expect("embed questions");
    let questions: Vec<(Question, Vec<f32>)> = questions.into_iter().zip(vectors).collect();
    let corpus = Corpus::build(embedder, Pipeline::Current).await;
    // Every labelled answer must be readable whole in some chunk.
    for (q, _) in &questions {
        assert!(
            corpus.texts.keys().any(|id| corpus.answers(id, q)),
            "{}: {:?} is in no chunk of {}",
            q.id,
            q.answer,
            q.doc
        );
    }
    println!(
        "== {} ({} chunks, {} questions)",
        embedder.name(),
        corpus.texts.len(),
        questions.len()
    );
    let verbose = std::env::var_os("SWITCHBOARD_EVAL_VERBOSE").is_some();
    let mut out = BTreeMap::new();
    for (mode, ranking) in rankings(embedder) {
        for split in ["dev", "test"] {
            for scoped in [true, false] {
                let s = measure(
                    &corpus,
                    &questions,
                    &ranking,
                    split,
                    scoped,
                    verbose && mode == "new" && split == "dev" && scoped,
                );
                println!(
                    "  {mode:<13} {split:<4} {:<8} {}",
                    if scoped { "scoped" } else { "all" },
                    s.line()
                );
                out.insert((mode.to_owned(), split.to_owned(), scoped), s);
            }
        }
    }
    for split in ["dev", "test"] {
        let standalone: Vec<(Question, Vec<f32>)> = questions
            .iter()
            .filter(|(q, _)| q.history.is_empty())
            .cloned()
            .collect();
        let ranking = &rankings(embedder)[0].1;
        let s = measure(&corpus, &standalone, ranking, split, true, false);
        println!("  {:<13} {split:<4} scoped   {}", "new, no f-ups", s.line());
        for kind in ["paraphrase", "identifier"] {
            let only: Vec<(Question, Vec<f32>)> = questions
                .iter()
                .filter(|(q, _)| q.kind == kind)
                .cloned()
                .collect();
            for (mode, ranking) in rankings(embedder) {
                let s = measure(&corpus, &only, &ranking, split, true, false);
                println!("  {mode:<13} {split:<4} {kind:<10} {}", s.line());
            }
        }
    }
    // The whole pipeline as it was before issue 16 (chunking and fusion).
    let before = Corpus::build(embedder, Pipeline::Before).await;
    for split in ["dev", "test"] {
        let s = measure(
            &before,
            &questions,
            &Ranking::Rrf(Fusion::default()),
            split,
            true,
            false,
        );
        println!("  {:<13} {split:<4} scoped   {}", "pipeline<16", s.line());
    }
    if std::env::var_os("SWITCHBOARD_EVAL_TUNE").is_some() {
        tune(&corpus, &questions, embedder).await;
    }
    let chosen = threshold(&out[&("new".to_owned(), "dev".to_owned(), true)]);
    let test = &out[&("new".to_owned(), "test".to_owned(), true)];
    let (right, answered, answered_right) = decide(test, chosen);
    println!(
        "  threshold {chosen:.2} on test: decides {right}/{} tops right; answers {answered}, {answered_right} of them right",
        test.tops.len()
    );
    out
}

/// The dev-split grid the defaults were chosen from.
async fn tune(corpus: &Corpus, questions: &[(Question, Vec<f32>)], embedder: &dyn Embedder) {
    println!("  tuning on dev (scoped hit@3 / MRR@5):");
    if is_lexical_fallback(embedder) {
        for tie_weight in [0.0, 0.001, 0.02, 0.05, 0.1, 0.2, 0.5] {
            let s = measure(
                corpus,
                questions,
                &Ranking::LexicalFirst { tie_weight },
                "dev",
                true,
                false,
            );
            println!("    tie_weight {tie_weight:<5} {}", s.line());
        }
        return;
    }
    let window = embedder.max_tokens().unwrap_or(256);
    for (target, overlap) in [(4, 8), (3, 8), (2, 8), (2, 100), (1, 8)] {
        let options = ChunkOptions {
            target_tokens: window / target,
            max_tokens: window,
            overlap_tokens: window / overlap,
            table_target_tokens: window / target,
        };
        let sized = Corpus::build(embedder, Pipeline::Sized(options)).await;
        let s = measure(&sized, questions, &Ranking::default(), "dev", true, false);
        println!(
            "    chunks of window/{target}, overlap window/{overlap}: {} chunks, {}",
            sized.texts.len(),
            s.line()
        );
    }
    for weight in [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5] {
        for rare_share in [0.01, 0.02, 0.05, 0.1] {
            let ranking = Ranking::DenseFirst(Evidence {
                weight,
                rare_share,
                ..Evidence::default()
            });
            let s = measure(corpus, questions, &ranking, "dev", true, false);
            println!(
                "    weight {weight:<5} rare_share {rare_share:<5} {}",
                s.line()
            );
        }
    }
    // Calibration: raw scores (an identity-invertible logistic) against
    // whether the top hit answered, fitted by a grid.
    let raw_ranking = Ranking::DenseFirst(Evidence {
        calibration: Calibration {
            midpoint: 0.0,
            slope: 1.0,
        },
        ..Evidence::default()
    });
    let mut points = Vec::new();
    for scoped in [true, false] {
        let s = measure(corpus, questions, &raw_ranking, "dev", scoped, false);
        points.extend(
            s.tops
                .iter()
                .map(|(c, right)| (-(1.0 / c - 1.0).ln(), *right)),
        );
    }
    let mut best = (f64::MAX, 0.0, 0.0);
    for m in 0..=80 {
        let midpoint = m as f32 * 0.01 + 0.1;
        for slope in [4.0f32, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 25.0] {
            let c = Calibration { midpoint, slope };
            let loss: f64 = points
                .iter()
                .map(|(raw, right)| {
                    let p = f64::from(c.confidence(*raw)).clamp(1e-6, 1.0 - 1e-6);
                    if *right { -p.ln() } else { -(1.0 - p).ln() }
                })
                .sum();
            if loss < best.0 {
                best = (loss, midpoint, slope);
            }
        }
    }
    println!(
        "    calibration fit on dev: midpoint {:.2} slope {} (log loss {:.1} over {} tops)",
        best.1,
        best.2,
        best.0,
        points.len()
    );
}

/// The confidence threshold that best separates right top answers from
/// wrong ones on dev (a wrong answer read out and a right one withheld
/// count the same).
fn threshold(dev: &Scores) -> f32 {
    let mut best = (0usize, 0.0f32);
    for t in 0..=100 {
        let t = t as f32 / 100.0;
        let (correct, _, _) = decide(dev, t);
        if correct > best.0 {
            best = (correct, t);
        }
    }
    let (right, answered, answered_right) = decide(dev, best.1);
    println!(
        "  threshold on dev (new, scoped): {:.2} decides {right}/{} tops right; answers {answered}, {answered_right} of them right",
        best.1,
        dev.tops.len()
    );
    best.1
}

/// With threshold `t`: how many tops are decided right (answered and right,
/// or withheld and wrong), how many are answered, how many of those right.
fn decide(scores: &Scores, t: f32) -> (usize, usize, usize) {
    let right = scores
        .tops
        .iter()
        .filter(|(score, ok)| (*score >= t) == *ok)
        .count();
    let answered = scores.tops.iter().filter(|(s, _)| *s >= t).count();
    let answered_right = scores.tops.iter().filter(|(s, ok)| *s >= t && *ok).count();
    (right, answered, answered_right)
}

/// The offline model directories to measure.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for var in ["SWITCHBOARD_EVAL_MODEL_DIRS", MODEL_DIR_ENV] {
        if let Some(value) = std::env::var_os(var) {
            dirs.extend(std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()));
        }
    }
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.switchboard/models");
    if let Ok(entries) = std::fs::read_dir(&home) {
        let mut found: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        found.sort();
        dirs.extend(found);
    }
    let mut seen = HashSet::new();
    dirs.retain(|d| d.join("model.safetensors").is_file() && seen.insert(d.canonicalize().ok()));
    dirs
}

fn model_dir_or_skip() -> Option<Vec<PathBuf>> {
    let dirs = model_dirs();
    if dirs.is_empty() {
        let wanted = std::env::var_os(MODEL_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../.switchboard/models/all-MiniLM-L6-v2")
            });
        switchboard::engine::knowledge::embed::skip_without_model(&wanted);
        return None;
    }
    Some(dirs)
}

fn get<'a>(
    scores: &'a BTreeMap<(String, String, bool), Scores>,
    mode: &str,
    split: &str,
) -> &'a Scores {
    &scores[&(mode.to_owned(), split.to_owned(), true)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_quality_with_the_offline_models() {
    let Some(dirs) = model_dir_or_skip() else {
        return;
    };
    for dir in dirs {
        let embedder: Arc<dyn Embedder> = offline_embedder(Some(&dir), None);
        assert!(
            !is_lexical_fallback(embedder.as_ref()),
            "model in {} not loaded",
            dir.display()
        );
        let scores = evaluate(embedder.as_ref()).await;
        let new = get(&scores, "new", "test");
        let rrf = get(&scores, "rrf (before)", "test");
        assert!(
            new.hit3() >= MODEL_HIT3_FLOOR,
            "{}: hit@3 {:.3} < {MODEL_HIT3_FLOOR} on the test split",
            embedder.name(),
            new.hit3()
        );
        assert!(
            new.mrr() >= rrf.mrr(),
            "{}: the new ranking (MRR@5 {:.3}) is worse than the fusion it replaces ({:.3})",
            embedder.name(),
            new.mrr(),
            rrf.mrr()
        );
    }
}

#[tokio::test]
async fn the_lexical_fallback_is_never_worse_than_bm25_alone() {
    let embedder = HashingEmbedder::default();
    let scores = evaluate(&embedder).await;
    for split in ["dev", "test"] {
        let new = get(&scores, "new", split);
        let bm25 = get(&scores, "bm25", split);
        assert!(
            new.hit3() >= bm25.hit3() && new.hit1() >= bm25.hit1(),
            "{split}: the fallback ({}) is worse than BM25 alone ({})",
            new.line(),
            bm25.line()
        );
    }
}
