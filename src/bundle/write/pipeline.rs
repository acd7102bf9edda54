//! The parallel pipeline: one thread reads and hashes the inputs, `workers` threads deflate
//! 1 MiB chunks, one thread writes the chunks in sequence order. At most [`IN_FLIGHT`] chunks
//! exist at once, so memory does not grow with file size. The bytes do not depend on the number
//! of workers or their timing: each chunk is compressed from its own bytes and the 32 KiB before
//! it only (see [`super::deflate`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};

use super::FileDigest;
use super::deflate::compress_chunk;
use super::read::read_input;
use super::sink::ZipSink;
use crate::bundle::inputs::Input;
use crate::bundle::zip_format::{EntryRecord, Method};
use crate::progress::Progress;

/// Chunks read but not yet written, across all threads (each ≤ 1 MiB in and ~1 MiB out).
const IN_FLIGHT: usize = 8;

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
/// inputs' digests in order. `stop` (SIGINT/SIGTERM, from `interrupt::Watch`) is checked before
/// each chunk: once set, the build ends with an [`crate::outcome::Interrupted`] error.
pub(crate) fn write_inputs(
    sink: &mut ZipSink<'_>,
    inputs: &[Input],
    level: u32,
    workers: usize,
    progress: &Progress,
    stop: &AtomicBool,
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

        let read_result = read_all(inputs, job_sender, token_receiver, progress, stop);
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
    stop: &AtomicBool,
) -> Result<Vec<FileDigest>, ReadError> {
    let mut sequence = 0u64;
    let mut digests = Vec::with_capacity(inputs.len());
    let mut writer_gone = false;
    for (entry, input) in inputs.iter().enumerate() {
        let mut previous: Option<Arc<Vec<u8>>> = None;
        let result = read_input(input, |chunk, first, last| {
            let length = chunk.len() as u64;
            if stop.load(Ordering::SeqCst) {
                return Err(anyhow!(crate::outcome::Interrupted(
                    "interrupted while building the bundle; nothing was written".into()
                )));
            }
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
                compress_chunk(
                    level,
                    job.previous.as_deref().map(Vec::as_slice),
                    &job.data,
                    job.last,
                    &mut out,
                )
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
    use std::fs::File;
    use std::io::Read;
    use std::path::Path;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::bundle::inputs::Identity;
    use crate::bundle::manifest::{CHUNK_SIZE, hex};
    use crate::bundle::write::deflate::tests::{noise, sample};
    use crate::bundle::write::{MemoryEntry, ZipDigest};
    use crate::bundle::zip_format::dos_time;

    fn inputs_in(dir: &Path, files: &[(&str, Vec<u8>)]) -> Vec<Input> {
        files
            .iter()
            .map(|(name, bytes)| {
                let source = dir.join(name.replace('/', "_"));
                std::fs::write(&source, bytes).unwrap();
                let file = File::open(&source).unwrap();
                let identity = Identity::of(&file).unwrap();
                Input::new(source, name.to_string(), String::new(), file, identity)
            })
            .collect()
    }

    /// Writes a real bundle through the pipeline into a temporary file and returns its bytes.
    fn write_bundle(dir: &Path, inputs: &[Input], workers: usize, force_zip64: bool) -> (Vec<u8>, ZipDigest) {
        let zip_path = dir.join("out.zip");
        let mut file =
            File::options().create(true).truncate(true).read(true).write(true).open(&zip_path).unwrap();
        let time = dos_time(crate::clock::parse_rfc3339("2025-10-11T12:00:00Z").unwrap());
        let mut sink = ZipSink::new(&mut file, time);
        sink.force_zip64 = force_zip64;
        let printer =
            crate::output::Printer::new(crate::cli::Format::Text, true, crate::cli::ColorChoice::Never);
        let progress = Progress::bytes(&printer, 0, u64::MAX, "");
        write_inputs(&mut sink, inputs, 6, workers, &progress, &AtomicBool::new(false)).unwrap();
        sink.add_memory_entry(&MemoryEntry { name: "MANIFEST.json".into(), bytes: b"{}\n".to_vec() }, 6)
            .unwrap();
        let digest = sink.finish().unwrap();
        drop(file);
        (std::fs::read(&zip_path).unwrap(), digest)
    }

    /// Regression: 200 builds of the same inputs gave two different hashes with several
    /// workers (a compressor reused after reset with a dictionary). 50 builds with the default
    /// number of workers and 50 with one must give one hash.
    #[test]
    fn bytes_do_not_depend_on_workers_or_scheduling() {
        let dir = tempfile::tempdir().unwrap();
        let mixed = [sample(CHUNK_SIZE / 2), noise(CHUNK_SIZE / 4), sample(CHUNK_SIZE / 2 + 4321)].concat();
        let files = [("big.json", sample(CHUNK_SIZE + CHUNK_SIZE / 3)), ("mixed.log", mixed)];
        let inputs = inputs_in(dir.path(), &files);
        let default_workers = crate::stats::worker_count(2, 8);
        let mut hashes = std::collections::BTreeMap::new();
        for build in 0..100 {
            let workers = if build % 2 == 0 { default_workers } else { 1 };
            let (_, digest) = write_bundle(dir.path(), &inputs, workers, false);
            *hashes.entry(digest.sha256).or_insert(0) += 1;
        }
        assert_eq!(hashes.len(), 1, "{hashes:?}");
    }

    #[test]
    fn zip64_records_are_read_back_by_the_zip_crate_and_unzip() {
        // Real zip64 needs 4 GiB; forcing the fields on small entries exercises the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let files =
            [("a.json", sample(CHUNK_SIZE + 999)), ("dir/empty.txt", Vec::new()), ("n.gz", noise(5000))];
        let inputs = inputs_in(dir.path(), &files);
        let (bytes, digest) = write_bundle(dir.path(), &inputs, 2, true);
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
        // Two independent readers of zip64; a missing one is skipped locally, a failure under CI.
        if crate::test_tools::tool_available("unzip", &["-v"], "apt-get install unzip") {
            let zip_path = dir.path().join("out.zip");
            let test = std::process::Command::new("unzip").arg("-tq").arg(&zip_path).output().unwrap();
            assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
        }
        let script = "import sys, zipfile; assert zipfile.ZipFile(sys.argv[1]).testzip() is None";
        if crate::test_tools::tool_available("python3", &["--version"], "apt-get install python3") {
            let python = std::process::Command::new("python3")
                .args(["-c", script])
                .arg(dir.path().join("out.zip"))
                .output()
                .unwrap();
            assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
        }
        // verify's structure check reads the zip64 records and finds nothing wrong.
        let zip_file = File::open(dir.path().join("out.zip")).unwrap();
        let layout = crate::bundle::zip_layout::read_layout(&zip_file, bytes.len() as u64).unwrap();
        assert!(layout.problems.is_empty() && !layout.unsafe_to_inflate, "{:?}", layout.problems);
        assert_eq!(layout.entries.len(), 4);
        assert_eq!(layout.entries[0].size, files[0].1.len() as u64);
        // Without forcing, the same files make a plain zip, smaller by the zip64 fields.
        let (plain, _) = write_bundle(dir.path(), &inputs, 2, false);
        assert!(plain.len() < bytes.len());
        assert!(!plain.windows(4).any(|window| window == [0x50, 0x4b, 0x06, 0x06]));
        assert!(bytes.windows(4).any(|window| window == [0x50, 0x4b, 0x06, 0x06]));
    }

    /// A file rewritten in place (same size, `dd conv=notrunc`) after the list was resolved is
    /// refused with its name, through the handle opened at resolution.
    #[test]
    fn an_input_rewritten_after_resolution_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs_in(dir.path(), &[("a.json", sample(5000))]);
        std::fs::write(&inputs[0].source, noise(5000)).unwrap();
        let zip_path = dir.path().join("out.zip");
        let mut file = File::create(&zip_path).unwrap();
        let time = dos_time(crate::clock::parse_rfc3339("2025-10-11T12:00:00Z").unwrap());
        let mut sink = ZipSink::new(&mut file, time);
        let printer =
            crate::output::Printer::new(crate::cli::Format::Text, true, crate::cli::ColorChoice::Never);
        let progress = Progress::bytes(&printer, 0, u64::MAX, "");
        let error = format!(
            "{:#}",
            write_inputs(&mut sink, &inputs, 6, 2, &progress, &AtomicBool::new(false)).unwrap_err()
        );
        assert!(error.contains("a.json changed while it was being bundled (modification time"), "{error}");
    }
}
