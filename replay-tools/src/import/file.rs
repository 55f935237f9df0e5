//! Reading an export file: one event per line, each line at most [`MAX_LINE_BYTES`], and
//! a running digest of the bytes read, so a second pass can prove it read the same file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ledger_core::{chain_hash, Hash};
use ledger_store::export::ExportedEvent;

use crate::ReplayError;

/// Longest line taken. An event carries at most a 64 KiB request or webhook body; with
/// JSON escaping (at most six bytes per byte) and its envelope it stays far below this.
pub const MAX_LINE_BYTES: u64 = 1024 * 1024;

/// An export file being read line by line.
pub(crate) struct EventLines {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    bytes: u64,
    buf: Vec<u8>,
    digest: Hash,
}

impl EventLines {
    pub(crate) fn open(path: &Path) -> Result<EventLines, ReplayError> {
        let file =
            File::open(path).map_err(ReplayError::io(format!("opening {}", path.display())))?;
        Ok(EventLines {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line: 0,
            bytes: 0,
            buf: Vec::new(),
            digest: Hash::ZERO,
        })
    }

    /// A chain of SHA-256 over the lines read so far (equal digests: equal bytes).
    pub(crate) fn digest(&self) -> Hash {
        self.digest
    }

    /// A `BadLine` error naming the line read last.
    pub(crate) fn bad(&self, reason: impl Into<String>) -> ReplayError {
        ReplayError::BadLine {
            path: self.path.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// The next event; `None` at the end. Empty lines are skipped.
    pub(crate) fn next_event(&mut self) -> Result<Option<ExportedEvent>, ReplayError> {
        loop {
            self.buf.clear();
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(ReplayError::io(format!("reading {}", self.path.display())))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes += read as u64;
            self.digest = chain_hash(&self.digest, &self.buf);
            if self.buf.last() != Some(&b'\n') && read as u64 > MAX_LINE_BYTES {
                return Err(self.bad(format!("longer than {MAX_LINE_BYTES} bytes")));
            }
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let line: ExportedEvent = serde_json::from_slice(text)
                .map_err(|e| self.bad(format!("not an exported event: {e}")))?;
            line.dedup_key().map_err(|e| self.bad(e.to_string()))?;
            return Ok(Some(line));
        }
    }

    /// Bytes read so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("replay-file-{}-{name}.jsonl", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_all(path: &Path) -> Result<(usize, Hash), ReplayError> {
        let mut lines = EventLines::open(path)?;
        let mut n = 0;
        while lines.next_event()?.is_some() {
            n += 1;
        }
        Ok((n, lines.digest()))
    }

    #[test]
    fn lines_are_bounded_parsed_and_digested() {
        let empty = file("empty", b"\n\n");
        assert_eq!(read_all(&empty).unwrap().0, 0);

        let long = file("long", &vec![b' '; MAX_LINE_BYTES as usize + 1]);
        let err = read_all(&long).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");

        let bad = file("bad", b"\n{\"global_position\": 1}\n");
        let err = read_all(&bad).unwrap_err();
        assert!(
            err.to_string().contains("line 2: not an exported event"),
            "{err}"
        );

        // One changed byte, one different digest, even where the JSON would not notice.
        let (a, b) = (file("a", b"\n \n"), file("b", b"\n  \n"));
        assert_ne!(read_all(&a).unwrap().1, read_all(&b).unwrap().1);
        for path in [empty, long, bad, a, b] {
            let _ = std::fs::remove_file(path);
        }
    }
}
