//! Knowledge engine benchmarks; they print figures (run in release):
//!
//!   cargo bench -p switchboard --bench knowledge
//!
//! 1. Query latency (p50/p99) of `KnowledgeIndex::search` over 50,000 chunks
//!    of ~200 words with 384-dimension vectors, BM25 + dense + fusion,
//!    unscoped and scoped to half the documents.
//! 2. Ingest of a generated 100-page PDF with the offline embedder: extract →
//!    chunk → embed → index (the model from SWITCHBOARD_EMBEDDING_MODEL_DIR or
//!    .switchboard/models/all-MiniLM-L6-v2; the fallback when absent).
//!
//! `KNOWLEDGE_BENCH_CHUNKS` changes the corpus size;
//! `KNOWLEDGE_BENCH_WRITE_PDF=FILE` also writes the generated PDF there (to
//! time the same ingest through the API).

#[path = "../tests/support/pdf.rs"]
mod pdf;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchboard::engine::knowledge::{
    Embedder, Fusion, IndexedChunk, KnowledgeIndex, MODEL_DIR_ENV, Ranking, chunk_for_model,
    decode_vectors, encode_vectors, extract, offline_embedder, title_from_name,
};

/// The allocator every shipped binary uses (see `switchboard-functions`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DIMS: usize = 384;
const DOCS: usize = 500;

fn main() {
    let chunks: usize = std::env::var("KNOWLEDGE_BENCH_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    query_latency(chunks);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = model_dir();
    let embedder = offline_embedder(dir.as_deref(), None);
    runtime.block_on(pdf_ingest(100, embedder.as_ref()));
    #[cfg(feature = "local-embedder")]
    if let Some(dir) = dir
        && let Ok(model) = switchboard::engine::knowledge::OfflineEmbedder::load(&dir)
    {
        let model = model.with_max_tokens(128);
        println!("same PDF, the model reading at most 128 tokens per chunk:");
        runtime.block_on(pdf_ingest(100, &model));
    }
}

/// A vocabulary with a Zipf-like draw, so postings lists have realistic
/// lengths (a few very common words, a long tail).
struct Words {
    vocabulary: Vec<String>,
}

impl Words {
    fn new(rng: &mut StdRng) -> Words {
        let syllables = [
            "ka", "lo", "mi", "ren", "tas", "vo", "pel", "dun", "shi", "ar", "bex", "qui", "zor",
            "fen", "ul",
        ];
        let vocabulary = (0..20_000)
            .map(|_| {
                let n = rng.gen_range(1..=4);
                (0..n)
                    .map(|_| syllables[rng.gen_range(0..syllables.len())])
                    .collect::<String>()
            })
            .collect();
        Words { vocabulary }
    }

    fn draw(&self, rng: &mut StdRng) -> &str {
        // Inverse of a power law over ranks.
        let u: f64 = rng.r#gen();
        let rank = ((self.vocabulary.len() as f64).powf(u) - 1.0) as usize;
        &self.vocabulary[rank.min(self.vocabulary.len() - 1)]
    }

    fn text(&self, rng: &mut StdRng, words: usize) -> String {
        (0..words)
            .map(|_| self.draw(rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn unit_vector(rng: &mut StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIMS).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn query_latency(total: usize) {
    let mut rng = StdRng::seed_from_u64(7);
    let words = Words::new(&mut rng);
    let per_doc = total.div_ceil(DOCS);
    let started = Instant::now();
    let mut index = KnowledgeIndex::new(DIMS);
    let mut blob_bytes = 0usize;
    let mut decode_time = Duration::ZERO;
    for d in 0..DOCS {
        let chunks: Vec<IndexedChunk> = (0..per_doc)
            .map(|c| IndexedChunk {
                chunk_id: format!("doc{d}-chunk{c}"),
                text: words.text(&mut rng, 200),
                vector: unit_vector(&mut rng),
            })
            .collect();
        // The stored form, read back as a warm function would.
        let vectors: Vec<Vec<f32>> = chunks.iter().map(|c| c.vector.clone()).collect();
        let blob = encode_vectors(&vectors).expect("encode");
        blob_bytes += blob.len();
        let t = Instant::now();
        let decoded = decode_vectors(&blob).expect("decode");
        decode_time += t.elapsed();
        let chunks: Vec<IndexedChunk> = chunks
            .into_iter()
            .zip(decoded)
            .map(|(c, vector)| IndexedChunk { vector, ..c })
            .collect();
        index
            .add_document(&format!("doc{d}"), &chunks)
            .expect("add");
    }
    println!(
        "index: {} chunks in {} documents built in {:.1} s (incl. text generation); vector blobs {:.1} MB, decoded in {:.0} ms",
        index.len(),
        index.document_count(),
        started.elapsed().as_secs_f64(),
        blob_bytes as f64 / 1e6,
        ms(decode_time)
    );

    let queries: Vec<(String, Vec<f32>)> = (0..300)
        .map(|_| {
            let n = rng.gen_range(3..=8);
            (words.text(&mut rng, n), unit_vector(&mut rng))
        })
        .collect();
    let half: HashSet<String> = (0..DOCS / 2).map(|d| format!("doc{}", d * 2)).collect();
    let rankings = [
        ("dense-first (default)", Ranking::default()),
        ("former RRF", Ranking::Rrf(Fusion::default())),
    ];
    for ((label, scope), (ranking_label, ranking)) in
        [("all documents", None), ("half the documents", Some(&half))]
            .into_iter()
            .flat_map(|scope| rankings.iter().map(move |r| (scope, r)))
    {
        // Warm up, then measure.
        for (text, vector) in queries.iter().take(20) {
            std::hint::black_box(index.search_with(ranking, text, Some(vector), scope, 5));
        }
        let mut times: Vec<Duration> = queries
            .iter()
            .map(|(text, vector)| {
                let t = Instant::now();
                let hits = index.search_with(ranking, text, Some(vector), scope, 5);
                let elapsed = t.elapsed();
                assert_eq!(hits.len(), 5);
                elapsed
            })
            .collect();
        times.sort();
        println!(
            "query over {} chunks, scope {label}, {ranking_label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} queries, top_k 5)",
            index.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().expect("times")),
            times.len()
        );
    }
    let t = Instant::now();
    index.remove_document("doc1");
    println!(
        "remove one document (compaction): {:.0} ms",
        ms(t.elapsed())
    );
}

/// The model directory: the env var, else the workspace's default.
fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(MODEL_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.switchboard/models/all-MiniLM-L6-v2")
        });
    dir.is_dir().then_some(dir)
}

/// English-like pages: each a heading and paragraphs of varied sentences.
fn pdf_pages(pages: usize, rng: &mut StdRng) -> Vec<Vec<String>> {
    let subjects = [
        "The workshop",
        "Our team",
        "Every customer",
        "The warranty",
        "A service plan",
        "The shop",
        "Each bike",
        "The rental fleet",
    ];
    let verbs = [
        "covers", "includes", "requires", "offers", "checks", "replaces", "explains", "supports",
    ];
    let objects = [
        "brake pads and cables",
        "a full safety inspection",
        "wheel truing and tension",
        "battery health reports",
        "free collection within three miles",
        "the original receipt",
        "hydraulic brake bleeding",
        "seasonal maintenance",
    ];
    let tails = [
        "before the end of the month",
        "at no extra cost",
        "for the first two years",
        "when the bike is booked in",
        "on weekdays only",
        "unless the part is worn",
        "within five working days",
        "for members of the club",
    ];
    (0..pages)
        .map(|p| {
            let mut page = vec![format!("Section {} Service Notes", p + 1)];
            for _ in 0..5 {
                let sentences: Vec<String> = (0..6)
                    .map(|_| {
                        format!(
                            "{} {} {} {}, and the price is {} pounds.",
                            subjects[rng.gen_range(0..subjects.len())],
                            verbs[rng.gen_range(0..verbs.len())],
                            objects[rng.gen_range(0..objects.len())],
                            tails[rng.gen_range(0..tails.len())],
                            rng.gen_range(5..500)
                        )
                    })
                    .collect();
                page.push(sentences.join(" "));
            }
            page
        })
        .collect()
}

async fn pdf_ingest(pages: usize, embedder: &dyn Embedder) {
    let mut rng = StdRng::seed_from_u64(11);
    let pdf = pdf::pdf_from_pages(&pdf_pages(pages, &mut rng));
    if let Some(path) = std::env::var_os("KNOWLEDGE_BENCH_WRITE_PDF") {
        std::fs::write(&path, &pdf).expect("writing the PDF");
    }
    println!("embedder: {}", embedder.name());

    let started = Instant::now();
    let mut document = extract(&pdf, "application/pdf", Some("manual.pdf")).expect("extract");
    document.title = title_from_name("manual.pdf");
    let extracted = started.elapsed();
    // As the ingest worker cuts it: to the embedder's window, title embedded.
    let chunks = chunk_for_model(&document, embedder);
    let chunked = started.elapsed();
    let texts: Vec<String> = chunks.iter().map(|c| c.embedding_text()).collect();
    let cpu_before = cpu_seconds();
    let vectors = embedder.embed(&texts).await.expect("embed");
    let embedded = started.elapsed();
    let embed_cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let mut index = KnowledgeIndex::new(embedder.dimensions());
    let indexed: Vec<IndexedChunk> = chunks
        .iter()
        .zip(vectors)
        .map(|(c, vector)| IndexedChunk {
            chunk_id: format!("manual#{}", c.index),
            text: c.text.clone(),
            vector,
        })
        .collect();
    index.add_document("manual", &indexed).expect("index");
    let total = started.elapsed();
    let embed_time = (embedded - chunked).as_secs_f64();
    let words: usize = document
        .blocks
        .iter()
        .map(|b| b.text.split_whitespace().count())
        .sum();
    println!(
        "ingest {pages}-page PDF ({:.0} KB, {words} words, {} chunks, {} est. tokens): extract {:.2} s, chunk {:.3} s, embed {:.2} s ({:.1} chunks/s), total {:.2} s",
        pdf.len() as f64 / 1e3,
        chunks.len(),
        chunks.iter().map(|c| c.tokens).sum::<usize>(),
        extracted.as_secs_f64(),
        (chunked - extracted).as_secs_f64(),
        embed_time,
        chunks.len() as f64 / embed_time,
        total.as_secs_f64()
    );
    if let Some(cpu) = embed_cpu {
        // On a shared machine wall time includes waiting for the CPU; the
        // process's own CPU time over the cores it may use is the floor.
        println!(
            "  embed used {cpu:.1} s of CPU ({:.2} cores busy on average; {} available)",
            cpu / embed_time,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
}

/// This process's user + system CPU time (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
