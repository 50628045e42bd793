//! Publishing: from a resolved registry to the files of `docs/protocol.md`.
//!
//! [`plan`] makes every [`index`] document and lists every blob (an `OutputSet`), naming each by
//! its [`hash`], and cuts long lists into pages by [`chunk`]'s rule (which the site shares);
//! [`output`] writes them (temp + rename, the root last); [`against`] compares a
//! planned build with what is already published; [`schema`] describes the manifests for editors;
//! [`target`] sends a build to object storage, and [`gc`] decides what may leave it; [`sign`]
//! signs roots; [`cache`] lets a rebuild skip hashing and rendering what did not change,
//! [`memo`] reading and checking the assets that did not, and [`fresh`] everything when
//! nothing did.
//! The client reads the same [`index`] types and [`hash`]es, and nothing else from here.

pub mod against;
pub mod cache;
pub mod chunk;
pub mod dirs;
pub mod fresh;
pub mod gc;
pub mod hash;
pub mod index;
pub mod memo;
pub mod output;
pub mod plan;
pub mod schema;
pub mod sign;
pub mod target;
