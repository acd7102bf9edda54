//! Streaming the inputs into the zip: each byte is read once, hashed once (SHA-256 on the reading
//! thread), and deflated in 1 MiB chunks on every core at the same time, then written in order.
//!
//! Chunks of one entry are independent deflate runs joined into one stream (each ends with a sync
//! flush, the last with the final block), each primed with the 32 KiB before it as a dictionary —
//! the technique pigz uses — so the output is a standard deflate stream, the same whatever the
//! thread timing, and within a fraction of a percent of one compressor's size. At most
//! [`IN_FLIGHT`] chunks exist at once, so memory does not grow with file size.
//!
//! The local header of each entry is written with zero CRC and sizes and patched once the entry
//! is complete (no data descriptors, which some streaming readers refuse for stored entries); the
//! bytes of a finished entry are then read back from the page cache into the bundle's SHA-256,
//! so the sidecar hash costs no second pass over the inputs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, anyhow, bail};
use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

use super::inputs::Input;
use super::manifest::{CHUNK_SIZE, hex};
use super::zip_format::{
    DosTime, EntryRecord, Method, central_directory, local_header, local_header_patches, needs_zip64,
};
use crate::progress::Progress;
use crate::sanitize::display_path;

/// Deflate's window: how much of the previous chunk primes the next one.
const WINDOW: usize = 32 * 1024;
/// Chunks read but not yet written, across all threads (each ≤ 1 MiB in and ~1 MiB out).
const IN_FLIGHT: usize = 8;

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

/// Reads `input` in chunks, hashing as it goes; `on_chunk(data, first, last)` gets each chunk.
/// A file that grows or shrinks after the list was resolved is an error: its size is in the plan.
fn read_input(
    input: &Input,
    mut on_chunk: impl FnMut(Vec<u8>, bool, bool) -> Result<()>,
) -> Result<FileDigest> {
    let shown = display_path(&input.source);
    let mut file = File::open(&input.source).with_context(|| format!("cannot open {shown}"))?;
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut first = true;
    loop {
        let wanted = (input.size - total).min(CHUNK_SIZE as u64) as usize;
        let mut buffer = vec![0u8; wanted];
        file.read_exact(&mut buffer).map_err(|error| match error.kind() {
            std::io::ErrorKind::UnexpectedEof => changed_error(&shown, input.size),
            _ => anyhow!(error).context(format!("cannot read {shown}")),
        })?;
        total += wanted as u64;
        let last = total == input.size;
        if last {
            let mut probe = [0u8; 1];
            if file.read(&mut probe).with_context(|| format!("cannot read {shown}"))? != 0 {
                return Err(changed_error(&shown, input.size));
            }
        }
        hasher.update(&buffer);
        on_chunk(buffer, first, last)?;
        first = false;
        if last {
            return Ok(FileDigest { sha256: hex(&hasher.finalize()), size: total });
        }
    }
}

fn changed_error(shown: &str, size: u64) -> anyhow::Error {
    anyhow!("{shown} changed while it was being bundled (it was {size} bytes); rerun when it is stable")
}

/// `--dry-run`: hashes every input without compressing or writing anything.
pub(crate) fn hash_inputs(inputs: &[Input], progress: &Progress) -> Result<Vec<FileDigest>> {
    inputs
        .iter()
        .map(|input| {
            read_input(input, |chunk, _, _| {
                progress.advance(chunk.len() as u64);
                Ok(())
            })
        })
        .collect()
}

/// Deflates one chunk as part of a longer raw deflate stream: primed with the end of the
/// previous chunk, ending byte-aligned (sync flush) or with the final block when `last`.
pub(crate) fn deflate_chunk(
    compressor: &mut Compress,
    previous: Option<&[u8]>,
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    compressor.reset();
    if let Some(previous) = previous {
        let window = &previous[previous.len().saturating_sub(WINDOW)..];
        compressor.set_dictionary(window).context("cannot prime the compressor")?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    // Room for the whole chunk up front (zlib's compressBound plus flush markers). Output
    // buffers are recycled with varying capacities, and a sync flush that fills the buffer
    // exactly makes zlib emit a second flush marker, so without this the bytes would depend on
    // scheduling (zlib manual: keep avail_out above six when flushing).
    out.reserve(input.len() + input.len() / 1000 + 1024);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 16 * 1024 {
            out.reserve(input.len() / 4 + 64 * 1024);
        }
        let before = compressor.total_in();
        let status = compressor.compress_vec(&input[consumed..], out, flush).context("deflate failed")?;
        consumed += (compressor.total_in() - before) as usize;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(()),
            // A sync flush is complete once all input is in and the compressor left room unused.
            Status::Ok | Status::BufError if !last && consumed == input.len() && room_left => return Ok(()),
            _ => {}
        }
    }
}

/// A sample of each chunk is deflated at level 1 first; when that saves less than this fraction
/// (in fiftieths: 1/50 = 2%), the chunk is random-looking (encrypted, already compressed) and is
/// written as deflate stored blocks instead of spending level-N effort for nothing.
const PROBE_SIZE: usize = 64 * 1024;
const PROBE_MIN_SAVING_FIFTIETHS: usize = 1;

/// One worker's compressors: the requested level, a fast probe, and stored blocks (level 0).
pub(crate) struct ChunkCompressor {
    main: Compress,
    probe: Compress,
    stored: Compress,
    probe_out: Vec<u8>,
}

impl ChunkCompressor {
    pub(crate) fn new(level: u32) -> ChunkCompressor {
        ChunkCompressor {
            main: Compress::new(Compression::new(level), false),
            probe: Compress::new(Compression::new(1), false),
            stored: Compress::new(Compression::new(0), false),
            probe_out: Vec::with_capacity(PROBE_SIZE + 1024),
        }
    }

    /// Deflates one chunk of a stream (see [`deflate_chunk`]), choosing stored blocks for a chunk
    /// whose leading sample does not compress. The choice depends only on the chunk's bytes, so
    /// the output stays reproducible.
    pub(crate) fn compress(
        &mut self,
        previous: Option<&[u8]>,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let compressor = if self.looks_compressible(input)? { &mut self.main } else { &mut self.stored };
        deflate_chunk(compressor, previous, input, last, out)
    }

    fn looks_compressible(&mut self, input: &[u8]) -> Result<bool> {
        if input.len() < PROBE_SIZE {
            return Ok(true);
        }
        let sample = &input[..PROBE_SIZE];
        self.probe_out.clear();
        deflate_chunk(&mut self.probe, None, sample, true, &mut self.probe_out)?;
        Ok(self.probe_out.len() * 50 < sample.len() * (50 - PROBE_MIN_SAVING_FIFTIETHS))
    }
}

struct Job {
    sequence: u64,
    entry: usize,
    data: Arc<Vec<u8>>,
    previous: Option<Arc<Vec<u8>>>,
    first: bool,
    last: bool,
}

enum Payload {
    /// Stored entries pass the read buffer through.
    Shared(Arc<Vec<u8>>),
    Owned(Vec<u8>),
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Shared(data) => data,
            Payload::Owned(data) => data,
        }
    }
}

struct Done {
    sequence: u64,
    entry: usize,
    crc: crc32fast::Hasher,
    size: u64,
    payload: Payload,
    first: bool,
    last: bool,
}

/// The zip file being written: position, finished entries, and the hash of the bytes so far.
pub(crate) struct ZipSink<'f> {
    file: &'f mut File,
    offset: u64,
    hashed_to: u64,
    hasher: Sha256,
    records: Vec<EntryRecord>,
    time: DosTime,
    read_back: Vec<u8>,
    /// Zip64 fields for every entry and the end record, to test them without 4 GiB of data.
    force_zip64: bool,
}

impl<'f> ZipSink<'f> {
    pub(crate) fn new(file: &'f mut File, time: DosTime) -> ZipSink<'f> {
        ZipSink {
            file,
            offset: 0,
            hashed_to: 0,
            hasher: Sha256::new(),
            records: Vec::new(),
            time,
            read_back: Vec::new(),
            force_zip64: false,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).context("cannot write the bundle")?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Writes a local header; returns its offset and whether it has zip64 sizes.
    fn begin_entry(&mut self, name: &str, method: Method, size: u64) -> Result<(u64, bool)> {
        let header_offset = self.offset;
        let zip64 = self.force_zip64 || needs_zip64(size);
        let header = local_header(name, method, self.time, zip64)?;
        self.write(&header)?;
        Ok((header_offset, zip64))
    }

    /// Patches the local header and hashes the finished entry's bytes.
    fn end_entry(&mut self, record: EntryRecord) -> Result<()> {
        for (offset, bytes) in local_header_patches(&record)? {
            self.file
                .write_all_at(&bytes, record.header_offset + offset)
                .context("cannot write the bundle")?;
        }
        self.records.push(record);
        self.hash_written()
    }

    fn hash_written(&mut self) -> Result<()> {
        self.read_back.resize(CHUNK_SIZE, 0);
        while self.hashed_to < self.offset {
            let length = ((self.offset - self.hashed_to) as usize).min(CHUNK_SIZE);
            let buffer = &mut self.read_back[..length];
            self.file.read_exact_at(buffer, self.hashed_to).context("cannot read back the bundle")?;
            self.hasher.update(&*buffer);
            self.hashed_to += length as u64;
        }
        Ok(())
    }

    /// Adds a small entry made in memory.
    pub(crate) fn add_memory_entry(&mut self, entry: &MemoryEntry, level: u32) -> Result<()> {
        let method = Method::for_entry(&entry.name, level);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&entry.bytes);
        let (header_offset, zip64) = self.begin_entry(&entry.name, method, entry.bytes.len() as u64)?;
        let compressed_size = match method {
            Method::Stored => {
                self.write(&entry.bytes)?;
                entry.bytes.len() as u64
            }
            Method::Deflated => {
                let mut compressor = Compress::new(Compression::new(level), false);
                let mut out = Vec::new();
                deflate_chunk(&mut compressor, None, &entry.bytes, true, &mut out)?;
                self.write(&out)?;
                out.len() as u64
            }
        };
        self.end_entry(EntryRecord {
            name: entry.name.clone(),
            method,
            crc32: crc.finalize(),
            compressed_size,
            size: entry.bytes.len() as u64,
            header_offset,
            zip64,
        })
    }

    /// Writes the central directory and returns the zip's hash and size.
    pub(crate) fn finish(mut self) -> Result<ZipDigest> {
        self.hash_written()?;
        let central = central_directory(&self.records, self.time, self.offset, self.force_zip64)?;
        self.write(&central)?;
        self.hasher.update(&central);
        self.hashed_to = self.offset;
        self.file.flush().context("cannot write the bundle")?;
        Ok(ZipDigest { sha256: hex(&self.hasher.finalize()), size: self.offset })
    }
}

/// Per-entry state while its chunks arrive at the writer.
struct OpenEntry {
    entry: usize,
    header_offset: u64,
    zip64: bool,
    crc: crc32fast::Hasher,
    compressed_size: u64,
    size: u64,
}

/// Streams every input into `sink` as an entry, compressing on `workers` threads. Returns the
/// inputs' digests in order.
pub(crate) fn write_inputs(
    sink: &mut ZipSink<'_>,
    inputs: &[Input],
    level: u32,
    workers: usize,
    progress: &Progress,
) -> Result<Vec<FileDigest>> {
    let methods: Vec<Method> = inputs.iter().map(|input| Method::for_entry(&input.dest, level)).collect();
    let (job_sender, job_receiver) = sync_channel::<Job>(IN_FLIGHT);
    let job_receiver = Mutex::new(job_receiver);
    let (done_sender, done_receiver) = channel::<Result<Done>>();
    let (token_sender, token_receiver) = sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        token_sender.send(()).expect("the token channel has room for every token");
    }

    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let done_sender = done_sender.clone();
            let job_receiver = &job_receiver;
            let methods = &methods;
            scope.spawn(move || compress_worker(job_receiver, done_sender, methods, level));
        }
        drop(done_sender);
        let writer = scope.spawn(|| write_in_order(sink, inputs, &methods, done_receiver, token_sender));

        let read_result = read_all(inputs, job_sender, token_receiver, progress);
        let write_result = writer.join().unwrap_or_else(|_| Err(anyhow!("the bundle writer panicked")));
        match (read_result, write_result) {
            // The writer stopped first; its error is the cause, the reader only noticed.
            (Err(ReadError::WriterGone), Err(error)) => Err(error),
            (Err(ReadError::WriterGone), Ok(())) => Err(anyhow!("the bundle writer stopped early")),
            (Err(ReadError::Failed(error)), _) => Err(error),
            (Ok(_), Err(error)) => Err(error),
            (Ok(digests), Ok(())) => Ok(digests),
        }
    })
}

enum ReadError {
    WriterGone,
    Failed(anyhow::Error),
}

/// The reading thread: reads and hashes each input, hands chunks to the compressors, and waits
/// for a free slot before each chunk so memory stays bounded.
fn read_all(
    inputs: &[Input],
    job_sender: SyncSender<Job>,
    token_receiver: Receiver<()>,
    progress: &Progress,
) -> Result<Vec<FileDigest>, ReadError> {
    let mut sequence = 0u64;
    let mut digests = Vec::with_capacity(inputs.len());
    let mut writer_gone = false;
    for (entry, input) in inputs.iter().enumerate() {
        let mut previous: Option<Arc<Vec<u8>>> = None;
        let result = read_input(input, |chunk, first, last| {
            let length = chunk.len() as u64;
            let data = Arc::new(chunk);
            if token_receiver.recv().is_err() {
                writer_gone = true;
                bail!("writer gone");
            }
            let job =
                Job { sequence, entry, data: Arc::clone(&data), previous: previous.take(), first, last };
            if job_sender.send(job).is_err() {
                writer_gone = true;
                bail!("writer gone");
            }
            sequence += 1;
            previous = Some(data);
            progress.advance(length);
            Ok(())
        });
        match result {
            Ok(digest) => digests.push(digest),
            Err(_) if writer_gone => return Err(ReadError::WriterGone),
            Err(error) => return Err(ReadError::Failed(error)),
        }
    }
    Ok(digests)
}

fn compress_worker(
    job_receiver: &Mutex<Receiver<Job>>,
    done_sender: std::sync::mpsc::Sender<Result<Done>>,
    methods: &[Method],
    level: u32,
) {
    let mut compressor = ChunkCompressor::new(level);
    loop {
        let job = match job_receiver.lock() {
            Ok(receiver) => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&job.data);
        let payload = match methods[job.entry] {
            Method::Stored => Ok(Payload::Shared(Arc::clone(&job.data))),
            Method::Deflated => {
                let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
                compressor
                    .compress(job.previous.as_deref().map(Vec::as_slice), &job.data, job.last, &mut out)
                    .map(|()| Payload::Owned(out))
            }
        };
        let done = payload.map(|payload| Done {
            sequence: job.sequence,
            entry: job.entry,
            crc,
            size: job.data.len() as u64,
            payload,
            first: job.first,
            last: job.last,
        });
        if done_sender.send(done).is_err() {
            return;
        }
    }
}

/// The writing thread: puts finished chunks in sequence order into the zip and frees a slot for
/// each one written.
fn write_in_order(
    sink: &mut ZipSink<'_>,
    inputs: &[Input],
    methods: &[Method],
    done_receiver: Receiver<Result<Done>>,
    token_sender: SyncSender<()>,
) -> Result<()> {
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut open: Option<OpenEntry> = None;
    let mut finished = 0usize;
    for done in done_receiver {
        let done = done?;
        waiting.insert(done.sequence, done);
        while let Some(done) = waiting.remove(&next) {
            next += 1;
            if done.first {
                let input = &inputs[done.entry];
                let (header_offset, zip64) =
                    sink.begin_entry(&input.dest, methods[done.entry], input.size)?;
                open = Some(OpenEntry {
                    entry: done.entry,
                    header_offset,
                    zip64,
                    crc: crc32fast::Hasher::new(),
                    compressed_size: 0,
                    size: 0,
                });
            }
            let state = open.as_mut().filter(|state| state.entry == done.entry).ok_or_else(|| {
                anyhow!("internal error: chunk of entry {} arrived out of order", done.entry)
            })?;
            let bytes = done.payload.bytes();
            state.crc.combine(&done.crc);
            state.compressed_size += bytes.len() as u64;
            state.size += done.size;
            sink.write(bytes)?;
            if done.last {
                let state = open.take().expect("an open entry was just updated");
                sink.end_entry(EntryRecord {
                    name: inputs[state.entry].dest.clone(),
                    method: methods[state.entry],
                    crc32: state.crc.finalize(),
                    compressed_size: state.compressed_size,
                    size: state.size,
                    header_offset: state.header_offset,
                    zip64: state.zip64,
                })?;
                finished += 1;
            }
            // The reader may already have stopped; a slot nobody takes is fine.
            let _ = token_sender.send(());
        }
    }
    if finished != inputs.len() {
        // The reader failed part-way; it reports why.
        bail!("the bundle was not completed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(data: &[u8], expected: usize) -> Vec<u8> {
        let mut decompressor = Decompress::new(false);
        let mut out = Vec::with_capacity(expected + 1024);
        let status = decompressor.decompress_vec(data, &mut out, FlushDecompress::Finish).unwrap();
        assert_eq!(status, Status::StreamEnd);
        out
    }

    /// Compressible but not trivially: repeated JSON-ish lines with changing numbers.
    fn sample(size: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size);
        let mut n: u64 = 7;
        while out.len() < size {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            out.extend_from_slice(format!("{{\"ts\":{},\"edge_bps\":{}}}\n", n >> 40, n % 977).as_bytes());
        }
        out.truncate(size);
        out
    }

    /// Regression: a run under load produced a zip one byte longer than an idle run. Output
    /// buffers are recycled between workers, so their capacity varies with scheduling, and a
    /// sync flush that ends exactly at the end of the buffer makes zlib add a flush marker. The
    /// compressed bytes must not depend on the buffer handed in.
    #[test]
    fn output_does_not_depend_on_the_buffer_capacity() {
        let data = sample(128 * 1024);
        let mut reference = Vec::new();
        deflate_chunk(&mut Compress::new(Compression::new(6), false), None, &data, false, &mut reference)
            .unwrap();
        for capacity in (0..24).map(|k| reference.len().saturating_sub(12) + k).chain([0, 1, 7, 4096, 65536])
        {
            for last in [false, true] {
                let mut expected = Vec::new();
                deflate_chunk(
                    &mut Compress::new(Compression::new(6), false),
                    None,
                    &data,
                    last,
                    &mut expected,
                )
                .unwrap();
                let mut out = Vec::with_capacity(capacity);
                deflate_chunk(&mut Compress::new(Compression::new(6), false), None, &data, last, &mut out)
                    .unwrap();
                assert!(
                    out == expected,
                    "capacity {capacity}, last {last}: {} vs {} bytes",
                    out.len(),
                    expected.len()
                );
            }
        }
    }

    #[test]
    fn chunked_stream_inflates_to_the_input() {
        let data = sample(3 * CHUNK_SIZE + 12345);
        let mut compressor = Compress::new(Compression::new(6), false);
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        let mut stream = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let previous = if index == 0 { None } else { Some(chunks[index - 1]) };
            let mut out = Vec::new();
            deflate_chunk(&mut compressor, previous, chunk, index == chunks.len() - 1, &mut out).unwrap();
            stream.extend_from_slice(&out);
        }
        assert_eq!(inflate(&stream, data.len()), data);
        // Priming with the previous window keeps the size within 1% of one uninterrupted stream.
        let mut whole = Vec::new();
        deflate_chunk(&mut compressor, None, &data, true, &mut whole).unwrap();
        assert!((stream.len() as f64) < whole.len() as f64 * 1.01, "{} vs {}", stream.len(), whole.len());
    }

    fn noise(size: usize) -> Vec<u8> {
        let mut noise = vec![0u8; size];
        let mut n: u32 = 1;
        for byte in &mut noise {
            n ^= n << 13;
            n ^= n >> 17;
            n ^= n << 5;
            *byte = n as u8;
        }
        noise
    }

    #[test]
    fn incompressible_chunks_become_stored_blocks_in_the_same_stream() {
        // Text, then noise, then text: one valid stream; the noise chunk costs ~5 bytes per 64 KiB.
        let data: Vec<u8> = [sample(CHUNK_SIZE), noise(CHUNK_SIZE), sample(CHUNK_SIZE / 2)].concat();
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        let mut compressor = ChunkCompressor::new(6);
        let mut sizes = Vec::new();
        let mut stream = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let previous = if index == 0 { None } else { Some(chunks[index - 1]) };
            let mut out = Vec::new();
            compressor.compress(previous, chunk, index == chunks.len() - 1, &mut out).unwrap();
            sizes.push(out.len());
            stream.extend_from_slice(&out);
        }
        assert_eq!(inflate(&stream, data.len()), data);
        assert!(sizes[0] < CHUNK_SIZE / 2, "{sizes:?}");
        assert!(sizes[1] > CHUNK_SIZE && sizes[1] < CHUNK_SIZE + 200, "{sizes:?}");
        assert!(sizes[2] < CHUNK_SIZE / 4, "{sizes:?}");
    }

    /// Writes a real bundle through the pipeline into a temporary file and returns its bytes.
    fn write_bundle(
        dir: &std::path::Path,
        files: &[(&str, Vec<u8>)],
        force_zip64: bool,
    ) -> (Vec<u8>, ZipDigest) {
        let inputs: Vec<Input> = files
            .iter()
            .map(|(name, bytes)| {
                let source = dir.join(name.replace('/', "_"));
                std::fs::write(&source, bytes).unwrap();
                Input { source, dest: name.to_string(), description: String::new(), size: bytes.len() as u64 }
            })
            .collect();
        let zip_path = dir.join("out.zip");
        let mut file =
            File::options().create(true).truncate(true).read(true).write(true).open(&zip_path).unwrap();
        let time = DosTime::from_utc(crate::clock::parse_rfc3339("2025-10-11T12:00:00Z").unwrap());
        let mut sink = ZipSink::new(&mut file, time);
        sink.force_zip64 = force_zip64;
        let printer =
            crate::output::Printer::new(crate::cli::Format::Text, true, crate::cli::ColorChoice::Never);
        let progress = Progress::bytes(&printer, 0, u64::MAX, "");
        write_inputs(&mut sink, &inputs, 6, 2, &progress).unwrap();
        sink.add_memory_entry(&MemoryEntry { name: "MANIFEST.json".into(), bytes: b"{}\n".to_vec() }, 6)
            .unwrap();
        let digest = sink.finish().unwrap();
        drop(file);
        (std::fs::read(&zip_path).unwrap(), digest)
    }

    #[test]
    fn zip64_records_are_read_back_by_the_zip_crate_and_unzip() {
        // Real zip64 needs 4 GiB; forcing the fields on small entries exercises the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let files =
            [("a.json", sample(CHUNK_SIZE + 999)), ("dir/empty.txt", Vec::new()), ("n.gz", noise(5000))];
        let (bytes, digest) = write_bundle(dir.path(), &files, true);
        assert_eq!(digest.sha256, hex(&Sha256::digest(&bytes)));
        assert_eq!(digest.size, bytes.len() as u64);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(archive.len(), 4);
        archive.validate_header_consistency().unwrap();
        for (name, data) in &files {
            let mut entry = archive.by_name(name).unwrap();
            let mut back = Vec::new();
            entry.read_to_end(&mut back).unwrap();
            assert!(&back == data, "{name}");
        }
        if std::process::Command::new("unzip").arg("-v").output().is_ok() {
            let zip_path = dir.path().join("out.zip");
            let test = std::process::Command::new("unzip").arg("-tq").arg(&zip_path).output().unwrap();
            assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
        }
        let script = "import sys, zipfile; assert zipfile.ZipFile(sys.argv[1]).testzip() is None";
        if let Ok(python) = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(dir.path().join("out.zip"))
            .output()
        {
            assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
        }
        // Without forcing, the same files make a plain zip, smaller by the zip64 fields.
        let (plain, _) = write_bundle(dir.path(), &files, false);
        assert!(plain.len() < bytes.len());
        assert!(!plain.windows(4).any(|window| window == [0x50, 0x4b, 0x06, 0x06]));
        assert!(bytes.windows(4).any(|window| window == [0x50, 0x4b, 0x06, 0x06]));
    }

    #[test]
    fn empty_and_incompressible_chunks() {
        let mut compressor = Compress::new(Compression::new(6), false);
        let mut out = Vec::new();
        deflate_chunk(&mut compressor, None, b"", true, &mut out).unwrap();
        assert_eq!(inflate(&out, 0), b"");
        let noise = noise(300_000);
        let mut out = Vec::new();
        deflate_chunk(&mut compressor, None, &noise, false, &mut out).unwrap();
        let mut end = Vec::new();
        deflate_chunk(&mut compressor, Some(&noise), b"", true, &mut end).unwrap();
        out.extend_from_slice(&end);
        assert_eq!(inflate(&out, noise.len()), noise);
    }
}
