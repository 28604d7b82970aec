//! Docs state what the code does: the journal and layout versions the docs and the Python
//! reader name are the crate's constants, and no page quotes a line count (which drifts).

use std::fs;
use std::path::{Path, PathBuf};

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

#[test]
fn the_journal_version_in_the_docs_is_the_one_written() {
    let durability = read("docs/durability.md");
    let header =
        format!("format version\n  `u32` = {}, `capvault::JOURNAL_VERSION`", capvault::JOURNAL_VERSION);
    assert!(
        durability.contains(&header),
        "docs/durability.md does not say the journal is version {}",
        capvault::JOURNAL_VERSION
    );
}

#[test]
fn the_layout_version_in_the_docs_and_the_python_reader_is_the_one_written() {
    let version = capvault::LAYOUT_VERSION;
    let layout = read("docs/shm-layout.md");
    assert!(layout.starts_with(&format!("# Shared-memory layout (version {version})")));
    assert!(layout.contains(&format!("| `{version}` (version {version} ")), "the header table's version");
    assert!(read("examples/read_shm.py").contains(&format!("\nLAYOUT_VERSION = {version}\n")));
}

#[test]
fn no_page_quotes_a_line_count() {
    for page in pages() {
        let text = fs::read_to_string(&page).unwrap();
        for (number, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2) {
                let count = pair[0].trim_start_matches(['(', '~']).replace(',', "");
                let unit = pair[1].trim_end_matches([',', '.', ')', ';', ':']);
                assert!(
                    !(count.parse::<u32>().is_ok() && unit == "lines"),
                    "{}:{}: a line count ({line}) drifts: say what the file does instead",
                    page.display(),
                    number + 1
                );
            }
        }
    }
}
