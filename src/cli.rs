//! Command-line interface: clap types and help text only.
// The doc comments are clap's help text, where `<kind>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The exit statuses of every command, for `--help`, the man page and the README.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the registry has errors (check, build, publish, promote, deprecate; list, show and diff
     on a folder; warnings too with --deny-warnings)
  2  usage or I/O failure (a bad argument, an unreadable folder or URL, a broken download)
  3  not found: no such asset, version, stage or workspace (resolve, pull, list, show, diff,
     promote, deprecate)
  4  moved on: another build or publish wrote the output folder or target while this one ran
     (build, publish); run again";

/// A static registry for machine-learning assets: Azure ML specs in git, checked, built into a
/// static site and JSON index that workspaces fetch.
#[derive(Debug, Parser)]
#[command(name = "mlreg", version, about, max_term_width = 100, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only what was asked for: diagnostics and results, no summaries or progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Colors in human output: auto means on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a registry folder (or lone Azure spec files) and report every problem.
    #[command(after_help = EXIT_STATUS)]
    Check(CheckArgs),
    /// Check the registry, then write the JSON index, blobs and site workspaces fetch.
    ///
    /// Nothing is written when the registry has errors.
    #[command(after_help = EXIT_STATUS)]
    Build(BuildArgs),
    /// Check and build the registry, then publish it to folders or object storage: blobs first,
    /// the root last and only over the root it started from; only what a target lacks is sent.
    #[command(after_help = EXIT_STATUS)]
    Publish(PublishArgs),
    /// Start a new registry: registry.yaml, the kind folders, a README and the CI workflow that
    /// checks pull requests and publishes main.
    #[command(after_help = EXIT_STATUS)]
    Init(InitArgs),
    /// Add a version from an Azure ML CLI v2 spec (as `az ml <kind> create -f` reads it, or as
    /// `az ml <kind> show -o yaml` prints it): the spec, the files it names, a lineage.yaml
    /// and a card to fill in.
    #[command(after_help = EXIT_STATUS)]
    Add(AddArgs),
    /// Move a version into a stage: append to its stages.yaml, only if the registry still
    /// checks (policy and metric gates included), and show it against what the stage runs.
    #[command(after_help = EXIT_STATUS)]
    Promote(PromoteArgs),
    /// Deprecate a version (or a whole asset) with a reason, only if the registry still checks.
    #[command(after_help = EXIT_STATUS)]
    Deprecate(DeprecateArgs),
    /// List the assets of a registry folder or a published registry, or one asset's versions.
    #[command(after_help = EXIT_STATUS)]
    List(ListArgs),
    /// Show one version: spec, files, digest, stages, lineage and metrics.
    #[command(after_help = EXIT_STATUS)]
    Show(ShowArgs),
    /// Compare two versions: spec, files, lineage and metrics.
    #[command(after_help = EXIT_STATUS)]
    Diff(DiffArgs),
    /// Make a minisign key pair to sign the registry's roots with (`trust: keys:` in
    /// registry.yaml lists the public key).
    #[command(after_help = EXIT_STATUS)]
    Keygen(KeygenArgs),
    /// Remove from a publish target what none of its last roots names and is older than the
    /// grace period (`publish: keep:` and `grace:` in registry.yaml).
    #[command(after_help = EXIT_STATUS)]
    Gc(GcArgs),
    /// Resolve a reference (`models/x@prod`, `@latest`, `@3`, `azureml://registries/...`)
    /// against a published registry. Without `@`, the latest version (or, with --workspace,
    /// the version its stage holds).
    #[command(after_help = EXIT_STATUS)]
    Resolve(ResolveArgs),
    /// Download every file of a version, verified, into a folder (with spec.yaml for
    /// `az ml <kind> create -f`).
    #[command(after_help = EXIT_STATUS)]
    Pull(PullArgs),
    /// Build into memory and serve on 127.0.0.1, rebuilding and reloading on change.
    #[command(after_help = EXIT_STATUS)]
    Serve(ServeArgs),
    /// Write a new registry folder from another layout: `mlreg import azureml-assets
    /// path/to/azureml-assets --out registry` (Microsoft's own registry repository).
    #[command(after_help = EXIT_STATUS)]
    Import(ImportArgs),
    /// Print a shell completion script: `mlreg completions bash > ~/.local/share/bash-completion/completions/mlreg`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) of mlreg, or of one of its commands: `mlreg man | man -l -`.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The registry folder.
    #[arg(default_value = "registry")]
    pub dir: PathBuf,

    /// Where to publish: a folder, `file://`, `az://container/prefix` or `s3://bucket/prefix`
    /// (credentials from the usual AZURE_STORAGE_* / AWS_* variables). Repeat for each region.
    /// Without it, the `publish: targets:` of registry.yaml.
    #[arg(long, value_name = "TARGET")]
    pub to: Vec<String>,

    /// Templates that replace the built-in ones, as for `build`.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// A minisign secret key file to sign the root with, as for `build`.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Vec<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to create (it must not exist, or be empty).
    #[arg(default_value = "registry")]
    pub dir: PathBuf,

    /// The registry's name (2-32 of letters, digits, `_` and `-`) [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// What to add: `models/NAME`, `components/NAME`, `environments/NAME` or `data/NAME`.
    pub asset: String,

    /// The Azure ML spec file; the local paths it names are copied beside it.
    pub spec: PathBuf,

    /// The version to create [default: the spec's `version`, else one more than the highest].
    #[arg(long)]
    pub version: Option<String>,

    /// The registry folder.
    #[arg(long, value_name = "DIR", default_value = "registry")]
    pub registry: PathBuf,
}

/// Who is changing the stage log, and why.
#[derive(Debug, Args)]
pub struct EntryArgs {
    /// Who makes the change [default: `git config user.email`].
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,

    /// The day of the change, `YYYY-MM-DD` [default: today, UTC].
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,

    /// Why.
    #[arg(long)]
    pub reason: Option<String>,

    /// The pull request or ticket (`PR #48`).
    #[arg(long = "ref", value_name = "REF")]
    pub ticket: Option<String>,

    /// The registry folder.
    #[arg(long, value_name = "DIR", default_value = "registry")]
    pub registry: PathBuf,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The version to promote: `models/credit-default@4`.
    pub reference: String,

    /// The stage to move it into.
    #[arg(long, value_name = "STAGE")]
    pub to: String,

    /// Who approved (repeat, or separate with commas).
    #[arg(long, value_name = "WHO", value_delimiter = ',')]
    pub approved_by: Vec<String>,

    /// Enter the stage without having been in the one before (needs --reason).
    #[arg(long)]
    pub skip: bool,

    #[command(flatten)]
    pub entry: EntryArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct DeprecateArgs {
    /// The version (`models/credit-default@1`), or the whole asset (`models/credit-default`).
    pub reference: String,

    /// What replaces it: `models/credit-default@3`.
    #[arg(long, value_name = "REF")]
    pub replaced_by: Option<String>,

    #[command(flatten)]
    pub entry: EntryArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// Where `list`, `show` and `diff` read: a registry folder, or a published registry.
#[derive(Debug, Args)]
pub struct ReadFrom {
    /// The registry folder (the default, `registry`, unless --index is given).
    #[arg(long, value_name = "DIR", conflicts_with = "index")]
    pub registry: Option<PathBuf>,

    /// A published registry: a folder, or a `file://`, `http(s)://`, `az://` or `s3://` URL.
    #[arg(long, value_name = "URL")]
    pub index: Option<String>,

    /// The local cache for a published registry (as for `resolve`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,

    /// Public keys a published registry's roots must be signed with (as for `resolve`).
    #[arg(
        long,
        value_name = "KEY",
        env = "MLREG_TRUSTED_KEYS",
        value_delimiter = ','
    )]
    pub trusted_key: Vec<String>,

    /// Print JSON for scripts and pipelines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A kind (`models`), or an asset (`models/credit-default`) for its versions; nothing for
    /// every asset.
    pub what: Option<String>,

    #[command(flatten)]
    pub from: ReadFrom,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The version: `models/credit-default@prod`, `@latest`, `@3`.
    pub reference: String,

    #[command(flatten)]
    pub from: ReadFrom,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first version (`models/credit-default@2`).
    pub a: String,

    /// The second version (`models/credit-default@3`, or `@3` for the same asset).
    pub b: String,

    #[command(flatten)]
    pub from: ReadFrom,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write: PATH.key (the secret key, readable by you only) and PATH.pub.
    #[arg(long, value_name = "PATH", default_value = "mlreg")]
    pub out: PathBuf,

    /// Leave the secret key unencrypted (for a CI secret store that protects it). Otherwise
    /// its password is MLREG_SIGNING_KEY_PASSWORD, or asked for on the terminal.
    #[arg(long)]
    pub no_password: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The registry folder, for the settings of its registry.yaml (when it has one).
    #[arg(default_value = "registry")]
    pub dir: PathBuf,

    /// The target to collect, as for `publish`; repeat for each. Without it, the `publish:
    /// targets:` of registry.yaml.
    #[arg(long, value_name = "TARGET")]
    pub to: Vec<String>,

    /// How many of the last roots stay readable in full [default: `publish: keep:`, or 10].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub keep: Option<u16>,

    /// Only objects older than this go (`30m`, `24h`, `7d`) [default: `publish: grace:`, or 1d].
    #[arg(long, value_name = "DURATION", value_parser = crate::registry::names::duration)]
    pub grace: Option<std::time::Duration>,

    /// Print what would be removed, one path a line, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Debug, Subcommand)]
pub enum ImportFrom {
    /// A new registry from Azure/azureml-assets: asset.yaml, spec, environment.yaml,
    /// model.yaml, description.md.
    AzuremlAssets(AssetsImportArgs),
    /// A model version from an MLflow training run (or a registered model version), added to a
    /// registry: its files and MLmodel, params, metrics per dataset, dataset inputs, source
    /// commit and run as lineage, its description as the card.
    Mlflow(MlflowImportArgs),
}

#[derive(Debug, Args)]
pub struct AssetsImportArgs {
    /// The folder to read (a checkout of the repository, or a part of it).
    pub source: PathBuf,

    /// The registry folder to write; it must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The name of the new registry (registry.yaml `name`).
    #[arg(long, default_value = "azureml-assets")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct MlflowImportArgs {
    /// The run: a run id, a run folder of a file store (`mlruns/<experiment>/<run>`), or
    /// `models:/<name>/<version>` for a registered model version.
    pub run: String,

    /// Where runs are: a tracking server (`http(s)://`; a bearer token from
    /// MLFLOW_TRACKING_TOKEN, as Azure ML's MLflow endpoint takes it) or a file store folder.
    #[arg(long, value_name = "URI", env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,

    /// The registry folder to add the version to.
    #[arg(long, value_name = "DIR", default_value = "registry")]
    pub registry: PathBuf,

    /// The model's name in the registry [default: the registered model's name, or the logged
    /// model's artifact path].
    #[arg(long)]
    pub name: Option<String>,

    /// The version to create [default: one more than the highest there is].
    #[arg(long)]
    pub version: Option<String>,

    /// The artifact path of the model in the run [default: the run's only logged model].
    #[arg(long, value_name = "PATH")]
    pub artifact: Option<String>,

    /// How a registered model's aliases become stages: `champion=prod` (repeat, or separate
    /// with commas). An alias not mapped moves the registry's label of the same name
    /// (`labels:` in registry.yaml), if it has one; else it is listed as skipped.
    #[arg(long, value_name = "ALIAS=STAGE", value_delimiter = ',')]
    pub alias: Vec<String>,

    /// Who the stage entries of mapped aliases are by [default: the run's user].
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (`check`, `build`, ...); without one, the page of mlreg itself.
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The registry folder.
    #[arg(default_value = "registry")]
    pub dir: PathBuf,

    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Templates that replace the built-in ones, as for `build`.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Look at every file every 300 ms instead of waiting for the system to tell of changes:
    /// for folders whose filesystem tells nothing (network mounts, some container mounts).
    #[arg(long)]
    pub poll: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The reference to resolve.
    pub reference: String,

    /// The published registry: a folder, or a `file://`, `http(s)://`, `az://container/prefix`
    /// or `s3://bucket/prefix` URL (credentials from the usual AZURE_STORAGE_* / AWS_* variables).
    #[arg(long, value_name = "URL", env = "MLREG_INDEX")]
    pub index: String,

    /// A workspace of the registry: a reference without `@` takes its stage, and its mirror is
    /// tried first.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,

    /// More copies of the registry, tried in order when the index fails (repeat the option;
    /// in MLREG_MIRRORS, separate them with commas).
    #[arg(long, value_name = "URL", env = "MLREG_MIRRORS", value_delimiter = ',')]
    pub mirror: Vec<String>,

    /// Give up on a request when no byte has come for this many seconds (a stall; a slow but
    /// steady download goes on).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,

    /// Give up on the whole command after this many seconds, however steady it is.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub total_timeout: u64,

    /// A public key (minisign, base64) the registry's roots must be signed with; repeat for
    /// each (in MLREG_TRUSTED_KEYS, separate them with commas). Without it, the keys of the
    /// first signed root seen are pinned in the cache.
    #[arg(
        long,
        value_name = "KEY",
        env = "MLREG_TRUSTED_KEYS",
        value_delimiter = ','
    )]
    pub trusted_key: Vec<String>,

    /// The local cache (default: $MLREG_CACHE, $XDG_CACHE_HOME/mlreg or ~/.cache/mlreg).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,

    /// Print JSON for scripts and pipelines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// The folder to write the version into. It ends up holding exactly the version's files
    /// (and `.mlreg-pull.json`, the record of what was pulled): a version pulled there before
    /// is replaced. With --with-deps, the folder under which each version gets its own
    /// <kind>/<name>/<version>/ folder.
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,

    /// Replace the contents of a non-empty --dest that mlreg did not pull into (with
    /// --with-deps: any such version folder).
    #[arg(long)]
    pub force: bool,

    /// Also pull everything the version needs in this registry, transitively: the versions its
    /// spec names (a pipeline's components, a component's environment) and a model's lineage
    /// environment; the data, base models and training component a lineage names are history
    /// and are not pulled. Every version, the one asked for too, goes to
    /// DEST/<kind>/<name>/<version>/, and the output ends with the `az ml <kind> create`
    /// commands in dependency order (with --quiet, only them; with --json, a list of
    /// {id, version, digest, dest, depends_on, command}, dependencies first).
    #[arg(long)]
    pub with_deps: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The registry folder.
    #[arg(default_value = "registry")]
    pub dir: PathBuf,

    /// The output folder. A non-empty folder mlreg did not create is refused without --force.
    #[arg(long, default_value = "public")]
    pub out: PathBuf,

    /// Write into a non-empty output folder that mlreg did not create.
    #[arg(long)]
    pub force: bool,

    /// A folder of templates that replace the built-in ones of the same name; a template may
    /// also `{% extends "mlreg/<name>" %}` and override single blocks.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// A minisign secret key file to sign the root with, when registry.yaml has `trust:`
    /// (repeat for each; MLREG_SIGNING_KEY may hold them instead, and
    /// MLREG_SIGNING_KEY_PASSWORD their password).
    #[arg(long, value_name = "FILE")]
    pub signing_key: Vec<PathBuf>,

    /// A previous build (folder or http(s) URL): published versions must be unchanged, the
    /// stage log only appended to, and the serial goes up by one.
    #[arg(long, value_name = "PREV")]
    pub against: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// How diagnostics are printed and judged.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The registry folder.
    #[arg(default_value = "registry", conflicts_with = "spec")]
    pub dir: PathBuf,

    /// Check these Azure ML spec files on their own, outside a registry.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub spec: Vec<String>,

    /// The kind of the --spec files (default: from their `$schema`).
    #[arg(long, value_enum, requires = "spec")]
    pub kind: Option<KindArg>,

    /// With --spec: do not require local files (code, conda files, model folders) to exist.
    #[arg(long, requires = "spec")]
    pub no_file_check: bool,

    /// A previous build (folder or http(s) URL) that the registry must stay compatible with:
    /// published versions unchanged, the stage log only appended to.
    #[arg(long, value_name = "PREV", conflicts_with = "spec")]
    pub against: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style messages with a source snippet.
    Human,
    /// One JSON document with every diagnostic.
    Json,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Model,
    Environment,
    Data,
    Component,
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
