use std::io::{self, Read, Write};
use std::sync::mpsc::sync_channel;

use sha2::{Digest, Sha256};

use super::*;

/// About `len` bytes of a layer's likeness: text that compresses well, runs of zeros and
/// pseudo-random stretches that do not, so blocks have matches across their boundaries.
fn sample(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut i = 0u64;
    while out.len() < len {
        match i % 4 {
            0 => out.extend_from_slice(
                format!("file-{i}.rs: fn main() {{ println!(\"{i}\"); }}\n").as_bytes(),
            ),
            1 => out.extend(std::iter::repeat_n(0u8, (i % 700) as usize)),
            2 => {
                for _ in 0..(i % 300) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    out.push(state as u8);
                }
            }
            _ => {
                out.extend_from_slice(b"usr/lib/python3/dist-packages/ lorem ipsum dolor sit amet ")
            }
        }
        i += 1;
    }
    out.truncate(len);
    out
}

/// `plain` compressed on `threads` threads, written in `chunk`-byte writes with a flush after
/// each.
fn gzip(threads: usize, plain: &[u8], chunk: usize) -> Vec<u8> {
    let (out, ()) = compress_on(threads, Vec::new(), |w| {
        for part in plain.chunks(chunk.max(1)) {
            w.write_all(part)?;
            w.flush()?;
        }
        Ok(())
    })
    .expect("compresses");
    out
}

fn gunzip(compressed: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .read_to_end(&mut plain)
        .expect("a gzip stream");
    plain
}

#[test]
fn the_bytes_do_not_depend_on_threads_or_on_how_the_input_was_written() {
    let plain = sample(5 * BLOCK_SIZE + 12_345);
    let one = gzip(1, &plain, 1 << 20);
    for (threads, chunk) in [
        (1, 4096),
        (2, 1 << 20),
        (2, 777),
        (4, 65_536),
        (4, 3 * BLOCK_SIZE),
    ] {
        assert!(
            gzip(threads, &plain, chunk) == one,
            "{threads} threads, {chunk}-byte writes"
        );
    }
    assert_eq!(gunzip(&one), plain);
}

#[test]
fn the_stream_is_one_plain_gzip_member_any_reader_reads() {
    let plain = sample(3 * BLOCK_SIZE + 1);
    let compressed = gzip(2, &plain, 10_000);
    // No name, no comment, mtime 0, OS "unknown".
    assert_eq!(&compressed[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&compressed[4..8], &[0, 0, 0, 0]);
    assert_eq!(compressed[9], 255);
    // One member: the single-member decoder reads all of it, and the trailer is its CRC and size.
    let mut single = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut single)
        .expect("one gzip member");
    assert_eq!(single, plain);
    let trailer = &compressed[compressed.len() - 8..];
    let mut crc = flate2::Crc::new();
    crc.update(&plain);
    assert_eq!(trailer[..4], crc.sum().to_le_bytes());
    assert_eq!(trailer[4..], (plain.len() as u32).to_le_bytes());
    assert!(compressed.len() < plain.len() / 2, "it compresses");
    // And gzip(1) itself, where it is installed.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("layer.tar.gz");
    std::fs::write(&path, &compressed).expect("written");
    match std::process::Command::new("gzip")
        .arg("-t")
        .arg(&path)
        .status()
    {
        Ok(status) => assert!(status.success(), "gzip -t: {status}"),
        Err(e) => eprintln!("gzip not run: {e}"),
    }
}

/// The threads' compressors are reset before each block: what they did before leaves no trace,
/// each block comes out as a new compressor makes it.
#[test]
fn each_block_is_deflated_as_a_fresh_compressor_deflates_it() {
    let plain = sample(4 * BLOCK_SIZE + 5);
    let blocks: Vec<&[u8]> = plain.chunks(BLOCK_SIZE).collect();
    let mut expected = HEADER.to_vec();
    for (i, block) in blocks.iter().enumerate() {
        let (done, _results) = sync_channel(1);
        let job = Job {
            plain: block.to_vec(),
            dictionary: (i > 0).then(|| blocks[i - 1][BLOCK_SIZE - DICTIONARY..].to_vec()),
            last: i + 1 == blocks.len(),
            done,
        };
        let mut fresh = Compress::new(Compression::new(GZIP_LEVEL), false);
        expected.extend(deflate(&mut fresh, &job).expect("deflates").bytes);
    }
    let mut crc = Crc::new();
    crc.update(&plain);
    expected.extend(crc.sum().to_le_bytes());
    expected.extend((plain.len() as u32).to_le_bytes());
    assert!(gzip(2, &plain, 9_999) == expected);
}

#[test]
fn empty_and_block_sized_inputs_round_trip() {
    for len in [
        0,
        1,
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        BLOCK_SIZE + 1,
        2 * BLOCK_SIZE,
    ] {
        let plain = sample(len);
        let one = gzip(1, &plain, 50_000);
        assert_eq!(gzip(3, &plain, 8192), one, "{len} bytes");
        assert_eq!(gunzip(&one), plain, "{len} bytes");
    }
}

/// The digest of a fixed input is pinned: a change of level, block size, crate or backend that
/// changes the bytes fails here, where [`COMPRESSOR`] must change with it.
#[test]
fn the_compressed_digest_is_pinned() {
    let compressed = gzip(2, &sample(3 * BLOCK_SIZE + 100), 1 << 16);
    let digest = hex::encode(Sha256::digest(&compressed));
    assert_eq!(
        digest, "63ec35f96c16344878862eb0aeacac9c31569e168b7647f608c3e8c0f1ee2b6d",
        "{COMPRESSOR}"
    );
}

#[test]
fn a_failing_input_is_an_error_not_a_hang() {
    let plain = sample(4 * BLOCK_SIZE);
    let result = compress_on(2, Vec::new(), |w| {
        w.write_all(&plain)?;
        Err::<(), _>(io::Error::other("the export broke"))
    });
    assert_eq!(result.expect_err("fails").to_string(), "the export broke");
}

#[test]
fn a_failing_output_is_an_error() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let plain = sample(8 * BLOCK_SIZE);
    let result = compress_on(2, Full, |w| w.write_all(&plain));
    assert!(result.is_err());
}
