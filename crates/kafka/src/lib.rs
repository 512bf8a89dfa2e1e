//! burnrate's Kafka runtime: a consumer group member that runs one engine per
//! assigned partition, restores and hands off partition state through the state
//! changelog topic, keeps the contracts table from the contracts topic, and
//! publishes aggregates, alerts and dead letters.

pub mod bounded_gauge;
pub mod changelog;
mod clients;
pub mod config;
pub mod contracts;
pub mod dead_letter_kind;
pub mod decode;
mod delivery;
mod group;
pub mod health;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub mod runtime;
pub mod schema_registry;
mod spend;

#[cfg(test)]
mod registry_stub;

pub use config::{Guarantee, KafkaConfig, OutputFormat, Topics};
pub use runtime::{run, RunError, RunSettings};
