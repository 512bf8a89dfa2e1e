//! One module per subcommand.

pub mod check_config;
pub mod rate;
pub mod replay;
