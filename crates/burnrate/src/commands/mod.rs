//! One module per subcommand.

pub mod check_config;
pub mod detect;
pub mod import;
pub mod produce;
pub mod rate;
pub mod replay;
pub mod run;
