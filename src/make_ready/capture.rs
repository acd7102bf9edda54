//! A step's output, bounded: the first and last 64 KiB are kept, the bytes between are only
//! counted. A step printing gigabytes (`yes` until its timeout) costs 128 KiB of memory, not its
//! output's size, and the report says how much was left out.

use std::collections::VecDeque;
use std::io::Read;

/// Bytes kept from the start and from the end of a step's output.
pub(crate) const HEAD_MAX: usize = 64 * 1024;
pub(crate) const TAIL_MAX: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub(crate) struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Capture {
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = HEAD_MAX - self.head.len();
        if room > 0 {
            let (first, rest) = bytes.split_at(room.min(bytes.len()));
            self.head.extend_from_slice(first);
            bytes = rest;
        }
        if bytes.len() >= TAIL_MAX {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - TAIL_MAX..]);
        } else {
            let excess = (self.tail.len() + bytes.len()).saturating_sub(TAIL_MAX);
            self.tail.drain(..excess);
            self.tail.extend(bytes);
        }
    }

    /// Every byte the step wrote.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Bytes counted but not kept.
    pub(crate) fn elided(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// Head, a line saying how much was elided (when anything was), tail; invalid UTF-8 replaced.
    pub(crate) fn render(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.elided() > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("[… {} bytes of output elided …]\n", self.elided()));
        }
        let (front, back) = self.tail.as_slices();
        let mut tail = Vec::with_capacity(self.tail.len());
        tail.extend_from_slice(front);
        tail.extend_from_slice(back);
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }

    /// Reads `source` to its end into a bounded capture (the reader thread's body).
    pub(crate) fn read_all(source: &mut dyn Read, into: &std::sync::Mutex<Capture>) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match source.read(&mut buffer) {
                Ok(0) => return,
                Ok(count) => into.lock().unwrap_or_else(|poison| poison.into_inner()).push(&buffer[..count]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut capture = Capture::default();
        capture.push(b"hello\n");
        capture.push(b"world\n");
        assert_eq!((capture.render().as_str(), capture.total(), capture.elided()), ("hello\nworld\n", 12, 0));
    }

    #[test]
    fn large_output_keeps_head_and_tail_and_counts_the_rest() {
        let mut capture = Capture::default();
        let line = b"0123456789abcde\n";
        for _ in 0..100_000 {
            capture.push(line);
        }
        // One huge write lands in the tail in one piece too.
        capture.push(&vec![b'z'; 3 * TAIL_MAX]);
        capture.push(b"last\n");
        assert_eq!(capture.total(), 1_600_000 + 3 * TAIL_MAX as u64 + 5);
        assert_eq!(capture.elided(), capture.total() - (HEAD_MAX + TAIL_MAX) as u64);
        let text = capture.render();
        assert!(text.starts_with("0123456789abcde\n0123"));
        assert!(text.contains(&format!("\n[… {} bytes of output elided …]\nzzz", capture.elided())));
        assert!(text.ends_with("zzzlast\n"));
        assert!(text.len() < HEAD_MAX + TAIL_MAX + 100);
    }
}
