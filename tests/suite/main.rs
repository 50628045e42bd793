//! The integration suite: one binary that runs the real `mlreg` executable on fixture
//! registries, the sample registry, hostile inputs and the Azure ML examples corpus.

mod adversarial;
mod authoring;
mod azure;
mod bounded;
mod browser;
mod build;
mod cli;
mod client;
mod compat;
mod diagnostics;
mod inspect;
mod mlflow;
mod output;
mod promote;
mod publishing;
mod pull;
mod scale;
mod serve;
mod site;
mod storage;
mod trust;
mod util;
