//! One module per subcommand.

pub mod ct;
pub mod demo;
pub mod device;
pub mod fed;
pub mod mri;
pub mod phantom;
pub mod train;
