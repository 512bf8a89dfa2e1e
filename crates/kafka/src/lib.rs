//! burnrate's Kafka runtime: a consumer group member that runs one engine per
//! assigned partition, restores and hands off partition state through the state
//! changelog topic, keeps the contracts table from the contracts topic, and
//! publishes aggregates, alerts and dead letters.
