//! The header logic of chunked blob uploads (distribution spec, "pushing a blob in chunks"):
//! which blobs go up in chunks, how long each chunk is (ours, raised to the registry's
//! `OCI-Chunk-Min-Length`), each `PATCH`'s `Content-Range`, and what the registry's `Range`
//! answer says it holds. Pure functions; the requests are in `blobs.rs`.

use reqwest::header::HeaderMap;

/// The header a registry names its smallest chunk with (on the `POST` that opens a session).
pub const CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

/// Blobs larger than this go up in chunks; smaller ones in one `PUT`. 64 MiB: below the
/// 100 MB a request may carry through common fronts of registries (Cloudflare's limit),
/// large enough that a chunk's extra round trip costs nothing next to its transfer, and
/// small enough that a failed chunk loses little.
pub const CHUNKED_ABOVE: u64 = 64 * 1024 * 1024;

/// The length of each chunk but the last, unless the registry asks for more.
pub const CHUNK_LENGTH: u64 = 64 * 1024 * 1024;

/// When blobs go up in chunks, and in what length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Blobs of more bytes than this are uploaded in chunks.
    pub chunked_above: u64,
    /// Our chunk length (at least 1).
    pub chunk_length: u64,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            chunked_above: CHUNKED_ABOVE,
            chunk_length: CHUNK_LENGTH,
        }
    }
}

impl UploadPolicy {
    /// Whether a blob of `size` bytes goes up in chunks.
    pub fn chunked(&self, size: u64) -> bool {
        size > self.chunked_above
    }

    /// The chunk length for a session whose registry asked for at least `min` bytes.
    pub fn chunk_length(&self, min: Option<u64>) -> u64 {
        self.chunk_length.max(min.unwrap_or(0)).max(1)
    }
}

/// The registry's `OCI-Chunk-Min-Length`, when it sent a readable one.
pub fn min_chunk_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CHUNK_MIN_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The chunks of a blob of `size` bytes: `(offset, length)`, each `length` long but the last.
pub fn chunks(size: u64, length: u64) -> impl Iterator<Item = (u64, u64)> {
    let length = length.max(1);
    (0..size.div_ceil(length)).map(move |i| {
        let start = i * length;
        (start, length.min(size - start))
    })
}

/// The `Content-Range` of the chunk of `length` (at least 1) bytes at `offset`: the first and
/// last byte, inclusive, with no unit (`0-1023`), as the spec writes it.
pub fn content_range(offset: u64, length: u64) -> String {
    format!("{offset}-{}", offset + length.max(1) - 1)
}

/// How many bytes the registry says it holds, from a `Range: 0-<last>` answer (a `bytes=`
/// prefix accepted). `0-0` is ambiguous (nothing, or one byte) and reads as one byte; a
/// missing or unreadable header is `None`.
pub fn received(headers: &HeaderMap) -> Option<u64> {
    let text = headers.get(reqwest::header::RANGE)?.to_str().ok()?.trim();
    let text = text.strip_prefix("bytes=").unwrap_or(text);
    let (first, last) = text.split_once('-')?;
    if first.trim() != "0" {
        return None;
    }
    last.trim().parse::<u64>().ok().map(|last| last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn blobs_above_the_threshold_go_in_chunks_of_at_least_the_registrys_minimum() {
        let policy = UploadPolicy::default();
        assert!(!policy.chunked(CHUNKED_ABOVE));
        assert!(policy.chunked(CHUNKED_ABOVE + 1));
        assert_eq!(policy.chunk_length(None), CHUNK_LENGTH);
        assert_eq!(policy.chunk_length(Some(1)), CHUNK_LENGTH);
        assert_eq!(
            policy.chunk_length(Some(CHUNK_LENGTH * 2)),
            CHUNK_LENGTH * 2
        );
        let zero = UploadPolicy {
            chunked_above: 0,
            chunk_length: 0,
        };
        assert_eq!(zero.chunk_length(None), 1);
    }

    #[test]
    fn the_registrys_minimum_is_read_when_it_is_a_number() {
        assert_eq!(
            min_chunk_length(&headers(&[("OCI-Chunk-Min-Length", "5242880")])),
            Some(5_242_880)
        );
        assert_eq!(
            min_chunk_length(&headers(&[("oci-chunk-min-length", " 7 ")])),
            Some(7)
        );
        assert_eq!(
            min_chunk_length(&headers(&[("OCI-Chunk-Min-Length", "lots")])),
            None
        );
        assert_eq!(min_chunk_length(&HeaderMap::new()), None);
    }

    #[test]
    fn chunks_cover_the_blob_and_ranges_are_inclusive() {
        assert_eq!(
            chunks(10, 4).collect::<Vec<_>>(),
            vec![(0, 4), (4, 4), (8, 2)]
        );
        assert_eq!(chunks(8, 4).collect::<Vec<_>>(), vec![(0, 4), (4, 4)]);
        assert_eq!(chunks(0, 4).count(), 0);
        assert_eq!(chunks(3, 0).count(), 3, "a zero length counts as one byte");
        assert_eq!(content_range(0, 4), "0-3");
        assert_eq!(content_range(8, 2), "8-9");
        assert_eq!(content_range(5, 1), "5-5");
    }

    #[test]
    fn the_registrys_range_says_how_much_it_holds() {
        assert_eq!(received(&headers(&[("Range", "0-1023")])), Some(1024));
        assert_eq!(received(&headers(&[("range", "bytes=0-9")])), Some(10));
        assert_eq!(received(&headers(&[("Range", "0-0")])), Some(1));
        assert_eq!(received(&headers(&[("Range", "5-9")])), None);
        assert_eq!(received(&headers(&[("Range", "0-x")])), None);
        assert_eq!(received(&HeaderMap::new()), None);
    }
}
