//! `fedrecon`: one binary, one subcommand per user task. Each subcommand reads files and writes
//! files (`.npy`, HDF5, DICOM, PNG) so that it chains with other tools, BART-style.

mod cmd;
mod common;
mod files;

use clap::{Parser, Subcommand};

/// Physics-informed CT and MRI reconstruction.
#[derive(Debug, Parser)]
#[command(name = "fedrecon", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Rasterise a phantom (Shepp–Logan, modified Shepp–Logan, random ellipses) to `.npy`.
    Phantom(cmd::phantom::Args),
    /// CT: projection, back-projection, noise, reconstruction, LoDoPaB evaluation.
    #[command(subcommand)]
    Ct(cmd::ct::Command),
    /// MRI: NUFFT, simulated fastMRI data, zero-filled reconstruction, fastMRI evaluation.
    #[command(subcommand)]
    Mri(cmd::mri::Command),
    /// Run the built-in demonstration on phantom sites and print a quality table.
    Demo(cmd::demo::Args),
    /// Train a reconstruction network (LPD, LEARN, FBPConvNet, VarNet, MoDL) from a run config.
    Train(cmd::train::Args),
    /// Federated training on simulated sites (`fed simulate`, `fed compare`) and the kit of a
    /// Flower deployment across machines (`fed provision`).
    #[command(subcommand)]
    Fed(cmd::fed::Command),
    /// Check a compute device against the CPU reference, or measure its throughput.
    #[command(subcommand)]
    Device(cmd::device::Command),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Phantom(a) => cmd::phantom::run(a),
        Command::Ct(c) => cmd::ct::run(c),
        Command::Mri(c) => cmd::mri::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Fed(c) => cmd::fed::run(c),
        Command::Device(c) => cmd::device::run(c),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
