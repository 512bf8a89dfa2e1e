//! Deduplication memory: which (source, id) pairs were already counted.
//!
//! Each remembered event costs a 128-bit XXH3 fingerprint of its (source, id), its
//! event time in whole seconds and a 32-bit hash of its content. That is 24 bytes of
//! key and value, stored as 4-byte words so the hash table adds no padding, plus one
//! control byte. The table doubles when seven eighths full, so measured totals run from about
//! 29 to 57 bytes per id depending on where it is in that cycle. The content hash
//! tells a true repeat from a reused id with other data. The fingerprint is stable
//! across runs and versions, so snapshots taken by one binary restore in another. Two different events share a fingerprint with probability about
//! n²/2¹²⁹ for n remembered ids.

use burnrate_model::UsageEvent;
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
    packed.iter().rev().fold(0u128, |fingerprint, word| {
        (fingerprint << 32) | u128::from(*word)
    })
}

/// Returns event time in whole seconds since the epoch as stored, clamped to the
/// range of `u32` (1970 to 2106).
fn stored_seconds(time: DateTime<Utc>) -> u32 {
    // NOTE: events before 1970 are remembered as of 1970, so with a watermark before
    // 1970 they count as older than any dedup cutoff and repeats are counted again.
    time.timestamp().clamp(0, i64::from(u32::MAX)) as u32
}

/// Returns a 32-bit hash of everything in an event but its (source, id), to tell a
/// repeat of the same event from a different event under a reused id.
pub fn content_hash(event: &UsageEvent) -> u32 {
    let mut hasher = Xxh3::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(event.kind.cloudevents_type().as_bytes());
    field(&event.time.timestamp_micros().to_le_bytes());
    field(event.account.as_bytes());
    field(event.meter.as_bytes());
    field(event.quantity.normalize().to_string().as_bytes());
    field(event.product.as_deref().unwrap_or("").as_bytes());
    for (name, value) in &event.dimensions {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    // Only events with a vendor cost hash it, so events without one keep the hashes
    // that snapshots written before costs existed hold.
    if let Some(cost) = &event.cost {
        field(cost.amount.normalize().to_string().as_bytes());
        field(cost.currency.code().as_bytes());
    }
    hasher.digest() as u32
}

/// The remembered time and content hash of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    seconds: u32,
    content: u32,
}

/// Remembered event fingerprints with their event time (seconds since the epoch) and
/// content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupMemory {
    seen: FxHashMap<PackedFingerprint, Seen>,
}

impl DedupMemory {
    /// Returns the content hash of `fingerprint` if it was counted at an event time
    /// not before `cutoff`.
    ///
    /// Entries older than `cutoff` count as forgotten even before [`Self::evict_before`]
    /// removes them, so the result does not depend on when eviction last ran.
    pub fn lookup(&self, fingerprint: Fingerprint, cutoff: DateTime<Utc>) -> Option<u32> {
        self.seen
            .get(&pack(fingerprint))
            .filter(|seen| i64::from(seen.seconds) >= cutoff.timestamp())
            .map(|seen| seen.content)
    }

    /// Returns whether `fingerprint` was counted at an event time not before `cutoff`.
    pub fn contains(&self, fingerprint: Fingerprint, cutoff: DateTime<Utc>) -> bool {
        self.lookup(fingerprint, cutoff).is_some()
    }

    /// Remembers a fingerprint at an event time with its content hash.
    pub fn insert(&mut self, fingerprint: Fingerprint, time: DateTime<Utc>, content: u32) {
        let seen = Seen {
            seconds: stored_seconds(time),
            content,
        };
        self.seen.insert(pack(fingerprint), seen);
    }

    /// Returns the remembered time (seconds since the epoch) and content hash of a fingerprint.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<(i64, u32)> {
        self.seen
            .get(&pack(fingerprint))
            .map(|seen| (i64::from(seen.seconds), seen.content))
    }

    /// Forgets fingerprints of events older than `cutoff` and returns them.
    pub fn evict_before(&mut self, cutoff: DateTime<Utc>) -> Vec<Fingerprint> {
        let cutoff_seconds = cutoff.timestamp();
        let evicted: Vec<Fingerprint> = self
            .seen
            .iter()
            .filter(|(_, seen)| i64::from(seen.seconds) < cutoff_seconds)
            .map(|(packed, _)| unpack(packed))
            .collect();
        for fingerprint in &evicted {
            self.seen.remove(&pack(*fingerprint));
        }
        evicted
    }

    /// Restores or removes one entry (used when applying a changelog record).
    pub fn set(&mut self, fingerprint: Fingerprint, remembered: Option<(i64, u32)>) {
        match remembered {
            Some((seconds, content)) => {
                let seen = Seen {
                    seconds: seconds.clamp(0, i64::from(u32::MAX)) as u32,
                    content,
                };
                self.seen.insert(pack(fingerprint), seen);
            }
            None => {
                self.seen.remove(&pack(fingerprint));
            }
        }
    }

    /// Returns every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (Fingerprint, (i64, u32))> + '_ {
        self.seen
            .iter()
            .map(|(packed, seen)| (unpack(packed), (i64::from(seen.seconds), seen.content)))
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
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
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
        assert_eq!(std::mem::size_of::<(PackedFingerprint, Seen)>(), 24);
    }

    #[test]
    fn entries_behind_cutoff_count_as_forgotten() {
        let mut memory = DedupMemory::default();
        let id = fingerprint("openai", "e-1");
        memory.insert(id, utc("2026-05-06T10:00:00Z"), 7);
        assert!(memory.contains(id, utc("2026-05-06T09:00:00Z")));
        assert!(!memory.contains(id, utc("2026-05-06T10:00:01Z")));
        assert_eq!(memory.evict_before(utc("2026-05-06T10:00:01Z")), vec![id]);
        assert!(memory.is_empty());
    }
}
