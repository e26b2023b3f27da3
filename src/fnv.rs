//! FNV-1a, 64 bits: a short, stable digest where no adversary is involved
//! (a lock file's name for an engine, a report part's fingerprint).

/// The FNV-1a digest of `bytes`.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first 48 bits of the FNV-1a digest of `bytes`, as 12 hex digits:
/// a short key safe in a file name.
pub(crate) fn short_key(bytes: impl IntoIterator<Item = u8>) -> String {
    format!("{:012x}", fnv1a(bytes) >> 16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // The reference values of FNV-1a 64.
        assert_eq!(super::fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
