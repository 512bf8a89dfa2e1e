//! Kafka's default partitioner: `murmur2(key) & 0x7fffffff % partitions`, as the Java
//! client computes it, so that `replay --partitions N` splits accounts among
//! partitions the way a Kafka producer keyed by account does.

/// Returns Kafka's murmur2 hash of `data` (the Java client's `Utils.murmur2`, seed `0x9747b28c`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let length = data.len();
    let mut hash = SEED ^ length as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M);
        hash ^= k;
    }

    let tail = chunks.remainder();
    if !tail.is_empty() {
        if tail.len() >= 3 {
            hash ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            hash ^= u32::from(tail[1]) << 8;
        }
        hash ^= u32::from(tail[0]);
        hash = hash.wrapping_mul(M);
    }

    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^= hash >> 15;
    hash as i32
}

/// Returns the partition Kafka's default partitioner picks for `key` among `partitions`.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_client() {
        // Values of org.apache.kafka.common.utils.Utils.murmur2 from Kafka's UtilsTest.
        let cases = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()), expected, "{key}");
        }
    }

    #[test]
    fn partition_is_within_range() {
        for key in ["acme", "globex", "initech", ""] {
            assert!(partition_for(key.as_bytes(), 6) < 6);
        }
        assert_eq!(partition_for(b"acme", 1), 0);
    }
}
