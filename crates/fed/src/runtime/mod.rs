//! The federation runtime: site agents, coordinator, messages, checkpoints, and an in-process
//! simulation that runs sites on threads over `std::sync::mpsc` channels.
//!
//! # Protocol
//! Each round `t` (0-based) the coordinator
//! 1. samples `m = max(1, round(C·K))` of the `K` training sites with a generator seeded by
//!    `(seed, t)` (so resuming never replays or skips random draws) — McMahan et al. 2017's client
//!    fraction `C`;
//! 2. sends each sampled site [`ToSite::RoundStart`] with the `Aggregate` tensors of the global
//!    model; the site overwrites its copies of exactly those tensors, trains locally
//!    ([`SiteTrainer::train_round`]) and answers [`ToCoordinator::Update`] with every non-`Local`
//!    tensor (the [`Strategy::upload_view`] of its parameters) and its sample count;
//! 3. aggregates the updates **in site order**, whatever order the threads answered in, so a run
//!    is a deterministic function of its seed;
//! 4. sends every evaluating site [`ToSite::Evaluate`] with the new global tensors (training sites:
//!    the `Aggregate` tensors; evaluation-only sites, which own no trained copy: every server
//!    tensor, including `AggregateNoOverwrite` ones), collects [`ToCoordinator::Metrics`]
//!    (PSNR/SSIM/NMSE on the site's held-out data) and records the round;
//! 5. writes its [`CoordinatorState`] atomically (a safetensors file with a checksum, temporary
//!    file + rename) to the checkpoint directory; each site agent has already written its own
//!    parameters there after evaluating.
//!
//! `Local` tensors never appear in any message: the site agent filters uploads by the strategy and
//! refuses a download that names a tensor it must not overwrite.
//!
//! # Baselines
//! - local-only: the `local` preset (every tensor `Local`; messages carry no tensors);
//! - central: [`simulate_central`] trains one pooled trainer (the caller builds it over the union
//!   of the sites' training data) as the only participant of a FedAvg federation — aggregation of
//!   one site is the identity — and every real site evaluates the pooled model on its own
//!   held-out data as an evaluation-only participant.
//!
//! # Determinism and resume
//! A [`SiteTrainer`] must be a deterministic function of its parameters, its data, the round index
//! and the [`LocalTrainConfig`] (seed its generator with [`round_seed`], reset its optimiser state
//! each round). Then a run resumed from the checkpoint after round `k` ends bit-identical to an

mod agent;
mod checkpoint;
mod coordinator;
mod messages;

pub use crate::tensorfile::write_atomic;
pub use agent::{SiteAgent, SiteRole};
pub use checkpoint::{
    CoordinatorState, RoundRecord, SiteCheckpoint, SiteMetricsRecord, SiteTrainRecord,
    coordinator_checkpoint_path, site_checkpoint_path,
};
pub use coordinator::{
    MessageEvent, NoObserver, RunObserver, SimSite, SimulationConfig, SimulationOutcome,
    sample_clients, simulate, simulate_central, simulate_local_only,
};
pub use messages::{
    LocalTrainConfig, SiteMetrics, SiteTrainer, ToCoordinator, ToSite, TrainReport, round_seed,
};

#[cfg(test)]
mod tests;
