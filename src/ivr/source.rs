//! Reading flow files: which files a directory holds, their text, and YAML errors placed at
//! a file and line. The only part of loading that touches the file system.

use std::path::{Path, PathBuf};

use super::error::{CheckError, Problem};

/// The file that holds the entry rules; every other `*.yaml` is a flow.
pub const ENTRY_FILE: &str = "entry.yaml";

/// A flow or entry file's text, with where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// The `.yaml`/`.yml` files of a directory (not recursive), sorted.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let io = |e: std::io::Error| CheckError {
        file: dir.to_owned(),
        line: 0,
        node: None,
        problem: Problem::Io(e.to_string()),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads files; unreadable ones become problems.
pub fn read_sources(files: &[PathBuf]) -> (Vec<Source>, Vec<CheckError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push(Source {
                path: path.clone(),
                text,
            }),
            Err(e) => errors.push(CheckError {
                file: path.clone(),
                line: 0,
                node: None,
                problem: Problem::Io(e.to_string()),
            }),
        }
    }
    (sources, errors)
}

pub(super) fn is_entry(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()) == Some(ENTRY_FILE)
}

pub(super) fn flow_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How flow and entry files are read. Unquoted digits with a leading zero (`07:`) stay
/// text instead of turning into a number, so that the only complaint about them is
/// `yaml_keys`' clear "quote it" rather than a type error about `7.0`.
pub(super) fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.leading_zero_numbers_as_strings = true;
    options
}

pub(super) fn yaml_error(path: &Path, e: serde_saphyr::Error) -> CheckError {
    let line = e.location().map(|l| l.line()).unwrap_or(0);
    let shown = path.display().to_string();
    CheckError {
        file: path.to_owned(),
        line,
        node: None,
        problem: Problem::Yaml(e.to_string().replace("<input>", &shown)),
    }
}
