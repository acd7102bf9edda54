//! One chunk of a raw deflate stream. Chunks of one entry are independent deflate runs joined
//! into one stream (each ends with a sync flush, the last with the final block), each primed
//! with the 32 KiB before it as a dictionary — the technique pigz uses — so the output is a
//! standard deflate stream within a fraction of a percent of one compressor's size.
//!
//! Every chunk gets a compressor made for it alone: a compressor reused after `reset()` and
//! primed with a preset dictionary gives different bytes for some chunk pairs (seen with
//! flate2 + zlib-rs), which made bundles depend on which worker compressed which chunk.

use anyhow::{Context as _, Result};
use flate2::{Compress, Compression, FlushCompress, Status};

/// Deflate's window: how much of the previous chunk primes the next one.
pub(crate) const WINDOW: usize = 32 * 1024;

/// A sample of each chunk is deflated at level 1 first; when that saves less than this fraction
/// (in fiftieths: 1/50 = 2%), the chunk is random-looking (encrypted, already compressed) and is
/// written as deflate stored blocks instead of spending level-N effort for nothing.
const PROBE_SIZE: usize = 64 * 1024;
const PROBE_MIN_SAVING_FIFTIETHS: usize = 1;

/// Deflates one chunk as part of a longer raw deflate stream at `level`: primed with the end of
/// the previous chunk, ending byte-aligned (sync flush) or with the final block when `last`.
/// The bytes are a function of the arguments alone.
pub(crate) fn deflate_chunk(
    level: u32,
    previous: Option<&[u8]>,
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut compressor = Compress::new(Compression::new(level), false);
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

/// Deflates one chunk of a stream (see [`deflate_chunk`]), choosing stored blocks (level 0) for
/// a chunk whose leading sample does not compress. The choice depends only on the chunk's bytes,
/// so the output stays reproducible.
pub(crate) fn compress_chunk(
    level: u32,
    previous: Option<&[u8]>,
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let level = if looks_compressible(input)? { level } else { 0 };
    deflate_chunk(level, previous, input, last, out)
}

fn looks_compressible(input: &[u8]) -> Result<bool> {
    if input.len() < PROBE_SIZE {
        return Ok(true);
    }
    let sample = &input[..PROBE_SIZE];
    let mut probe = Vec::with_capacity(PROBE_SIZE + 1024);
    deflate_chunk(1, None, sample, true, &mut probe)?;
    Ok(probe.len() * 50 < sample.len() * (50 - PROBE_MIN_SAVING_FIFTIETHS))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bundle::manifest::CHUNK_SIZE;
    use flate2::{Decompress, FlushDecompress};

    pub(crate) fn inflate(data: &[u8], expected: usize) -> Vec<u8> {
        let mut decompressor = Decompress::new(false);
        let mut out = Vec::with_capacity(expected + 1024);
        let status = decompressor.decompress_vec(data, &mut out, FlushDecompress::Finish).unwrap();
        assert_eq!(status, Status::StreamEnd);
        out
    }

    /// Compressible but not trivially: repeated JSON-ish lines with changing numbers.
    pub(crate) fn sample(size: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size);
        let mut n: u64 = 7;
        while out.len() < size {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            out.extend_from_slice(format!("{{\"ts\":{},\"edge_bps\":{}}}\n", n >> 40, n % 977).as_bytes());
        }
        out.truncate(size);
        out
    }

    pub(crate) fn noise(size: usize) -> Vec<u8> {
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

    /// Regression: a run under load produced a zip one byte longer than an idle run. Output
    /// buffers are recycled between workers, so their capacity varies with scheduling, and a
    /// sync flush that ends exactly at the end of the buffer makes zlib add a flush marker. The
    /// compressed bytes must not depend on the buffer handed in.
    #[test]
    fn output_does_not_depend_on_the_buffer_capacity() {
        let data = sample(128 * 1024);
        let mut reference = Vec::new();
        deflate_chunk(6, None, &data, false, &mut reference).unwrap();
        for capacity in (0..24).map(|k| reference.len().saturating_sub(12) + k).chain([0, 1, 7, 4096, 65536])
        {
            for last in [false, true] {
                let mut expected = Vec::new();
                deflate_chunk(6, None, &data, last, &mut expected).unwrap();
                let mut out = Vec::with_capacity(capacity);
                deflate_chunk(6, None, &data, last, &mut out).unwrap();
                assert!(
                    out == expected,
                    "capacity {capacity}, last {last}: {} vs {} bytes",
                    out.len(),
                    expected.len()
                );
            }
        }
    }

    /// Regression for bundles that were not byte-reproducible with several workers: a chunk's
    /// bytes must be the same whichever chunks were compressed before it, in whatever order.
    /// Every (previous, chunk) pair is compressed after a different history and compared with
    /// the first result.
    #[test]
    fn a_chunk_does_not_depend_on_what_was_compressed_before() {
        let data: Vec<u8> = [sample(3 * 256 * 1024), noise(200 * 1024), sample(300 * 1024)].concat();
        let chunks: Vec<&[u8]> = data.chunks(128 * 1024).collect();
        let mut reference: Vec<Vec<u8>> = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let previous = index.checked_sub(1).map(|before| chunks[before]);
            let mut out = Vec::new();
            compress_chunk(6, previous, chunk, index + 1 == chunks.len(), &mut out).unwrap();
            reference.push(out);
        }
        // Reverse order, then every second one: other histories for each chunk.
        let orders: [Vec<usize>; 2] = [
            (0..chunks.len()).rev().collect(),
            (0..chunks.len()).step_by(2).chain((1..chunks.len()).step_by(2)).collect(),
        ];
        for order in orders {
            for index in order {
                let previous = index.checked_sub(1).map(|before| chunks[before]);
                let mut out = Vec::new();
                compress_chunk(6, previous, chunks[index], index + 1 == chunks.len(), &mut out).unwrap();
                assert!(out == reference[index], "chunk {index} differs after another history");
            }
        }
        assert_eq!(inflate(&reference.concat(), data.len()), data);
    }

    #[test]
    fn chunked_stream_inflates_to_the_input() {
        let data = sample(3 * CHUNK_SIZE + 12345);
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        let mut stream = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let previous = if index == 0 { None } else { Some(chunks[index - 1]) };
            let mut out = Vec::new();
            deflate_chunk(6, previous, chunk, index == chunks.len() - 1, &mut out).unwrap();
            stream.extend_from_slice(&out);
        }
        assert_eq!(inflate(&stream, data.len()), data);
        // Priming with the previous window keeps the size within 1% of one uninterrupted stream.
        let mut whole = Vec::new();
        deflate_chunk(6, None, &data, true, &mut whole).unwrap();
        assert!((stream.len() as f64) < whole.len() as f64 * 1.01, "{} vs {}", stream.len(), whole.len());
    }

    #[test]
    fn incompressible_chunks_become_stored_blocks_in_the_same_stream() {
        // Text, then noise, then text: one valid stream; the noise chunk costs ~5 bytes per 64 KiB.
        let data: Vec<u8> = [sample(CHUNK_SIZE), noise(CHUNK_SIZE), sample(CHUNK_SIZE / 2)].concat();
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        let mut sizes = Vec::new();
        let mut stream = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let previous = if index == 0 { None } else { Some(chunks[index - 1]) };
            let mut out = Vec::new();
            compress_chunk(6, previous, chunk, index == chunks.len() - 1, &mut out).unwrap();
            sizes.push(out.len());
            stream.extend_from_slice(&out);
        }
        assert_eq!(inflate(&stream, data.len()), data);
        assert!(sizes[0] < CHUNK_SIZE / 2, "{sizes:?}");
        assert!(sizes[1] > CHUNK_SIZE && sizes[1] < CHUNK_SIZE + 200, "{sizes:?}");
        assert!(sizes[2] < CHUNK_SIZE / 4, "{sizes:?}");
    }

    #[test]
    fn empty_and_incompressible_chunks() {
        let mut out = Vec::new();
        deflate_chunk(6, None, b"", true, &mut out).unwrap();
        assert_eq!(inflate(&out, 0), b"");
        let noise = noise(300_000);
        let mut out = Vec::new();
        deflate_chunk(6, None, &noise, false, &mut out).unwrap();
        let mut end = Vec::new();
        deflate_chunk(6, Some(&noise), b"", true, &mut end).unwrap();
        out.extend_from_slice(&end);
        assert_eq!(inflate(&out, noise.len()), noise);
    }
}
