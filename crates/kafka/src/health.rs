//! Liveness and readiness of the process, as the HTTP probes report them.
//!
//! The processing loop calls [`Health::beat`] on every turn, so a loop that hangs
//! (a deadlock, a blocked call without a timeout) turns `/healthz` red once its last
//! heartbeat is older than the liveness timeout. Readiness needs the contracts table's
//! first full load and a consumer group assignment, because events rated before the
//! table is loaded would count as unrated.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Default maximum age of the last heartbeat before the process counts as hung.
pub const DEFAULT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Heartbeat and readiness flags shared by the processing loop and the HTTP server.
#[derive(Debug)]
pub struct Health {
    /// The instant heartbeats are measured from.
    origin: Instant,
    /// Time of the last heartbeat, in milliseconds since `origin`.
    last_beat_millis: AtomicU64,
    liveness_timeout: Duration,
    contracts_loaded: AtomicBool,
    consumer_joined: AtomicBool,
}

/// The reason the process is not ready to serve traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The contracts table has not finished its first full read of the contracts topic.
    #[error("contracts table not loaded yet")]
    ContractsLoading,
    /// The consumer has no partition assignment from the group coordinator.
    #[error("consumer has not joined the consumer group")]
    ConsumerNotJoined,
}

/// A heartbeat older than the liveness timeout, the sign of a hung processing loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("last heartbeat of the processing loop was {age:?} ago, more than the liveness timeout of {timeout:?}")]
pub struct Stale {
    /// Time since the last heartbeat.
    pub age: Duration,
    /// The configured liveness timeout.
    pub timeout: Duration,
}

impl Health {
    /// Creates the health state with a heartbeat at creation time, so the process
    /// counts as live for `liveness_timeout` before the loop's first beat.
    pub fn new(liveness_timeout: Duration) -> Health {
        Health {
            origin: Instant::now(),
            last_beat_millis: AtomicU64::new(0),
            liveness_timeout,
            contracts_loaded: AtomicBool::new(false),
            consumer_joined: AtomicBool::new(false),
        }
    }

    /// Records a heartbeat of the processing loop now.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    /// Records a heartbeat at `now`. An instant before an earlier beat is ignored.
    pub fn beat_at(&self, now: Instant) {
        let millis = self.millis_since_origin(now);
        self.last_beat_millis.fetch_max(millis, Ordering::Relaxed);
    }

    /// Marks the contracts table as fully loaded. It stays loaded: later updates apply
    /// to a table that is already usable.
    pub fn set_contracts_loaded(&self) {
        self.contracts_loaded.store(true, Ordering::Relaxed);
    }

    /// Returns whether the contracts table finished its first full load.
    pub fn contracts_loaded(&self) -> bool {
        self.contracts_loaded.load(Ordering::Relaxed)
    }

    /// Records whether the consumer has a group assignment. Set it to `false` when
    /// the partitions are revoked or lost and to `true` when an assignment arrives.
    pub fn set_consumer_joined(&self, joined: bool) {
        self.consumer_joined.store(joined, Ordering::Relaxed);
    }

    /// Checks that the last heartbeat is at most the liveness timeout old.
    pub fn liveness(&self) -> Result<(), Stale> {
        self.liveness_at(Instant::now())
    }

    /// Checks liveness as of `now`.
    pub fn liveness_at(&self, now: Instant) -> Result<(), Stale> {
        let last_beat = Duration::from_millis(self.last_beat_millis.load(Ordering::Relaxed));
        let age = now
            .saturating_duration_since(self.origin)
            .saturating_sub(last_beat);
        if age > self.liveness_timeout {
            return Err(Stale {
                age,
                timeout: self.liveness_timeout,
            });
        }
        Ok(())
    }

    /// Checks that the contracts table is loaded and the consumer has joined its group.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if !self.contracts_loaded.load(Ordering::Relaxed) {
            return Err(NotReady::ContractsLoading);
        }
        if !self.consumer_joined.load(Ordering::Relaxed) {
            return Err(NotReady::ConsumerNotJoined);
        }
        Ok(())
    }

    fn millis_since_origin(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_health_is_live_but_not_ready() {
        let health = Health::new(Duration::from_secs(5));
        assert_eq!(health.liveness(), Ok(()));
        assert_eq!(health.readiness(), Err(NotReady::ContractsLoading));
    }

    #[test]
    fn readiness_needs_contracts_and_assignment() {
        let health = Health::new(Duration::from_secs(5));
        health.set_consumer_joined(true);
        assert_eq!(health.readiness(), Err(NotReady::ContractsLoading));

        health.set_contracts_loaded();
        assert_eq!(health.readiness(), Ok(()));

        health.set_consumer_joined(false);
        assert_eq!(health.readiness(), Err(NotReady::ConsumerNotJoined));
    }

    #[test]
    fn stale_heartbeat_fails_liveness() {
        let health = Health::new(Duration::from_secs(5));
        let start = health.origin;

        health.beat_at(start + Duration::from_secs(10));
        assert_eq!(health.liveness_at(start + Duration::from_secs(15)), Ok(()));

        let error = health
            .liveness_at(start + Duration::from_secs(16))
            .unwrap_err();
        assert_eq!(error.age, Duration::from_secs(6));
        assert!(
            error.to_string().contains("liveness timeout of 5s"),
            "{error}"
        );
    }

    #[test]
    fn older_beat_does_not_move_heartbeat_back() {
        let health = Health::new(Duration::from_secs(5));
        let start = health.origin;
        health.beat_at(start + Duration::from_secs(10));
        health.beat_at(start + Duration::from_secs(3));
        assert_eq!(health.liveness_at(start + Duration::from_secs(14)), Ok(()));
    }
}
