#![forbid(unsafe_code)]
//! mlreg: a static registry for machine-learning assets.
//!
//! Data flows one way, each stage with its own types:
//!
//! - [`registry`] reads the registry folder: `discover` (which file is what) → `yaml` →
//!   `decode` into `manifest`s and `spec`s → `validate` (rules on one manifest) → `load` (every
//!   manifest of the folder, checked) → `resolve` (references, stages, lineage → `model`).
//! - [`publish`] turns a resolved registry into the index of `docs/protocol.md`: `plan` (the
//!   `index` documents and blobs, named by `hash`), `output` (every write), `against` (the
//!   comparison with what is already published), `schema` (JSON Schemas of the manifests).
//! - [`site`] renders the browsable pages from the same documents.
//! - [`client`] is the workspace side: fetch, verify, cache, resolve and pull.
//! - [`serve`] runs the pipeline into memory behind a loopback server.
//! - [`import`] turns other layouts (Microsoft's azureml-assets) into registry folders.
//! - [`commands`] holds one module per subcommand; [`cli`] their arguments; [`time`] the one
//!   time format of manifests and documents; [`process`] whether another run is still alive.
//!
//! Problems in the user's registry are [`diag::Diagnostic`]s, collected and reported together;
//! only usage and I/O failures stop a run.

pub mod cli;
pub mod client;
pub mod commands;
pub mod diag;
pub mod import;
pub mod process;
pub mod publish;
pub mod registry;
pub mod serve;
pub mod site;
pub mod time;

pub use commands::run;
