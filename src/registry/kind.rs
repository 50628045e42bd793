//! The four kinds of asset a registry holds, and the stages a registry has when it names none.
//! Shared by every stage of reading, by the publisher and by the client.

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    Model,
    Component,
    Environment,
    Data,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Model, Kind::Component, Kind::Environment, Kind::Data];

    /// The top-level folder, also the first word of a reference (`models/x@3`).
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Model => "models",
            Kind::Component => "components",
            Kind::Environment => "environments",
            Kind::Data => "data",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Component => "component",
            Kind::Environment => "environment",
            Kind::Data => "data",
        }
    }

    pub fn from_folder(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.folder() == s)
    }

    pub fn from_singular(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.singular() == s)
    }
}

pub const DEFAULT_STAGES: [&str; 3] = ["dev", "test", "prod"];
