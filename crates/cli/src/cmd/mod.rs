//! One module per subcommand.

pub mod ct;
pub mod demo;
pub mod phantom;
