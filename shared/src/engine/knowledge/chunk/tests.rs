use super::*;
use crate::engine::knowledge::extract::{Block, DocumentFormat};

fn doc(blocks: Vec<Block>) -> ExtractedDocument {
    ExtractedDocument {
        format: DocumentFormat::Markdown,
        title: None,
        blocks,
    }
}

fn sentence(i: usize) -> String {
    format!("Sentence number {i} talks about the bakery and its seasonal bread.")
}

#[test]
fn chunks_know_their_heading_path_and_never_span_sections() {
    let document = doc(vec![
        Block::new(BlockKind::Heading(1), "Acme Bakery"),
        Block::new(BlockKind::Paragraph, "We bake bread."),
        Block::new(BlockKind::Heading(2), "Hours"),
        Block::new(BlockKind::ListItem, "Mon-Fri 7:00-18:00"),
        Block::new(BlockKind::Heading(2), "Prices"),
        Block::new(BlockKind::Paragraph, "A loaf is $4."),
        Block::new(BlockKind::Heading(3), "Cakes"),
        Block::new(BlockKind::Paragraph, "Cakes from $20."),
    ]);
    let chunks = chunk_document(&document);
    let summary: Vec<(usize, &str, Option<&str>)> = chunks
        .iter()
        .map(|c| (c.index, c.text.as_str(), c.heading.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "# Acme Bakery\nWe bake bread.", Some("Acme Bakery")),
            (
                1,
                "# Acme Bakery > Hours\nMon-Fri 7:00-18:00",
                Some("Acme Bakery > Hours")
            ),
            (
                2,
                "# Acme Bakery > Prices\nA loaf is $4.",
                Some("Acme Bakery > Prices")
            ),
            (
                3,
                "# Acme Bakery > Prices > Cakes\nCakes from $20.",
                Some("Acme Bakery > Prices > Cakes")
            ),
        ]
    );
    // Offsets point into the document text.
    let text: Vec<char> = document.text().chars().collect();
    for chunk in &chunks {
        let body: String = text[chunk.char_start..chunk.char_end].iter().collect();
        assert!(chunk.text.ends_with(&body), "{body:?} in {:?}", chunk.text);
    }
}

#[test]
fn long_sections_split_at_sentences_with_overlap() {
    let paragraph = (0..120).map(sentence).collect::<Vec<_>>().join(" ");
    let document = doc(vec![
        Block::new(BlockKind::Heading(1), "Story"),
        Block::new(BlockKind::Paragraph, paragraph),
    ]);
    let options = ChunkOptions::default();
    let chunks = chunk_document(&document);
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        assert!(
            chunk.tokens <= options.max_tokens + 10,
            "chunk {i} has {} tokens",
            chunk.tokens
        );
        assert!(
            chunk.text.starts_with("# Story\nSentence number"),
            "{}",
            &chunk.text[..40]
        );
        assert!(chunk.text.ends_with('.'), "chunk {i} ends mid-sentence");
        if i + 1 < chunks.len() {
            assert!(chunk.tokens >= 250, "chunk {i} is small: {}", chunk.tokens);
            // The next chunk starts with this one's last sentence(s).
            let last_sentence = chunk.text.rsplit(". ").next().unwrap();
            assert!(
                chunks[i + 1].text.contains(last_sentence),
                "no overlap after chunk {i}"
            );
            assert!(chunks[i + 1].char_start < chunk.char_end);
        }
    }
    // Every sentence is in some chunk.
    for i in 0..120 {
        assert!(
            chunks.iter().any(|c| c.text.contains(&sentence(i))),
            "sentence {i} lost"
        );
    }
}

#[test]
fn table_rows_pack_without_overlap() {
    let rows: Vec<Block> = (0..200)
        .map(|i| {
            Block::table_row(
                vec!["sku".into(), "price".into()],
                vec![format!("item-{i}"), format!("${i}")],
            )
        })
        .collect();
    let chunks = chunk_document(&doc(rows));
    assert!(chunks.len() > 1);
    let total: usize = chunks.iter().map(|c| c.text.matches("sku: ").count()).sum();
    assert_eq!(total, 200, "rows are neither lost nor repeated");
    assert!(
        chunks[0]
            .text
            .starts_with("sku: item-0; price: $0\nsku: item-1")
    );
    assert!(
        chunks.iter().all(|c| c.tokens <= 300),
        "table chunks keep to the table target"
    );
}

#[test]
fn an_endless_sentence_is_cut_by_words() {
    let words = vec!["word"; 2000].join(" ");
    let chunks = chunk_document(&doc(vec![Block::new(BlockKind::Paragraph, words)]));
    assert!(chunks.len() >= 4);
    assert!(
        chunks
            .iter()
            .all(|c| c.tokens <= 450 && !c.text.starts_with(' ') && !c.text.ends_with(' '))
    );
    let words_kept: usize = chunks
        .iter()
        .map(|c| c.text.split_whitespace().count())
        .sum();
    assert!(words_kept >= 2000);
}

#[test]
fn a_heading_or_title_of_thousands_of_words_is_cut_to_leave_the_body_room() {
    let huge = (0..3_000)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut document = doc(vec![
        Block::new(BlockKind::Heading(1), &huge),
        Block::new(
            BlockKind::Paragraph,
            (0..200).map(sentence).collect::<Vec<_>>().join(" "),
        ),
    ]);
    document.title = Some(huge.clone());
    let options = ChunkOptions::default();
    let chunks = chunk_document(&document);
    assert!(chunks.len() > 1);
    for chunk in &chunks {
        let heading = chunk.heading.as_deref().expect("a heading");
        assert!(huge.starts_with(heading) && heading.len() < huge.len());
        assert!(estimate_tokens(heading) <= options.max_tokens / 4);
        let title = chunk.title.as_deref().expect("a title");
        assert!(estimate_tokens(title) <= options.max_tokens / 4);
        assert!(
            chunk.tokens <= options.max_tokens,
            "chunk of {} tokens",
            chunk.tokens
        );
        assert!(estimate_tokens(&chunk.embedding_text()) <= options.max_tokens + 2);
    }
}
