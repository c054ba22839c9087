//! Federated training of reconstruction networks, independent of any deep-learning framework.
//!
//! The federation works on named parameter sets ([`params::ParamSet`]): a model exports its
//! tensors by name, the federation decides per name — through glob-selected parameter groups and
//! their policies ([`strategy`]) — what leaves a site, how the server combines it, and what comes
//! back. FedAvg, FedProx, FedBN, FedFDD and HyperFed are presets of groups ([`presets`]). Sites
//! carry acquisition protocols ([`protocol`]); FedFDD's DCT frequency split is in [`dct`]. The
//! simulation runtime ([`runtime`]) runs sites on threads that exchange exactly the serialisable
//! messages a networked deployment will carry, checkpoints every round and resumes
//! bit-identically; [`results`] writes metrics and comparison tables.

pub mod dct;
pub mod error;
pub mod glob;
pub mod params;
pub mod presets;
pub mod protocol;
pub mod strategy;
pub mod tensorfile;

pub use error::{FedError, Result};
pub use params::{Param, ParamSet};
pub use presets::{FedMethod, PresetOptions, build_method, preset, proximal_gradient};
pub use strategy::{ParamGroup, Policy, Rule, ServerState, Strategy, Weighting};
pub mod results;
pub mod runtime;
pub mod toy;

pub use runtime::{
    LocalTrainConfig, SimSite, SimulationConfig, SimulationOutcome, SiteMetrics, SiteTrainer,
    TrainReport, simulate, simulate_central, simulate_local_only,
};
