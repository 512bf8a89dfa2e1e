//! Rating: which price applies to a usage event at its event time, and what the
//! event costs, exactly.
//!
//! Rating is a pure function of the contracts table, the rating state (cumulative
//! quantities per billing period and prepaid draw-down) and the event. It does no
//! I/O and reads no clock.

pub mod cost;
pub mod costed;
pub mod rate;
pub mod state;
pub mod table;
pub mod unrated;

pub use cost::{cumulative_cost, CostOverflow};
pub use costed::rate_costed_event;
pub use rate::{rate_event, Charge};
pub use state::{PeriodKey, PoolKey, RatingState};
pub use table::{ContractTable, PriceRef};
pub use unrated::UnratedReason;
