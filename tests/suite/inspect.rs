//! `mlreg list`, `show` and `diff` on the sample registry, read from its folder and from a build
//! of it: both give the same JSON, and what they say is what the sample's own files say
//! (stages.yaml, lineage.yaml, the shipped files), read here rather than written down.

use crate::util::{Run, copy_dir, repo, run, sha256_hex, tree};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The sample registry copied into a temporary folder and built into `public/` beside it.
struct Sample {
    dir: tempfile::TempDir,
}

impl Sample {
    fn new() -> Sample {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("registry"), &dir.path().join("registry"));
        let built = run(dir.path(), &["build", "registry", "--out", "public"]);
        assert_eq!(built.code, 0, "{}", built.stderr);
        Sample { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `mlreg args... --registry registry`.
    fn folder(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--registry", "registry"]);
        run(self.dir.path(), &all)
    }

    /// `mlreg args... --index public --cache cache`.
    fn index(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--index", "public", "--cache", "cache"]);
        run(self.dir.path(), &all)
    }

    /// `mlreg args... --json` from both sources: they must agree; the JSON they agree on.
    fn both(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (f, i) = (self.folder(&all), self.index(&all));
        assert_eq!(f.code, 0, "{args:?} from the folder: {}", f.stderr);
        assert_eq!(i.code, 0, "{args:?} from the index: {}", i.stderr);
        let f: Value = serde_json::from_str(&f.stdout).unwrap();
        let i: Value = serde_json::from_str(&i.stdout).unwrap();
        assert_eq!(f, i, "{args:?}: the folder and its build disagree");
        f
    }

    /// A YAML file of the sample, as JSON.
    fn yaml(&self, rel: &str) -> Value {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The version folders of an asset, as names.
    fn versions(&self, id: &str) -> BTreeSet<String> {
        std::fs::read_dir(self.path(&format!("registry/{id}")))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Where each stage of an asset points now: the last entry of its stages.yaml for it.
    fn stages(&self, id: &str) -> BTreeMap<String, String> {
        let mut now = BTreeMap::new();
        for entry in self
            .yaml(&format!("registry/{id}/stages.yaml"))
            .as_array()
            .unwrap()
        {
            let stage = entry["stage"].as_str().unwrap().to_string();
            match entry["version"].as_str() {
                Some(v) => now.insert(stage, v.to_string()),
                None => now.remove(&stage),
            };
        }
        now
    }

    /// The registry's stages, in order.
    fn stage_order(&self) -> Vec<String> {
        self.yaml("registry/registry.yaml")["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    /// The metrics of a version's lineage.yaml: (name, data as written) → value.
    fn metrics(&self, id: &str, version: &str) -> BTreeMap<(String, String), f64> {
        self.yaml(&format!("registry/{id}/{version}/lineage.yaml"))["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    (
                        m["name"].as_str().unwrap().to_string(),
                        m["data"].as_str().unwrap().to_string(),
                    ),
                    m["value"].as_f64().unwrap(),
                )
            })
            .collect()
    }

    /// The files a version ships (its folder but its manifests), path → sha256.
    fn shipped(&self, id: &str, version: &str) -> BTreeMap<String, String> {
        tree(&self.path(&format!("registry/{id}/{version}")))
            .into_iter()
            .filter(|(p, _)| !["spec.yaml", "lineage.yaml", "README.md"].contains(&p.as_str()))
            .map(|(p, bytes)| (p, sha256_hex(&bytes)))
            .collect()
    }
}

const MODEL: &str = "models/credit-default";

/// The metrics of a `--json` document as (name, data) → value.
fn metrics_of(list: &Value) -> BTreeMap<(String, String), f64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["data"].as_str().unwrap().to_string(),
                ),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_reads_the_same_from_the_folder_and_from_its_build() {
    let s = Sample::new();
    let order = s.stage_order();

    // Every asset of every kind folder, sorted by id.
    let all = s.both(&["list"]);
    let ids: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = Vec::new();
    for kind in ["components", "data", "environments", "models"] {
        for e in std::fs::read_dir(s.path(&format!("registry/{kind}"))).unwrap() {
            expected.push(format!(
                "{kind}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    expected.sort();
    assert_eq!(ids, expected);

    // The model's stages as its stages.yaml leaves them, in the registry's order.
    let model = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == MODEL)
        .unwrap();
    let now = s.stages(MODEL);
    let stages: Vec<(String, String)> = model["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["stage"].as_str().unwrap().to_string(),
                x["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = order
        .iter()
        .filter_map(|st| Some((st.clone(), now.get(st)?.clone())))
        .collect();
    assert_eq!(stages, expected);
    assert_eq!(model["versions"], s.versions(MODEL).len());
    assert_eq!(model["kind"], "model");
    assert_eq!(model["deprecated"], false);

    // One kind.
    let models = s.both(&["list", "models"]);
    let kinds: BTreeSet<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["model"]));
    assert_eq!(
        models.as_array().unwrap().len(),
        std::fs::read_dir(s.path("registry/models"))
            .unwrap()
            .count()
    );

    // One asset's versions: stages, metrics and job time from the version folders.
    let versions = s.both(&["list", MODEL]);
    let listed: Vec<String> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        s.versions(MODEL)
    );
    for v in versions.as_array().unwrap() {
        let version = v["version"].as_str().unwrap();
        let holding: Vec<String> = order
            .iter()
            .filter(|st| now.get(*st).map(String::as_str) == Some(version))
            .cloned()
            .collect();
        assert_eq!(strings(&v["stages"]), holding, "{version}");
        assert_eq!(metrics_of(&v["metrics"]), s.metrics(MODEL, version));
        let lineage = s.yaml(&format!("registry/{MODEL}/{version}/lineage.yaml"));
        assert_eq!(v["created"], lineage["job"]["finished"], "{version}");
        assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    }

    // People read the same as aligned columns.
    let human = s.index(&["list", MODEL]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    let first = human.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("VERSION") && first.contains("METRICS"),
        "{first}"
    );
    let prod = &now["prod"];
    let row = human
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{prod} ")))
        .unwrap();
    assert!(row.contains("prod"), "{row}");
}

#[test]
fn show_reads_the_same_from_the_folder_and_from_its_build() {
    let s = Sample::new();
    let now = s.stages(MODEL);
    let prod = &now["prod"];

    let shown = s.both(&["show", &format!("{MODEL}@prod")]);
    assert_eq!(shown["id"], MODEL);
    assert_eq!(shown["version"], prod.as_str());
    assert_eq!(shown["stage"], "prod");
    let holding: Vec<String> = s
        .stage_order()
        .into_iter()
        .filter(|st| now.get(st) == Some(prod))
        .collect();
    assert_eq!(strings(&shown["stages"]), holding);
    assert_eq!(
        shown["azure_uri"],
        format!("azureml://registries/contoso-ml/{MODEL}/versions/{prod}")
    );
    let files: BTreeMap<String, String> = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(files, s.shipped(MODEL, prod));
    let lineage = s.yaml(&format!("registry/{MODEL}/{prod}/lineage.yaml"));
    assert_eq!(shown["lineage"]["job"]["name"], lineage["job"]["name"]);
    let measured: BTreeMap<(String, String), f64> = shown["lineage"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["data"]["ref"].as_str().unwrap().to_string(),
                ),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(measured, s.metrics(MODEL, prod));

    // Without `@`: the latest version, and the output says why.
    let latest = s
        .versions(MODEL)
        .into_iter()
        .max_by_key(|v| v.parse::<u64>().unwrap())
        .unwrap();
    let bare = s.both(&["show", MODEL]);
    assert_eq!(bare["version"], latest.as_str());
    assert_eq!(bare["implied"], "no version was given");

    // People read the metrics by dataset, from the index as from the folder.
    let human = s.index(&["show", &format!("{MODEL}@prod")]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert_eq!(
        human.stdout,
        s.folder(&["show", &format!("{MODEL}@prod")]).stdout
    );
    assert!(
        human.stdout.contains(&format!(
            "azureml://registries/contoso-ml/{MODEL}/versions/{prod}"
        )),
        "{}",
        human.stdout
    );
    let ((name, data), value) = s.metrics(MODEL, prod).into_iter().next().unwrap();
    let short = data.trim_start_matches("data/");
    let table = human.stdout.split("\nmetrics\n").nth(1).unwrap();
    let header = table.lines().next().unwrap();
    let column = header.find(short).unwrap();
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap();
    assert!(
        row[column..].starts_with(&value.to_string()),
        "{name} on {short} should be {value}:\n{table}"
    );
}

#[test]
fn diff_of_two_versions_reports_files_and_metric_deltas() {
    let s = Sample::new();
    let diff = s.both(&["diff", &format!("{MODEL}@2"), "@3"]);
    assert_eq!(
        diff,
        s.both(&["diff", &format!("{MODEL}@2"), &format!("{MODEL}@3")])
    );
    assert_eq!(diff["differs"], true);
    assert_eq!(diff["a"]["version"], "2");
    assert_eq!(diff["b"]["version"], "3");

    // Files: what differs between the two version folders, with both hashes.
    let (a, b) = (s.shipped(MODEL, "2"), s.shipped(MODEL, "3"));
    let paths = |key: &str| -> BTreeSet<String> {
        diff["files"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let added: BTreeSet<String> = b.keys().filter(|p| !a.contains_key(*p)).cloned().collect();
    let removed: BTreeSet<String> = a.keys().filter(|p| !b.contains_key(*p)).cloned().collect();
    let changed: BTreeSet<String> = a
        .iter()
        .filter(|(p, h)| b.get(*p).is_some_and(|x| x != *h))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(!changed.is_empty());
    assert_eq!(paths("added"), added);
    assert_eq!(paths("removed"), removed);
    assert_eq!(paths("changed"), changed);
    for f in diff["files"]["changed"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        assert_eq!(f["a"]["sha256"], a[path].as_str());
        assert_eq!(f["b"]["sha256"], b[path].as_str());
    }

    // Metrics: B − A for each metric on each dataset, from the two lineage.yaml files.
    let (ma, mb) = (s.metrics(MODEL, "2"), s.metrics(MODEL, "3"));
    let rows = diff["metrics"].as_array().unwrap();
    let keys: BTreeSet<&(String, String)> = ma.keys().chain(mb.keys()).collect();
    assert_eq!(rows.len(), keys.len());
    for row in rows {
        let key = (
            row["name"].as_str().unwrap().to_string(),
            row["data"].as_str().unwrap().to_string(),
        );
        assert_eq!(row["a"].as_f64(), ma.get(&key).copied(), "{key:?}");
        assert_eq!(row["b"].as_f64(), mb.get(&key).copied(), "{key:?}");
        if let (Some(x), Some(y)) = (ma.get(&key), mb.get(&key)) {
            let delta = row["delta"].as_f64().unwrap();
            assert!(
                (delta - (y - x)).abs() < 1e-9,
                "{key:?}: {delta} vs {}",
                y - x
            );
        }
    }

    // The spec: the description changed, and it is metadata (outside the digest).
    let description = |v: &str| {
        s.yaml(&format!("registry/{MODEL}/{v}/spec.yaml"))["description"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let change = diff["spec"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "description")
        .unwrap();
    assert_eq!(change["a"], description("2"));
    assert_eq!(change["b"], description("3"));
    assert_eq!(change["metadata"], true);

    // People read the delta, rounded as the values were written.
    let human = s.index(&["diff", &format!("{MODEL}@2"), "@3"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    for ((name, data), x) in &ma {
        let Some(y) = mb.get(&(name.clone(), data.clone())) else {
            continue;
        };
        let short = data.trim_start_matches("data/");
        let line = human
            .stdout
            .lines()
            .find(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&name.as_str()) && cells.contains(&short)
            })
            .unwrap_or_else(|| panic!("no row for {name} on {short}:\n{}", human.stdout));
        let delta: f64 = line.split_whitespace().last().unwrap().parse().unwrap();
        assert!((delta - (y - x)).abs() < 1e-9, "{line}");
    }

    // A version against itself: no differences, and still exit 0.
    let same = s.both(&["diff", &format!("{MODEL}@2"), "@2"]);
    assert_eq!(same["differs"], false);
    assert!(same["files"]["changed"].as_array().unwrap().is_empty());
    let human = s.folder(&["diff", &format!("{MODEL}@2"), "@2"]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("no differences"), "{}", human.stdout);
}

#[test]
fn not_found_exits_3_with_what_is_near() {
    let s = Sample::new();
    let versions: Vec<String> = {
        let mut v: Vec<String> = s.versions(MODEL).into_iter().collect();
        v.sort_by_key(|x| x.parse::<u64>().unwrap());
        v
    };
    let cases: [(&[&str], String); 5] = [
        (
            &["show", "models/credit-defualt@1"],
            format!("did you mean `{MODEL}`?"),
        ),
        (
            &["list", "models/credit-defualt"],
            format!("did you mean `{MODEL}`?"),
        ),
        (
            &["show", "models/credit-default@prdo"],
            "did you mean `@prod`?".to_string(),
        ),
        (
            &["diff", "models/credit-default@2", "@99"],
            format!("its versions: {}", versions.join(", ")),
        ),
        (
            &["show", "models/credit-default@prod"],
            String::new(), // found: the control
        ),
    ];
    for (args, hint) in &cases {
        for (from, out) in [("folder", s.folder(args)), ("index", s.index(args))] {
            if hint.is_empty() {
                assert_eq!(out.code, 0, "{args:?} from the {from}: {}", out.stderr);
                continue;
            }
            assert_eq!(out.code, 3, "{args:?} from the {from}: {}", out.stderr);
            assert!(
                out.stderr.contains(hint),
                "{args:?} from the {from}: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{}", out.stdout);
        }
    }
    // A kind that does not exist is a usage error, with the kind it is near.
    let out = s.folder(&["list", "modles"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("did you mean `models`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_registry_with_errors_is_refused_with_its_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &dir.path().join("registry"));
    let spec = dir
        .path()
        .join("registry/models/credit-default/3/spec.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("\ndescription:", "\ndescripton:")).unwrap();
    for args in [
        &["list", "--registry", "registry", "--json"][..],
        &["show", "models/credit-default@2", "--registry", "registry"],
        &[
            "diff",
            "models/credit-default@2",
            "@3",
            "--registry",
            "registry",
        ],
    ] {
        let out = run(dir.path(), args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert!(
            out.stderr.contains("error[E020]") && out.stderr.contains("descripton"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("registry/models/credit-default/3/spec.yaml"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn what_an_index_says_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    copy_dir(&repo().join("registry"), &registry);
    let spec = registry.join("models/credit-default/3/spec.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let evil: String = text
        .lines()
        .map(|l| {
            if l.starts_with("description:") {
                "description: \"clear \\e[2J and \\u202e reversed\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&spec, evil).unwrap();
    let built = run(dir.path(), &["build", "registry", "--out", "public"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let index = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--index", "public", "--cache", "cache"]);
        run(dir.path(), &all)
    };
    for out in [
        index(&["show", "models/credit-default@3"]),
        index(&["diff", "models/credit-default@2", "@3"]),
    ] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            !out.stdout.contains(['\u{1b}', '\u{202e}']),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("\\u{202e}"), "{}", out.stdout);
    }
    // JSON keeps the text as it is: a program reads it, not a terminal.
    let json = index(&["show", "models/credit-default@3", "--json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        v["spec"]["description"]
            .as_str()
            .unwrap()
            .contains('\u{202e}')
    );
}
