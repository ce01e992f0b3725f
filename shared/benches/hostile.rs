//! Worst-case cost of reading hostile documents (issue 17), per document
//! type: CPU time and peak memory of extract → chunk for 1 MB inputs shaped
//! to hurt (one endless word, deep nesting, an unbalanced quote, a zip bomb)
//! and for inputs at the 25 MB upload limit. Run in release:
//!
//!   cargo bench -p switchboard --bench hostile
//!
//! Each case runs in a child process of its own, so its peak resident
//! memory (VmHWM) is its own; the table is printed as Markdown.

#[path = "../tests/support/pdf.rs"]
mod pdf;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::engine::knowledge::{chunk_document, extract};

/// The allocator every shipped binary uses (see `switchboard-functions`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MB: usize = 1024 * 1024;
/// The stack the ingest worker gives a parse thread (`PARSE_STACK_BYTES`).
const STACK_BYTES: usize = 16 * MB;
/// A case still running after this long is stopped and reported so.
const CASE_LIMIT: Duration = Duration::from_secs(120);
const LIMIT: usize = 25 * MB;
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// (name, media type, input builder)
type Case = (&'static str, &'static str, fn() -> Vec<u8>);

const CASES: &[Case] = &[
    ("text: 1 MB one word", "text/plain", || vec![b'x'; MB]),
    ("text: 25 MB one word", "text/plain", || vec![b'x'; LIMIT]),
    ("text: 25 MB of newlines", "text/plain", || {
        vec![b'\n'; LIMIT]
    }),
    ("CSV: 1 MB unbalanced quote", "text/csv", || {
        unbalanced_csv(MB)
    }),
    ("CSV: 25 MB unbalanced quote", "text/csv", || {
        unbalanced_csv(LIMIT)
    }),
    ("CSV: 1 MB, 100,000-column header", "text/csv", wide_csv),
    ("Markdown: 1 MB one word", "text/markdown", || {
        vec![b'x'; MB]
    }),
    ("Markdown: quotes 100,000 deep", "text/markdown", || {
        nested("> ", "", 100_000)
    }),
    ("Markdown: lists 100,000 deep", "text/markdown", || {
        nested("- ", "", 100_000)
    }),
    ("Markdown: 1 MB of `*[`", "text/markdown", || {
        b"*[".repeat(MB / 2)
    }),
    ("Markdown: 25 MB of `*[`", "text/markdown", || {
        b"*[".repeat(LIMIT / 2)
    }),
    ("HTML: 1 MB one word", "text/html", || vec![b'x'; MB]),
    ("HTML: divs 100,000 deep", "text/html", || {
        nested("<div>", "</div>", 100_000)
    }),
    ("HTML: tables 50,000 deep", "text/html", || {
        nested("<table><tr><td>", "</td></tr></table>", 50_000)
    }),
    ("HTML: 25 MB of <b>", "text/html", || {
        b"<b>".repeat(LIMIT / 3)
    }),
    ("DOCX: 2 KB holding a 1 MB word", DOCX, || docx(MB)),
    ("DOCX: 52 KB inflating to a 50 MB word", DOCX, || {
        docx(50 * MB)
    }),
    ("DOCX: 1 MB inflating to 1 GB", DOCX, || docx(1024 * MB)),
    ("DOCX: tables 100,000 deep", DOCX, deep_docx),
    ("PDF: 1 MB malformed", "application/pdf", || {
        [&b"%PDF-1.7\n1 0 obj << /Kids [1 0 R] "[..], &vec![b'['; MB]].concat()
    }),
    ("PDF: 2,000 pages", "application/pdf", || {
        let page = vec!["Delivery within ten miles of the shop.".to_owned()];
        pdf::pdf_from_pages(&vec![page; 2_000])
    }),
];

fn nested(open: &str, close: &str, depth: usize) -> Vec<u8> {
    format!("{}deep text{}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

fn unbalanced_csv(size: usize) -> Vec<u8> {
    let mut csv = b"name,notes\nann,\"never closed ".to_vec();
    while csv.len() < size {
        csv.extend_from_slice(b"more words, and commas\n");
    }
    csv
}

fn wide_csv() -> Vec<u8> {
    let mut csv = (0..100_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    while csv.len() < MB {
        csv.push_str("\nv,w");
    }
    csv.into_bytes()
}

/// A DOCX whose one text run is `word_bytes` of `a`.
fn docx(word_bytes: usize) -> Vec<u8> {
    zip_document(|w| {
        w.write_all(b"<w:document><w:body><w:p><w:r><w:t>")?;
        let chunk = vec![b'a'; MB];
        let mut left = word_bytes;
        while left > 0 {
            let n = left.min(MB);
            w.write_all(&chunk[..n])?;
            left -= n;
        }
        w.write_all(b"</w:t></w:r></w:p></w:body></w:document>")
    })
}

fn deep_docx() -> Vec<u8> {
    zip_document(|w| {
        w.write_all(&nested(
            "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>",
            "</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
            100_000,
        ))
    })
}

fn zip_document(body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    zip.start_file("word/document.xml", options)
        .expect("zip entry");
    body(&mut zip).expect("zip write");
    zip.finish().expect("zip");
    out.into_inner()
}

/// `VmHWM` of this process, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs one case in this process and prints its row.
fn run(index: usize) {
    let (name, mime, build) = CASES[index];
    let input = build();
    let rss_before = peak_rss_mb();
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    // The same stack the ingest worker gives a parse thread.
    let outcome = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || match extract(&input, mime, None) {
            Ok(doc) => format!("ready, {} chunks", chunk_document(&doc).len()),
            Err(e) => format!("failed: {e}"),
        })
        .expect("thread")
        .join()
        .unwrap_or_else(|_| "panicked".into());
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "| {name} | {:.2} | {wall:.2} | {:.0} (input built: {rss_before:.0}) | {outcome} |",
        cpu,
        peak_rss_mb()
    );
}

fn main() {
    if let Some(index) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        return run(index);
    }
    // `HOSTILE_BENCH_ONLY=a|b` runs the cases whose names contain a or b;
    // `HOSTILE_BENCH_LIMIT_S` changes the per-case limit.
    let only = std::env::var("HOSTILE_BENCH_ONLY").unwrap_or_default();
    let limit = std::env::var("HOSTILE_BENCH_LIMIT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(CASE_LIMIT, Duration::from_secs);
    println!("| input | CPU s | wall s | peak RSS MB | outcome |");
    println!("|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("own path");
    for (index, case) in CASES.iter().enumerate() {
        if !only.split('|').any(|part| case.0.contains(part)) {
            continue;
        }
        let mut child = Command::new(&exe)
            .arg(index.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run case");
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut row = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut row);
        }
        match status {
            _ if !row.trim().is_empty() => print!("{row}"),
            Some(status) => println!("| {} | - | - | - | crashed: {status} |", case.0),
            None => println!(
                "| {} | > {} | - | - | stopped after {} s |",
                case.0,
                limit.as_secs(),
                limit.as_secs()
            ),
        }
    }
}
