//! Reading manifests from disk and decoding them: bounded reads (size, UTF-8, NUL bytes),
//! YAML through `yaml`, decoding through `manifest`/`spec`, single-manifest rules through
//! `validate`, local paths checked on disk, and nested component files followed.
//!
//! The result is a set of checked manifests per asset; `resolve` joins them into a registry.

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::decode::{Cx, Text};
use crate::registry::discover::{self, Layout};
use crate::registry::files::{front_matter, read_bounded, read_regular, shift};
use crate::registry::kind::{self, Kind};
use crate::registry::manifest::{self, AssetMeta, Lineage, RegistryConfig, StageEntry};
use crate::registry::names;
use crate::registry::reference::Scope;
use crate::registry::spec::pipeline::port_uses;
use crate::registry::spec::{self, Expect, Interface, JobComponent, LocalPath, Spec};
use crate::registry::validate::{self, Listing, PathRules};
use crate::registry::yaml::{self, Json, Node, YamlErrorKind};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How deep pipeline components may nest component files.
const MAX_NESTING: usize = 8;

/// What reading has found so far: the diagnostics. (Texts are not kept: a large registry's
/// manifests would all stay in memory; snippets read back the few files diagnostics point into.)
pub struct Loader {
    pub diags: Vec<Diagnostic>,
    /// The shared paths of the version being read.
    shared: Vec<SharedPath>,
    /// How local paths are checked.
    pub paths: PathRules,
}

pub type CardRefs = Vec<(Text, Kind)>;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LoadedVersion {
    pub spec: Option<Spec>,
    #[serde(with = "crate::diag::interned")]
    pub spec_file: Arc<str>,
    pub lineage: Option<Lineage>,
    pub has_card: bool,
    /// spec.yaml and lineage.yaml as JSON, and the card's front matter (`{}` without one):
    /// what `build` publishes.
    pub spec_json: Option<Json>,
    pub lineage_json: Option<Json>,
    pub card_meta: Option<Json>,
    /// The card's sha256 and size as it was read: the blob `build` publishes, hashed here
    /// because its bytes are in hand (the build reads it no second time).
    pub card_blob: Option<(String, u64)>,
    /// References to this registry in the card's front matter, with the kind each must name.
    pub card_refs: CardRefs,
    /// Every file in the version folder, relative to it, sorted.
    pub files: Vec<String>,
    /// What the spec names in the registry's common folder, which the version ships a copy of.
    pub shared: Vec<SharedPath>,
}

/// A path of a spec into the registry's common folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SharedPath {
    /// As the spec writes it (`../../../common/src`).
    pub written: String,
    /// Where the copy goes in the version (`common/src`), which the published spec names.
    pub published: String,
    /// The file or folder on disk.
    pub abs: PathBuf,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LoadedAsset {
    pub kind: Kind,
    pub name: String,
    #[serde(with = "crate::diag::interned")]
    pub dir_file: Arc<str>,
    pub meta: AssetMeta,
    pub stages: Vec<StageEntry>,
    pub versions: BTreeMap<String, Box<LoadedVersion>>,
}

#[derive(Debug)]
pub struct Loaded {
    pub config: Option<RegistryConfig>,
    pub assets: BTreeMap<(Kind, String), LoadedAsset>,
    /// What loading each asset said, for [`Loaded::into_earlier`].
    said: BTreeMap<(Kind, String), Vec<Diagnostic>>,
}

/// Assets of an earlier load of the same registry, with what loading each said: lent to the
/// next load, which takes them instead of reading their folders again. Only for assets whose
/// folders did not change, in a registry where nothing else did (`registry.yaml`, `common/`)
/// and no file came or went: loading an asset reads nothing outside its folder but those.
#[derive(Default)]
pub struct Earlier {
    assets: BTreeMap<(Kind, String), (LoadedAsset, Vec<Diagnostic>)>,
}

impl Earlier {
    /// Assets, with what loading each said, to lend to a load (see `publish::memo`).
    pub fn of(
        assets: impl IntoIterator<Item = ((Kind, String), (LoadedAsset, Vec<Diagnostic>))>,
    ) -> Earlier {
        Earlier {
            assets: assets.into_iter().collect(),
        }
    }
}

impl Loaded {
    /// Every asset, with what loading it said.
    pub fn checked(&self) -> impl Iterator<Item = (&(Kind, String), &LoadedAsset, &[Diagnostic])> {
        self.assets
            .iter()
            .filter_map(|(key, asset)| Some((key, asset, self.said.get(key)?.as_slice())))
    }

    /// The assets not `changed`, to lend to the next load (`serve` rebuilding after an edit).
    pub fn into_earlier(mut self, changed: impl Fn(Kind, &str) -> bool) -> Earlier {
        let assets = std::mem::take(&mut self.assets)
            .into_iter()
            .filter(|((kind, name), _)| !changed(*kind, name))
            .filter_map(|(key, asset)| {
                let said = self.said.remove(&key)?;
                Some((key, (asset, said)))
            })
            .collect();
        Earlier { assets }
    }
}

impl LoadedAsset {
    /// Why `version` is deprecated, if it is: its own entry in `deprecated_versions`, else the
    /// whole asset's deprecation.
    pub fn deprecation(&self, version: &str) -> Option<&str> {
        self.meta
            .deprecated_versions
            .iter()
            .find(|(v, _)| v.value == version)
            .map(|(_, d)| d.reason.as_str())
            .or_else(|| self.meta.deprecated.as_ref().map(|d| d.reason.as_str()))
    }
}

impl Loader {
    pub fn new(paths: PathRules) -> Self {
        Loader {
            paths,
            diags: Vec::new(),
            shared: Vec::new(),
        }
    }

    /// Read a text file with every guard: size limit, UTF-8, no NUL byte.
    pub fn read_text(&mut self, abs: &Path, file: &Arc<str>) -> Option<Arc<str>> {
        self.read_listed(abs, file, false)
    }

    /// `read_text`, of a file its folder's walk `listed` as a regular file (or not): see
    /// `files::read_regular`.
    fn read_listed(&mut self, abs: &Path, file: &Arc<str>, listed: bool) -> Option<Arc<str>> {
        let read = if listed { read_regular } else { read_bounded };
        read(abs, file).map_err(|d| self.diags.push(d)).ok()
    }

    /// Read and parse a YAML file.
    pub fn yaml(&mut self, abs: &Path, file: &Arc<str>) -> Option<(Arc<str>, Node)> {
        self.yaml_listed(abs, file, false)
    }

    /// `yaml`, of a file its folder's walk `listed` as a regular file (or not).
    fn yaml_listed(
        &mut self,
        abs: &Path,
        file: &Arc<str>,
        listed: bool,
    ) -> Option<(Arc<str>, Node)> {
        let text = self.read_listed(abs, file, listed)?;
        match yaml::parse(&text) {
            Ok(node) => Some((text, node)),
            Err(e) => {
                let code = match e.kind {
                    YamlErrorKind::Syntax => codes::YAML_SYNTAX,
                    YamlErrorKind::DuplicateKey => codes::DUPLICATE_KEY,
                    YamlErrorKind::Limit => codes::YAML_LIMIT,
                };
                let mut d = Diagnostic::new(code, Some(Loc::at(file, e.pos)), e.message);
                if code == codes::YAML_LIMIT {
                    d = d.help(format!(
                        "manifests are limited to {} levels of nesting and {} nodes after alias expansion",
                        yaml::MAX_DEPTH,
                        yaml::MAX_NODES
                    ));
                }
                self.diags.push(d);
                None
            }
        }
    }

    /// Read the YAML file `rel` of the registry (`listed` as a regular file, or not) and
    /// decode it with `decoder`.
    fn decode<T>(
        &mut self,
        root: &Path,
        display: &str,
        rel: &str,
        listed: bool,
        decoder: impl FnOnce(&mut Cx, &Node) -> T,
    ) -> Option<T> {
        let file = discover::shown(display, rel);
        let (text, node) = self.yaml_listed(&root.join(rel), &file, listed)?;
        Some(decoder(&mut Cx::new(file, text, &mut self.diags), &node))
    }

    pub fn load_registry(&mut self, root: &Path, display: &str) -> Loaded {
        self.load_registry_after(root, display, Earlier::default())
    }

    /// [`Loader::load_registry`], taking the assets `earlier` lends instead of reading them.
    pub fn load_registry_after(
        &mut self,
        root: &Path,
        display: &str,
        mut earlier: Earlier,
    ) -> Loaded {
        let layout: Layout = discover::discover(root, display, &mut self.diags);
        let config_file = discover::shown(display, "registry.yaml");
        let config = if layout.has_registry_yaml {
            self.decode(
                root,
                display,
                "registry.yaml",
                false,
                manifest::registry_config,
            )
            .flatten()
        } else {
            self.diags.push(
                Diagnostic::new(
                    codes::MISSING_REGISTRY_YAML,
                    Some(Loc::file(&config_file)),
                    "the registry has no registry.yaml",
                )
                .help("create it with at least `name: <registry-name>`"),
            );
            None
        };
        let reg_name = config
            .as_ref()
            .and_then(|c| c.name.as_ref())
            .map(|n| n.value.clone());
        // Stages and labels: what `@<name>` may say.
        let stages: Vec<String> = config
            .as_ref()
            .map(|c| c.selectors())
            .unwrap_or_else(|| kind::DEFAULT_STAGES.iter().map(|s| s.to_string()).collect());
        let scope = Scope {
            registry: reg_name.as_deref(),
            stages: &stages,
        };
        // Assets are independent: load them in parallel, each into its own Loader, and merge
        // in the layout's (sorted) order so that the result does not depend on scheduling.
        let paths = self.paths;
        let jobs: Vec<_> = layout
            .assets
            .iter()
            .map(|key| (key, earlier.assets.remove(key)))
            .collect();
        let loaded: Vec<(Vec<Diagnostic>, Option<LoadedAsset>)> = jobs
            .into_par_iter()
            .map(|((kind, name), lent)| {
                if let Some((asset, said)) = lent {
                    return (said, Some(asset));
                }
                let mut sub = Loader::new(paths);
                let asset = discover::asset(root, &layout, display, *kind, name, &mut sub.diags)
                    .map(|dir| sub.load_asset(root, display, *kind, name, dir, scope));
                (sub.diags, asset)
            })
            .collect();
        let mut assets = BTreeMap::new();
        let mut said = BTreeMap::new();
        for (diags, asset) in loaded {
            self.diags.extend(diags.iter().cloned());
            if let Some(asset) = asset {
                let key = (asset.kind, asset.name.clone());
                said.insert(key.clone(), diags);
                assets.insert(key, asset);
            }
        }
        let names = assets.keys().map(|(kind, name)| (*kind, name.as_str()));
        discover::collisions(names, display, &mut self.diags);
        Loaded {
            config,
            assets,
            said,
        }
    }

    fn load_asset(
        &mut self,
        root: &Path,
        display: &str,
        kind: Kind,
        name: &str,
        dir: discover::AssetDir,
        scope: Scope,
    ) -> LoadedAsset {
        let stages = scope.stages;
        let rel = format!("{}/{name}", kind.folder());
        let dir_file = discover::shown(display, &rel);
        if let Some(why) = names::name_problem(kind, name) {
            self.diags.push(Diagnostic::new(
                codes::INVALID_NAME,
                Some(Loc::file(&dir_file)),
                format!("`{name}`: {why}"),
            ));
        }
        if dir.versions.is_empty() {
            self.diags.push(Diagnostic::new(
                codes::NO_VERSIONS,
                Some(Loc::file(&dir_file)),
                format!("{} `{name}` has no versions", kind.singular()),
            ));
        }
        let meta = dir
            .has_asset_yaml
            .then(|| {
                self.decode(
                    root,
                    display,
                    &format!("{rel}/asset.yaml"),
                    false,
                    manifest::asset_meta,
                )
            })
            .flatten()
            .unwrap_or_default();
        let stage_entries = dir
            .has_stages_yaml
            .then(|| {
                self.decode(
                    root,
                    display,
                    &format!("{rel}/stages.yaml"),
                    false,
                    manifest::stage_log,
                )
            })
            .flatten()
            .unwrap_or_default();
        let mut versions = BTreeMap::new();
        for (version, vdir) in dir.versions {
            let vrel = format!("{rel}/{version}");
            let vfile = discover::shown(display, &vrel);
            if let Some(why) = names::version_problem(&version) {
                self.diags.push(Diagnostic::new(
                    codes::INVALID_VERSION,
                    Some(Loc::file(&vfile)),
                    why,
                ));
            } else if stages.contains(&version) {
                self.diags.push(Diagnostic::new(
                    codes::VERSION_IS_LABEL,
                    Some(Loc::file(&vfile)),
                    format!("version `{version}` is spelled like the stage or label `{version}`, so `@{version}` would be ambiguous"),
                ));
            }
            let loaded = self.load_version(root, display, kind, name, &version, vdir, scope);
            versions.insert(version, Box::new(loaded));
        }
        LoadedAsset {
            kind,
            name: name.to_string(),
            dir_file,
            meta,
            stages: stage_entries,
            versions,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn load_version(
        &mut self,
        root: &Path,
        display: &str,
        kind: Kind,
        name: &str,
        version: &str,
        vdir: discover::VersionDir,
        scope: Scope,
    ) -> LoadedVersion {
        let vrel = format!("{}/{name}/{version}", kind.folder());
        let vabs = root.join(&vrel);
        let spec_file = discover::shown(display, &format!("{vrel}/spec.yaml"));
        let mut spec = None;
        let mut spec_json = None;
        if vdir.has_spec {
            let listed = vdir.regular("spec.yaml");
            if let Some((text, node)) =
                self.yaml_listed(&vabs.join("spec.yaml"), &spec_file, listed)
            {
                spec_json = Some(Json::of(&node));
                let mut cx = Cx::new(spec_file.clone(), text, &mut self.diags);
                spec = spec::decode(&mut cx, &node, kind, scope);
                if let Some(s) = &spec {
                    folder_identity(&mut cx, s, name, version);
                }
            }
        } else {
            let alt = vdir.files.iter().find(|f| {
                f.eq_ignore_ascii_case("spec.yml") || f.eq_ignore_ascii_case("spec.yaml")
            });
            let mut d = Diagnostic::new(
                codes::MISSING_SPEC,
                Some(Loc::file(&discover::shown(display, &vrel))),
                format!("version `{version}` has no spec.yaml"),
            );
            if let Some(alt) = alt {
                d = d.help(format!("rename `{alt}` to `spec.yaml`"));
            }
            self.diags.push(d);
        }
        if let Some(s) = &spec {
            let listing = Some(vdir.listing());
            self.spec_paths(
                &vabs,
                display,
                &vrel,
                s,
                "",
                listing,
                scope,
                &mut Vec::new(),
            );
        }
        let shared = std::mem::take(&mut self.shared);
        if !shared.is_empty()
            && let Some(own) = vdir.files.iter().find(|f| f.starts_with("common/"))
        {
            let file = discover::shown(display, &format!("{vrel}/{own}"));
            self.diags.push(
                Diagnostic::new(
                    codes::UNEXPECTED_FILE,
                    Some(Loc::file(&file)),
                    "this version has a `common/` folder of its own, where the copy of the registry's shared files it uses goes",
                )
                .help("rename the version's folder"),
            );
        }
        let lineage = vdir
            .has_lineage
            .then(|| {
                self.decode(
                    root,
                    display,
                    &format!("{vrel}/lineage.yaml"),
                    vdir.regular("lineage.yaml"),
                    |cx, node| {
                        let l = manifest::lineage(cx, node);
                        job_times(cx, &l);
                        (l, Json::of(node))
                    },
                )
            })
            .flatten();
        let (lineage, lineage_json) = match lineage {
            Some((l, json)) => (Some(l), Some(json)),
            None => (None, None),
        };
        if let Some(l) = &lineage {
            for log in &l.logs {
                let lp = LocalPath {
                    path: log.clone(),
                    field: "logs".into(),
                    expect: Expect::File,
                    dockerfile: None,
                    under: None,
                };
                let listing = Some(vdir.listing());
                if let Err(d) = validate::local_path(&vabs, "", &lp, self.paths, listing) {
                    self.diags.push(d);
                }
            }
        }
        let (mut card_meta, mut card_refs, mut card_blob) = (None, Vec::new(), None);
        if vdir.has_card {
            let file = discover::shown(display, &format!("{vrel}/README.md"));
            let listed = vdir.regular("README.md");
            if let Some(text) = self.read_listed(&vabs.join("README.md"), &file, listed) {
                card_blob = Some((
                    crate::publish::hash::sha256(text.as_bytes()),
                    text.len() as u64,
                ));
                (card_meta, card_refs) = self.card(&file, &text);
            }
        }
        LoadedVersion {
            spec,
            spec_file,
            lineage,
            has_card: vdir.has_card,
            spec_json,
            lineage_json,
            card_meta,
            card_blob,
            card_refs,
            files: vdir.files,
            shared,
        }
    }

    /// The card's optional YAML front matter, between `---` lines at the top, and the
    /// references to this registry it holds.
    fn card(&mut self, file: &Arc<str>, text: &Arc<str>) -> (Option<Json>, CardRefs) {
        let Some((start, front)) = front_matter(text) else {
            return (Some(Json::empty_map()), Vec::new());
        };
        match yaml::parse(front) {
            Ok(mut node) => {
                shift(&mut node, text, start);
                let mut cx = Cx::new(file.clone(), text.clone(), &mut self.diags);
                let refs = manifest::card_meta(&mut cx, &node);
                let meta = if node.is_null() {
                    Json::empty_map()
                } else {
                    Json::of(&node)
                };
                (Some(meta), refs)
            }
            Err(e) => {
                let mut pos = e.pos;
                pos.offset += start;
                pos.line += text[..start].matches('\n').count() as u32;
                let code = if e.kind == YamlErrorKind::DuplicateKey {
                    codes::DUPLICATE_KEY
                } else {
                    codes::YAML_SYNTAX
                };
                self.diags.push(Diagnostic::new(
                    code,
                    Some(Loc::at(file, pos)),
                    format!("in the card's front matter: {}", e.message),
                ));
                (None, Vec::new())
            }
        }
    }

    /// Check the local paths of a spec (and of component files it includes, recursively).
    #[allow(clippy::too_many_arguments)]
    pub fn spec_paths(
        &mut self,
        vabs: &Path,
        display: &str,
        vrel: &str,
        spec: &Spec,
        base: &str,
        listing: Option<Listing>,
        scope: Scope,
        stack: &mut Vec<String>,
    ) {
        let mut nested: BTreeMap<String, Interface> = BTreeMap::new();
        for lp in &spec.paths {
            let checked = match validate::local_path(vabs, base, lp, self.paths, listing) {
                Ok(c) => c,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            if let Some(published) = &checked.shared {
                self.shared.push(SharedPath {
                    written: lp.path.value.clone(),
                    published: published.clone(),
                    abs: checked.abs.clone(),
                });
            }
            if !self.paths.exist {
                continue;
            }
            let file = discover::shown(display, &join(vrel, &checked.rel));
            match lp.expect {
                Expect::CondaFile => {
                    if let Some((text, node)) = self.yaml(&checked.abs, &file) {
                        let mut cx = Cx::new(file.clone(), text, &mut self.diags);
                        if let Some(f) = cx.map(&node, "a conda file") {
                            f.texts(&mut cx, "channels");
                        }
                    }
                }
                Expect::Component => {
                    if stack.contains(&checked.rel) || stack.len() >= MAX_NESTING {
                        self.diags.push(Diagnostic::new(
                            codes::LINEAGE_CYCLE,
                            Some(lp.path.loc.clone()),
                            format!(
                                "component file `{}` includes itself (through {})",
                                checked.rel,
                                stack.join(" -> ")
                            ),
                        ));
                        continue;
                    }
                    let Some((text, node)) = self.yaml(&checked.abs, &file) else {
                        continue;
                    };
                    let mut cx = Cx::new(file.clone(), text, &mut self.diags);
                    let Some(inner) = spec::decode_anonymous_component(&mut cx, &node, scope)
                    else {
                        continue;
                    };
                    let inner_base = checked
                        .rel
                        .rsplit_once('/')
                        .map_or("", |(d, _)| d)
                        .to_string();
                    stack.push(checked.rel.clone());
                    self.spec_paths(
                        vabs,
                        display,
                        vrel,
                        &inner,
                        &inner_base,
                        listing,
                        scope,
                        stack,
                    );
                    stack.pop();
                    if let Some(iface) = inner.interface {
                        nested.insert(lp.path.value.clone(), iface);
                    }
                }
                _ => {}
            }
        }
        for (job, component) in &spec.jobs {
            let iface = match component {
                JobComponent::File(t) => nested.get(&t.value),
                JobComponent::Inline(iface) => Some(iface),
                _ => None,
            };
            if let Some(iface) = iface {
                self.diags.extend(port_uses(spec, job, iface));
            }
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, _) => b.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// `name` and `version` in a spec are optional, but when present must match the folders.
fn folder_identity(cx: &mut Cx, spec: &Spec, name: &str, version: &str) {
    if let Some(n) = &spec.name
        && n.value != name
    {
        cx.report(
            Diagnostic::new(
                codes::NAME_MISMATCH,
                Some(n.loc.clone()),
                format!("`name` is `{}`, but the asset folder is `{name}`", n.value),
            )
            .help(format!("write `name: {name}` or leave `name` out")),
        );
    }
    if let Some(v) = &spec.version
        && v.value != version
    {
        cx.report(
            Diagnostic::new(
                codes::VERSION_MISMATCH,
                Some(v.loc.clone()),
                format!(
                    "`version` is `{}`, but the version folder is `{version}`",
                    v.value
                ),
            )
            .help(format!(
                "write `version: \"{version}\"` or leave `version` out"
            )),
        );
    }
}

fn job_times(cx: &mut Cx, l: &Lineage) {
    if let Some(job) = &l.job
        && let (Some(s), Some(f)) = (&job.started, &job.finished)
        && f.value < s.value
    {
        cx.report(Diagnostic::new(
            codes::BAD_TIMES,
            Some(f.loc.clone()),
            format!(
                "the job finished ({}) before it started ({})",
                f.value, s.value
            ),
        ));
    }
}
