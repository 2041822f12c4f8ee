//! How a payload's bytes are kept in `payloads`: as a zstd frame, or as they are.
//!
//! Vendor JSON repeats its field names in every record, so a frame at zstd's fastest level is
//! a tenth of the export or less, and compressing costs less than the WAL writing the bytes
//! twice (once to the log, once at its checkpoint). The hash every evidence row records and
//! the chain covers stays the hash of the bytes as collected: compression is how they are
//! kept, not what they are, so `evidence verify`, the chain and an assessor's own check of an
//! exported payload are unchanged.
//!
//! A stored frame that does not decode is reported as a payload that does not match its hash
//! (it is one: its bytes were edited), never as empty evidence.

use std::borrow::Cow;

/// `payloads.encoding` (migration 0018).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// The collected bytes as they are: payloads stored before compression, and ones too
    /// small or too random to shrink.
    Identity,
    /// One zstd frame that records its content size.
    Zstd,
}

impl Encoding {
    pub(super) fn as_sql(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Zstd => "zstd",
        }
    }

    fn from_sql(text: &str) -> Option<Encoding> {
        match text {
            "identity" => Some(Encoding::Identity),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// zstd's fastest standard level: about 2 GB/s on vendor JSON on this project's bench machine,
/// where higher levels would spend more CPU than the bytes they save cost SQLite to write.
const LEVEL: i32 = 1;

/// Below this, a frame's header is a large part of what it saves.
const SMALLEST_COMPRESSED: usize = 256;

/// The largest payload a frame may decode to: the largest export a source may collect
/// (`config::source::MAX_MAX_BYTES`). A frame that claims more was not written by
/// [`encode`], so its memory is never reserved.
pub(super) const LARGEST_PAYLOAD: u64 = 4 << 30;

/// The bytes to store for `payload` and how they are encoded: a zstd frame when that is
/// smaller, else the bytes themselves.
pub(super) fn encode(payload: &[u8]) -> (Encoding, Cow<'_, [u8]>) {
    if payload.len() < SMALLEST_COMPRESSED {
        return (Encoding::Identity, Cow::Borrowed(payload));
    }
    // A compressor that cannot start or a frame that cannot be reserved (out of memory)
    // leaves the bytes as they are: storing them uncompressed is always correct, only larger.
    // (`zstd::bulk` would abort the daemon instead: its contexts and buffers are infallible.)
    let frame = || {
        let mut context = zstd::zstd_safe::CCtx::try_create()?;
        let mut frame = Vec::new();
        frame
            .try_reserve_exact(zstd::zstd_safe::compress_bound(payload.len()))
            .ok()?;
        context.compress(&mut frame, payload, LEVEL).ok()?;
        Some(frame)
    };
    match frame() {
        Some(frame) if frame.len() < payload.len() => (Encoding::Zstd, Cow::Owned(frame)),
        _ => (Encoding::Identity, Cow::Borrowed(payload)),
    }
}

/// Memory for a payload's decoded bytes could not be had (a host without overcommit, a
/// container's limit). Nothing says the payload was edited, so it is not reported as tampered:
/// reading it fails now and is tried again on the next pass.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "not enough memory to decode a stored payload of {bytes} bytes; it is not known to be \
     edited and is read again on the next pass (give the service more memory, or lower the \
     source's `max_bytes`)"
)]
pub(super) struct NoRoom {
    pub(super) bytes: u64,
}

/// The collected bytes of a stored payload; `Ok(None)` when the encoding is unknown or the
/// frame does not decode, within [`LARGEST_PAYLOAD`], to exactly one payload.
pub(super) fn decode<'a>(
    encoding: &str,
    stored: &'a [u8],
) -> Result<Option<Cow<'a, [u8]>>, NoRoom> {
    decode_with(encoding, stored, |capacity| {
        #[cfg(test)]
        if tests::REFUSE_MEMORY.get() {
            return Vec::<u8>::new()
                .try_reserve_exact(usize::MAX)
                .map(|()| Vec::new());
        }
        let mut buffer = Vec::new();
        buffer.try_reserve_exact(capacity).map(|()| buffer)
    })
}

/// [`decode`] with the decoded bytes' buffer from `reserve`: its reservation may fail
/// (`Vec::with_capacity` would abort the daemon instead).
fn decode_with<'a>(
    encoding: &str,
    stored: &'a [u8],
    reserve: impl FnOnce(usize) -> Result<Vec<u8>, std::collections::TryReserveError>,
) -> Result<Option<Cow<'a, [u8]>>, NoRoom> {
    let Some(encoding) = Encoding::from_sql(encoding) else {
        return Ok(None);
    };
    match encoding {
        Encoding::Identity => Ok(Some(Cow::Borrowed(stored))),
        Encoding::Zstd => {
            let Some(size) = frame_size(stored) else {
                return Ok(None);
            };
            let no_room = NoRoom { bytes: size };
            let capacity = usize::try_from(size).map_err(|_| no_room)?;
            let mut buffer = reserve(capacity).map_err(|_| no_room)?;
            // The decoder's own state is a few hundred kilobytes; without them nothing reads.
            let mut context = zstd::zstd_safe::DCtx::try_create().ok_or(no_room)?;
            // Every frame of `stored` is decoded into `buffer`, which holds exactly one
            // payload: a second frame, or one longer than it claims, does not fit and fails.
            Ok(match context.decompress(&mut buffer, stored) {
                Ok(decoded) if decoded == capacity => Some(Cow::Owned(buffer)),
                _ => None,
            })
        }
    }
}

/// The content size a stored frame records, if it is at most [`LARGEST_PAYLOAD`]. It bounds
/// what decoding reserves; `encode` always records it, so a frame without one was not
/// written here.
fn frame_size(stored: &[u8]) -> Option<u64> {
    zstd::zstd_safe::get_frame_content_size(stored)
        .ok()
        .flatten()
        .filter(|size| *size <= LARGEST_PAYLOAD)
}

/// The lowercase hex SHA-256 of the collected bytes of a stored payload, hashed as they are
/// decoded, so checking a payload costs no memory for its bytes (`evidence verify`, and the
/// daemon's check of the chain, whatever a frame claims to hold); `None` when
/// [`decode`] would give `None` (or, on a host out of memory, when the decoder's own few
/// hundred kilobytes cannot be had).
pub(super) fn sha256_hex(encoding: &str, stored: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    use zstd::zstd_safe::{DCtx, InBuffer, OutBuffer};
    let mut hasher = sha2::Sha256::new();
    match Encoding::from_sql(encoding)? {
        Encoding::Identity => hasher.update(stored),
        Encoding::Zstd => {
            let size = frame_size(stored)?;
            let mut context = DCtx::try_create()?;
            let mut chunk = [0_u8; 16 * 1024];
            let mut input = InBuffer::around(stored);
            let mut decoded = 0_u64;
            loop {
                let mut output = OutBuffer::around(&mut chunk[..]);
                let read_before = input.pos();
                // 0: the frame is complete.
                let more = context.decompress_stream(&mut output, &mut input).ok()?;
                let written = output.pos();
                // Neither read nor wrote: it would never end.
                if written == 0 && input.pos() == read_before {
                    return None;
                }
                decoded += written as u64;
                if decoded > size {
                    return None;
                }
                hasher.update(&chunk[..written]);
                if more == 0 {
                    break;
                }
                // Input used up, the frame not complete, nothing more to flush: cut short.
                if input.pos() == stored.len() && written < chunk.len() {
                    return None;
                }
            }
            // Exactly one frame, all of the stored bytes: as `decode` reads them.
            if decoded != size || input.pos() != stored.len() {
                return None;
            }
        }
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    thread_local! {
        /// Set: [`decode`] is refused the memory for what it decodes, as a host out of memory
        /// would refuse it.
        pub(in super::super) static REFUSE_MEMORY: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    fn export(records: usize) -> Vec<u8> {
        let mut text = String::from("{\"value\":[");
        for i in 0..records {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                "{{\"id\":\"{i:08x}\",\"userPrincipalName\":\"user{i}@acme.example\",\"isMfaRegistered\":{}}}",
                i % 3 == 0
            ));
        }
        text.push_str("]}");
        text.into_bytes()
    }

    #[test]
    fn an_export_is_kept_as_a_smaller_frame_that_decodes_to_its_bytes() {
        let payload = export(1_000);
        let (encoding, stored) = encode(&payload);
        assert_eq!(encoding, Encoding::Zstd);
        assert!(
            stored.len() * 5 < payload.len(),
            "{} of {}",
            stored.len(),
            payload.len()
        );
        assert_eq!(
            decode(encoding.as_sql(), &stored).unwrap().as_deref(),
            Some(&payload[..])
        );
    }

    #[test]
    fn hashing_while_decoding_gives_the_hash_of_what_decode_gives() {
        use sha2::Digest as _;
        let payload = export(3_000);
        let (encoding, stored) = encode(&payload);
        assert_eq!(encoding, Encoding::Zstd);
        let expected = hex::encode(sha2::Sha256::digest(&payload));
        assert_eq!(
            sha256_hex("zstd", &stored).as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(
            sha256_hex("identity", &payload).as_deref(),
            Some(expected.as_str())
        );
        // What does not decode has no hash.
        assert_eq!(sha256_hex("zstd", &stored[..stored.len() - 3]), None);
        assert_eq!(sha256_hex("zstd", &payload), None);
        assert_eq!(sha256_hex("gzip", &stored), None);
        // A frame followed by anything is not one payload.
        let mut longer = stored.to_vec();
        longer.extend_from_slice(&stored);
        assert_eq!(
            decode("zstd", &longer).unwrap().as_deref().map(<[u8]>::len),
            None
        );
        assert_eq!(sha256_hex("zstd", &longer), None);
    }

    #[test]
    fn small_or_incompressible_bytes_are_kept_as_they_are() {
        let (encoding, stored) = encode(b"{\"value\": []}");
        assert_eq!(
            (encoding, &stored[..]),
            (Encoding::Identity, &b"{\"value\": []}"[..])
        );
        // Bytes no compressor shrinks (a xorshift stream).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let (encoding, stored) = encode(&noise);
        assert_eq!(encoding, Encoding::Identity);
        assert_eq!(&stored[..], &noise[..]);
    }

    #[test]
    fn an_edited_truncated_or_unknown_encoding_decodes_to_nothing() {
        let payload = export(200);
        let (_, frame) = encode(&payload);
        // Bytes written over a frame (an edit through SQL) are not a frame.
        assert_eq!(decode("zstd", b"{\"value\": []}").unwrap(), None);
        assert_eq!(decode("zstd", &frame[..frame.len() - 4]).unwrap(), None);
        assert_eq!(decode("zstd", &[]).unwrap(), None);
        assert_eq!(decode("gzip", &frame).unwrap(), None);
        let mut flipped = frame.to_vec();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        // A flipped byte either fails to decode or decodes to other bytes, which the
        // payload's hash then refuses; it never decodes to the payload.
        assert_ne!(
            decode("zstd", &flipped).unwrap().as_deref(),
            Some(&payload[..])
        );
    }

    #[test]
    fn a_frame_that_claims_more_than_the_largest_payload_reserves_nothing() {
        // A frame header (magic, descriptor with an 8-byte content size, no window byte
        // needed for a single segment) claiming 5 GiB, with nothing after it.
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        frame.extend_from_slice(&(5_u64 << 30).to_le_bytes());
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&frame)
                .ok()
                .flatten(),
            Some(5 << 30)
        );
        assert_eq!(decode("zstd", &frame).unwrap(), None);
    }

    #[test]
    fn memory_that_cannot_be_had_is_an_error_and_not_a_payload_that_does_not_decode() {
        let payload = export(500);
        let (_, frame) = encode(&payload);
        let refused = || {
            Vec::<u8>::new()
                .try_reserve_exact(usize::MAX)
                .map(|()| Vec::new())
        };
        let error = decode_with("zstd", &frame, |_| refused()).unwrap_err();
        assert_eq!(error.bytes, payload.len() as u64);
        assert!(
            error.to_string().contains("not known to be edited"),
            "{error}"
        );
        // Bytes kept as they are need no memory, and a frame that is no frame still reads as
        // one that does not decode (reserving for it is never tried).
        assert!(
            decode_with("identity", &payload, |_| refused())
                .unwrap()
                .is_some()
        );
        assert_eq!(decode_with("zstd", &payload, |_| refused()).unwrap(), None);
    }

    #[test]
    fn the_largest_payload_is_the_largest_export_a_source_may_collect() {
        assert_eq!(LARGEST_PAYLOAD, crate::config::MAX_MAX_BYTES);
    }
}
