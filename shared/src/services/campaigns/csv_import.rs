//! Reading a contact list from a CSV file: the `phone` column is required;
//! `name` and `email` are the contact's; every other column becomes a
//! variable. A UTF-8 byte-order mark, quoted fields (with commas, quotes and
//! line breaks inside), `;` as the separator (what spreadsheets in many
//! locales write) and CRLF line ends are all accepted. Rows are numbered as
//! a spreadsheet shows them: the header is row 1.

use serde_json::{Map, Value};

use super::contacts::MAX_IMPORT;
use crate::domain::campaign::contact::ContactInput;
use crate::error::{Error, Result};

/// Most bytes a CSV upload may have.
pub const MAX_CSV_BYTES: usize = 8 * 1024 * 1024;

/// `;` when the header line has more of them than commas, else `,`.
fn separator(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let count = |c: char| header.chars().filter(|x| *x == c).count();
    if count(';') > count(',') { b';' } else { b',' }
}

/// Parses a CSV file into numbered rows (row number, contact or why not).
/// 422 when there is no `phone` column, 413 over [`MAX_IMPORT`] rows.
pub fn parse(bytes: &[u8]) -> Result<Vec<(usize, std::result::Result<ContactInput, String>)>> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(Error::TooLarge(format!(
            "the file is over the {} MB limit",
            MAX_CSV_BYTES / (1024 * 1024)
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::field("file", "must be a UTF-8 text CSV file"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(text))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::field("file", format!("the header row is not CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let Some(phone_at) = column("phone") else {
        return Err(Error::field(
            "file",
            "the CSV needs a `phone` column (header row first)",
        ));
    };
    let (name_at, email_at) = (column("name"), column("email"));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        if rows.len() >= MAX_IMPORT {
            return Err(Error::TooLarge(format!(
                "at most {MAX_IMPORT} contacts per file"
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push((row, Err(format!("not a CSV row: {e}"))));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |at: Option<usize>| {
            at.and_then(|a| record.get(a))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut variables = Map::new();
        for (at, header) in headers.iter().enumerate() {
            if at == phone_at || Some(at) == name_at || Some(at) == email_at {
                continue;
            }
            if let Some(v) = cell(Some(at))
                && !header.is_empty()
            {
                variables.insert(header.clone(), Value::String(v));
            }
        }
        let parsed = match cell(Some(phone_at)) {
            None => Err("phone: is required".to_owned()),
            Some(phone) => {
                ContactInput::from_parts(&phone, cell(name_at), cell(email_at), variables)
            }
        };
        rows.push((row, parsed));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(rows: &[(usize, std::result::Result<ContactInput, String>)]) -> Vec<(usize, String)> {
        rows.iter()
            .filter_map(|(n, r)| r.as_ref().ok().map(|c| (*n, c.phone.as_str().to_owned())))
            .collect()
    }

    #[test]
    fn bom_quotes_semicolons_and_crlf_are_read() {
        let file = "\u{feff}Phone;Name;Email;Plan\r\n\
            +1 415 555 0101;\"Doe; Jane\";jane@example.com;gold\r\n\
            +14155550102;\"Said \"\"hi\"\"\nthen left\";;\r\n\
            555;Bad;;\r\n\
            ;NoPhone;;\r\n\
            +14155550103;Ann;not-an-email;\r\n";
        let rows = parse(file.as_bytes()).unwrap();
        assert_eq!(
            ok(&rows),
            [
                (2, "+14155550101".to_owned()),
                (3, "+14155550102".to_owned())
            ]
        );
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(first.name.as_deref(), Some("Doe; Jane"));
        assert_eq!(
            first.variables.get("plan"),
            Some(&Value::String("gold".into()))
        );
        let second = rows[1].1.as_ref().unwrap();
        assert_eq!(second.name.as_deref(), Some("Said \"hi\"\nthen left"));
        let errors: Vec<(usize, &str)> = rows
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|e| (*n, e.split(':').next().unwrap())))
            .collect();
        // The quoted line break makes row 3 span two lines; numbering counts rows.
        assert_eq!(errors, [(4, "phone"), (5, "phone"), (6, "email")]);
    }

    #[test]
    fn a_file_without_phones_or_too_long_is_refused() {
        assert!(matches!(
            parse(b"name,email\nAnn,a@b.co\n"),
            Err(Error::Validation(_))
        ));
        let mut big = String::from("phone\n");
        for i in 0..=MAX_IMPORT {
            big.push_str(&format!("+1415{i:07}\n"));
        }
        assert!(matches!(parse(big.as_bytes()), Err(Error::TooLarge(_))));
        assert!(matches!(
            parse(&[0xff, 0xfe, 0x00]),
            Err(Error::Validation(_))
        ));
    }
}
