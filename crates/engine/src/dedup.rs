//! Deduplication memory: which (source, id) pairs were already counted.
//!
//! Each remembered event costs a 128-bit XXH3 fingerprint of its (source, id) and its
//! event time in whole seconds: 20 bytes of key and value, stored as 4-byte words so
//! the hash table adds no padding, plus one control byte. With the table between
//! half and seven eighths full that is 24 to 42 bytes per id. The fingerprint is
//! stable across runs and versions, so snapshots taken by one binary restore in
//! another. Two different events share a fingerprint with probability about
//! n²/2¹²⁹ for n remembered ids.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::Xxh3;

/// Fingerprint of an event's (source, id).
pub type Fingerprint = u128;

/// Returns the fingerprint of (source, id); the length prefix keeps ("ab", "c") and
/// ("a", "bc") apart.
pub fn fingerprint(source: &str, id: &str) -> Fingerprint {
    let mut hasher = Xxh3::new();
    hasher.update(&(source.len() as u64).to_le_bytes());
    hasher.update(source.as_bytes());
    hasher.update(id.as_bytes());
    hasher.digest128()
}

/// A fingerprint as four 4-byte words, so that a table entry needs no padding
/// (a `u128` would align the entry to 16 bytes).
type PackedFingerprint = [u32; 4];

fn pack(fingerprint: Fingerprint) -> PackedFingerprint {
    [
        fingerprint as u32,
        (fingerprint >> 32) as u32,
        (fingerprint >> 64) as u32,
        (fingerprint >> 96) as u32,
    ]
}

fn unpack(packed: &PackedFingerprint) -> Fingerprint {
    packed
        .iter()
        .rev()
        .fold(0u128, |fingerprint, word| (fingerprint << 32) | u128::from(*word))
}

/// Returns event time in whole seconds since the epoch as stored, clamped to the
/// range of `u32` (1970 to 2106).
fn stored_seconds(time: DateTime<Utc>) -> u32 {
    // NOTE: events before 1970 are remembered as of 1970, so with a watermark before
    // 1970 they count as older than any dedup cutoff and repeats are counted again.
    time.timestamp().clamp(0, i64::from(u32::MAX)) as u32
}

/// Remembered event fingerprints with their event time (seconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupMemory {
    seen: FxHashMap<PackedFingerprint, u32>,
}

impl DedupMemory {
    /// Returns whether `fingerprint` was counted at an event time not before `cutoff`.
    ///
    /// Entries older than `cutoff` count as forgotten even before [`Self::evict_before`]
    /// removes them, so the result does not depend on when eviction last ran.
    pub fn contains(&self, fingerprint: Fingerprint, cutoff: DateTime<Utc>) -> bool {
        self.seen
            .get(&pack(fingerprint))
            .is_some_and(|seconds| i64::from(*seconds) >= cutoff.timestamp())
    }

    /// Remembers a fingerprint at an event time, keeping the later time when it is already known.
    pub fn insert(&mut self, fingerprint: Fingerprint, time: DateTime<Utc>) {
        let seconds = stored_seconds(time);
        self.seen
            .entry(pack(fingerprint))
            .and_modify(|known| *known = (*known).max(seconds))
            .or_insert(seconds);
    }

    /// Returns the remembered time of a fingerprint, in seconds since the epoch.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<i64> {
        self.seen.get(&pack(fingerprint)).map(|seconds| i64::from(*seconds))
    }

    /// Forgets fingerprints of events older than `cutoff` and returns them.
    pub fn evict_before(&mut self, cutoff: DateTime<Utc>) -> Vec<Fingerprint> {
        let cutoff_seconds = cutoff.timestamp();
        let evicted: Vec<Fingerprint> = self
            .seen
            .iter()
            .filter(|(_, seconds)| i64::from(**seconds) < cutoff_seconds)
            .map(|(packed, _)| unpack(packed))
            .collect();
        for fingerprint in &evicted {
            self.seen.remove(&pack(*fingerprint));
        }
        evicted
    }

    /// Restores or removes one entry (used when applying a changelog record).
    pub fn set(&mut self, fingerprint: Fingerprint, seconds: Option<i64>) {
        match seconds {
            Some(seconds) => {
                self.seen.insert(pack(fingerprint), seconds.clamp(0, i64::from(u32::MAX)) as u32);
            }
            None => {
                self.seen.remove(&pack(fingerprint));
            }
        }
    }

    /// Returns every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (Fingerprint, i64)> + '_ {
        self.seen.iter().map(|(packed, seconds)| (unpack(packed), i64::from(*seconds)))
    }

    /// Returns the number of remembered events.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Returns whether no event is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn fingerprint_separates_source_and_id() {
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
        assert_eq!(fingerprint("openai", "e-1"), fingerprint("openai", "e-1"));
    }

    #[test]
    fn packing_round_trips() {
        let id = fingerprint("openai", "e-1");
        assert_eq!(unpack(&pack(id)), id);
        assert_eq!(std::mem::size_of::<(PackedFingerprint, u32)>(), 20);
    }

    #[test]
    fn entries_behind_cutoff_count_as_forgotten() {
        let mut memory = DedupMemory::default();
        let id = fingerprint("openai", "e-1");
        memory.insert(id, utc("2026-05-06T10:00:00Z"));
        assert!(memory.contains(id, utc("2026-05-06T09:00:00Z")));
        assert!(!memory.contains(id, utc("2026-05-06T10:00:01Z")));
        assert_eq!(memory.evict_before(utc("2026-05-06T10:00:01Z")), vec![id]);
        assert!(memory.is_empty());
    }
}
