//! Streaming the inputs into the zip: each byte is read once, hashed once (SHA-256 on the reading
//! thread), and deflated in 1 MiB chunks on every core at the same time, then written in order.
//!
//! - [`read`]: reading one input through the handle opened when the list was resolved, with the
//!   checks that it did not change meanwhile.
//! - [`deflate`]: one chunk as part of a longer raw deflate stream; the bytes depend only on the
//!   chunk and the 32 KiB before it, never on which worker ran it or what it ran before.
//! - [`pipeline`]: the reader, the compressing workers and the in-order writer.
//! - [`sink`]: the zip file being written, its headers and its running SHA-256.

mod deflate;
mod pipeline;
mod read;
mod sink;

pub(crate) use pipeline::write_inputs;
pub(crate) use read::{hash_inputs, read_again};
pub(crate) use sink::ZipSink;

/// The SHA-256 and size of one input, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDigest {
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// The finished zip's hash and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipDigest {
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// An entry made in memory after the files (the summary and the manifest).
pub(crate) struct MemoryEntry {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
}
