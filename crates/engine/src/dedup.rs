//! Deduplication memory: which (source, id) pairs were already counted.
//!
//! Each remembered event costs a 128-bit XXH3 fingerprint of its (source, id) and its
//! event time in seconds: 24 bytes of key and value, about 25 bytes with the hash
//! table's control byte at full load. The fingerprint is stable across runs and
//! versions, so snapshots taken by one binary restore in another. Two different
//! events share a fingerprint with probability about n²/2¹²⁹ for n remembered ids.

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

/// Remembered event fingerprints with their event time (seconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupMemory {
    seen: FxHashMap<Fingerprint, i64>,
}

impl DedupMemory {
    /// Returns whether `fingerprint` was counted at an event time not before `cutoff`.
    ///
    /// Entries older than `cutoff` count as forgotten even before [`Self::evict_before`]
    /// removes them, so the result does not depend on when eviction last ran.
    pub fn contains(&self, fingerprint: Fingerprint, cutoff: DateTime<Utc>) -> bool {
        self.seen
            .get(&fingerprint)
            .is_some_and(|seconds| *seconds >= cutoff.timestamp())
    }

    /// Remembers a fingerprint at an event time, keeping the later time when it is already known.
    pub fn insert(&mut self, fingerprint: Fingerprint, time: DateTime<Utc>) {
        let seconds = time.timestamp();
        self.seen
            .entry(fingerprint)
            .and_modify(|known| *known = (*known).max(seconds))
            .or_insert(seconds);
    }

    /// Returns the remembered time of a fingerprint, in seconds since the epoch.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<i64> {
        self.seen.get(&fingerprint).copied()
    }

    /// Forgets fingerprints of events older than `cutoff` and returns them.
    pub fn evict_before(&mut self, cutoff: DateTime<Utc>) -> Vec<Fingerprint> {
        let cutoff_seconds = cutoff.timestamp();
        let evicted: Vec<Fingerprint> = self
            .seen
            .iter()
            .filter(|(_, seconds)| **seconds < cutoff_seconds)
            .map(|(fingerprint, _)| *fingerprint)
            .collect();
        for fingerprint in &evicted {
            self.seen.remove(fingerprint);
        }
        evicted
    }

    /// Restores or removes one entry (used when applying a changelog record).
    pub fn set(&mut self, fingerprint: Fingerprint, seconds: Option<i64>) {
        match seconds {
            Some(seconds) => {
                self.seen.insert(fingerprint, seconds);
            }
            None => {
                self.seen.remove(&fingerprint);
            }
        }
    }

    /// Returns every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (Fingerprint, i64)> + '_ {
        self.seen.iter().map(|(fingerprint, seconds)| (*fingerprint, *seconds))
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
