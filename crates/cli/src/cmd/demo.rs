//! `fedrecon demo`: the built-in demonstration on phantom sites.

use anyhow::Result;
use clap::Args as ClapArgs;
use std::path::PathBuf;

/// Arguments of `fedrecon demo`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Output directory.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
}

/// Run the demo.
pub fn run(a: Args) -> Result<()> {
    anyhow::bail!("demo not assembled yet ({})", a.out.display())
}
