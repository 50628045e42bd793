//! What keeps a large registry's site and index small: split pages, bounded windows, and
//! rebuilds that rewrite only what shows a change. On synthetic registries written here, with
//! the limits of the site (100 assets per list page, 20 matrix rows and 12 assets per kind on
//! the home page, 50 users named on a version page, charts of 20 versions around a version).

use crate::util::{run, run_with, tree};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// A registry of `models` assets with two versions each (a unique tag each, so the tag facet
/// has more values than the filters offer), one model `deep` with `deep` versions, and an
/// environment and a data asset every model version uses. Versions 1 are in dev, so every asset is in the
/// workspace matrix.
fn synthetic(dir: &Path, models: usize, deep: usize) {
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "registry.yaml",
        "name: scale\nstages: [dev, test, prod]\nworkspaces:\n  - { name: dev-eastus, stage: dev }\n",
    );
    write(
        "environments/python/1/spec.yaml",
        "image: python:3.11-slim\n",
    );
    write(
        "data/sample/1/spec.yaml",
        "type: uri_file\npath: sample.csv\n",
    );
    write("data/sample/1/sample.csv", "a,b\n1,2\n");
    let version = |id: &str, v: usize, run: &str| {
        write(
            &format!("{id}/{v}/spec.yaml"),
            &format!("path: model.json\ndescription: {id} {v}\ntags: {{ run: {run} }}\n"),
        );
        write(
            &format!("{id}/{v}/model.json"),
            &format!("{{\"v\": {v}}}\n"),
        );
        write(
            &format!("{id}/{v}/lineage.yaml"),
            &format!(
                "environment: environments/python@1\ndata: [{{ ref: data/sample@1, role: training }}]\nmetrics:\n  - {{ name: auc, value: 0.{v:03}, data: data/sample@1 }}\n"
            ),
        );
    };
    for m in 0..models {
        let id = format!("models/m{m:04}");
        version(&id, 1, &format!("r{m}"));
        version(&id, 2, &format!("r{m}"));
        write(
            &format!("{id}/asset.yaml"),
            &format!("tags: {{ run: r{m} }}\n"),
        );
        write(
            &format!("{id}/stages.yaml"),
            "- { stage: dev, version: \"1\", by: bot, date: 2026-01-01 }\n",
        );
    }
    for v in 1..=deep {
        version("models/deep", v, "deep");
    }
}

fn build(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = run(dir, &["build", "registry", "--out", "public"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    tree(&dir.join("public"))
}

/// The local links of an HTML page, resolved against its path.
fn links(page: &str, html: &str) -> Vec<String> {
    let base: Vec<&str> = page.split('/').collect();
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|l| !l.contains("://") && !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts: Vec<&str> = base[..base.len() - 1].to_vec();
            for seg in l.split('#').next().unwrap().split('/') {
                match seg {
                    ".." => {
                        parts.pop();
                    }
                    "." | "" => {}
                    s => parts.push(s),
                }
            }
            parts.join("/")
        })
        .collect()
}

fn page<'f>(files: &'f BTreeMap<String, Vec<u8>>, path: &str) -> &'f str {
    std::str::from_utf8(files.get(path).unwrap_or_else(|| panic!("no {path}"))).unwrap()
}

/// The items of a list page, as (resolved link, label, count shown beside it).
fn items(path: &str, html: &str) -> Vec<(String, String, Option<usize>)> {
    html.lines()
        .filter(|l| l.starts_with("<li><a href=\""))
        .map(|l| {
            let href = links(path, l).remove(0);
            let label = l.split('>').nth(2).unwrap().split('<').next().unwrap();
            let count = l
                .split("<span class=\"muted\">")
                .nth(1)
                .map(|c| c.split('<').next().unwrap().parse().unwrap());
            (href, label.to_string(), count)
        })
        .collect()
}

/// Every version listed as using the version whose pages are in `dir` (`<id>/<version>`),
/// read from `used-by.html` and the range pages it links to, checking them on the way: the
/// total on the index only; each range named by the SHA-256 of its first entry, labelled by its
/// first and last entry and its count; previous and next links that chain the ranges in order;
/// links up to the index and the version; and no other `used-by` page in `dir`. With the
/// ranges' paths, in order (none when the index lists the versions itself).
pub(crate) fn used_by_listing(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &str,
) -> (Vec<String>, Vec<String>) {
    let index = format!("{dir}/used-by.html");
    let html = page(files, &index);
    let listed = items(&index, html);
    let mut pages = BTreeSet::from([index.clone()]);
    let total = |html: &str| -> Option<usize> {
        let h1 = html.split("<h1>").nth(1)?.split("</h1>").next()?;
        let n = h1
            .split("<span class=\"muted\">(")
            .nth(1)?
            .split(')')
            .next()?;
        Some(n.parse().unwrap())
    };
    let version = format!("{dir}/index.html");
    assert!(links(&index, html).contains(&version), "{index}");
    if listed
        .iter()
        .all(|(href, _, _)| !href.contains("/used-by-"))
    {
        let users: Vec<String> = listed.into_iter().map(|(_, label, _)| label).collect();
        assert_eq!(total(html), Some(users.len()), "{index}");
        return (users, Vec::new());
    }
    let mut users = Vec::new();
    for (n, (href, label, count)) in listed.iter().enumerate() {
        let html = page(files, href);
        assert!(pages.insert(href.clone()), "{href} twice");
        assert_eq!(total(html), None, "{href} shows a total");
        assert!(!html.contains("aria-current"), "{href} shows a page number");
        let range: Vec<String> = items(href, html).into_iter().map(|(_, l, _)| l).collect();
        let (first, last) = (range.first().unwrap(), range.last().unwrap());
        let name = &crate::util::sha256_hex(first.as_bytes())[..12];
        assert_eq!(*href, format!("{dir}/used-by-{name}.html"));
        let expected = if range.len() == 1 {
            first.clone()
        } else {
            format!("{first} – {last}")
        };
        assert_eq!(*label, expected, "{href}");
        assert_eq!(*count, Some(range.len()), "{href}");
        let out = links(href, html);
        assert!(out.contains(&index) && out.contains(&version), "{href}");
        let rel = |r: &str| {
            html.split(&format!("rel=\"{r}\" href=\""))
                .nth(1)
                .map(|rest| {
                    links(
                        href,
                        &format!("href=\"{}\"", rest.split('"').next().unwrap()),
                    )
                    .remove(0)
                })
        };
        assert_eq!(
            rel("prev"),
            n.checked_sub(1).map(|p| listed[p].0.clone()),
            "{href}"
        );
        assert_eq!(
            rel("next"),
            listed.get(n + 1).map(|x| x.0.clone()),
            "{href}"
        );
        users.extend(range);
    }
    assert_eq!(total(html), Some(users.len()), "{index}");
    let present: BTreeSet<String> = files
        .keys()
        .filter(|k| k.starts_with(&format!("{dir}/used-by")))
        .cloned()
        .collect();
    assert_eq!(present, pages);
    (users, listed.into_iter().map(|(href, _, _)| href).collect())
}

#[test]
fn large_registries_get_split_pages_every_asset_a_few_clicks_from_home() {
    let t = tempfile::tempdir().unwrap();
    synthetic(&t.path().join("registry"), 230, 130);
    let files = build(t.path());
    let home = page(&files, "index.html");
    // The home page: 12 models, a link to all of them, 20 matrix rows and a link to all.
    assert_eq!(home.matches("<li><a href=\"models/").count(), 12, "{home}");
    assert!(home.contains("All 231 models</a>"), "{home}");
    assert_eq!(home.matches("<tr><th scope=\"row\">").count(), 20);
    assert!(home.contains("<a href=\"workspaces.html\">All 230 assets in a stage</a>"));
    // 231 models: three list pages of 100, 100 and 31, each linking to the others.
    let kind = links("index.html", home)
        .into_iter()
        .find(|l| l.starts_with("browse/kind-model-"))
        .unwrap();
    let second = kind.replace(".html", "-2.html");
    let third = kind.replace(".html", "-3.html");
    for (p, n) in [(&kind, 100), (&second, 100), (&third, 31)] {
        let html = page(&files, p);
        assert_eq!(html.matches("<li><a href=").count(), n, "{p}");
        assert!(html.contains("<nav class=\"pager\""), "{p}");
    }
    assert!(!files.contains_key(&kind.replace(".html", "-4.html")));
    // 230 tag values: the filters offer 50, and the values pages list all.
    let select = home.split("<select name=\"tag\">").nth(1).unwrap();
    let select = select.split("</select>").next().unwrap();
    assert_eq!(select.matches("<option value=\"run=").count(), 50);
    let values = page(&files, "browse/values-tag.html");
    assert_eq!(
        values.matches("<li><a href=\"../browse/tag-run-").count(),
        230
    );
    // 130 versions of one model: two pages of versions, charts of 20 versions on a version's
    // page and of the newest 100 on the asset's.
    let deep = page(&files, "models/deep/index.html");
    assert_eq!(
        deep.matches("<tr><th scope=\"row\"><a href=\"").count(),
        100
    );
    assert!(deep.contains("Metrics across the newest 100 versions"));
    assert_eq!(
        page(&files, "models/deep/index-2.html")
            .matches("<tr><th scope=\"row\"><a href=\"")
            .count(),
        30
    );
    let middle = page(&files, "models/deep/60/index.html");
    assert!(
        middle.contains("This version among versions 50 to 69 of 130"),
        "{middle}"
    );
    // 590 versions use the environment: 50 named on its page, all on range pages of about 200
    // that `used-by.html` links to.
    let env = page(&files, "environments/python/1/index.html");
    assert_eq!(env.matches("<li>used by <a href=").count(), 50);
    assert!(env.contains("All 590 versions that use it</a>"));
    let (users, ranges) = used_by_listing(&files, "environments/python/1");
    let mut expected: Vec<String> = (0..230)
        .flat_map(|m| [format!("models/m{m:04}@1"), format!("models/m{m:04}@2")])
        .chain((1..=130).map(|v| format!("models/deep@{v}")))
        .collect();
    expected.sort();
    assert_eq!(users, expected);
    assert!((2..=10).contains(&ranges.len()), "{ranges:?}");
    // Every asset page is at most two pages away from the home page.
    let mut depth: BTreeMap<String, usize> = BTreeMap::from([("index.html".to_string(), 0)]);
    let mut queue = VecDeque::from(["index.html".to_string()]);
    while let Some(p) = queue.pop_front() {
        let d = depth[&p];
        if d == 3 || !p.ends_with(".html") || !files.contains_key(&p) {
            continue;
        }
        for l in links(&p, page(&files, &p)) {
            if !depth.contains_key(&l) {
                depth.insert(l.clone(), d + 1);
                queue.push_back(l);
            }
        }
    }
    let assets: BTreeSet<&String> = files
        .keys()
        .filter(|k| k.starts_with("models/") && k.matches('/').count() == 2)
        .filter(|k| k.ends_with("/index.html"))
        .collect();
    assert_eq!(assets.len(), 231);
    for a in assets {
        assert!(
            depth.get(a).is_some_and(|d| *d <= 3),
            "{a} is not within three clicks"
        );
    }
}

/// Adding a version rewrites its asset's pages, its neighbours' pages (their charts), what it
/// uses, the lists that show its asset, and the registry-wide pages; no page of another asset.
#[test]
fn adding_a_version_rewrites_only_the_pages_that_show_it() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    synthetic(&reg, 150, 40);
    let before = build(t.path());
    // A new version of one model, copied from its version 2.
    let from = reg.join("models/m0042/2");
    let to = reg.join("models/m0042/3");
    std::fs::create_dir_all(&to).unwrap();
    for f in ["spec.yaml", "model.json", "lineage.yaml"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let after = build(t.path());
    let changed: BTreeSet<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .filter(|k| !k.starts_with("blobs/"))
        .collect();
    let expected = |p: &str| {
        p.starts_with("models/m0042/")
            || p.starts_with("assets/models/m0042")
            || p == "compare/models/m0042.html"
            || p.starts_with("environments/python/1/")
            || p.starts_with("assets/environments/python")
            || p.starts_with("data/sample/1/")
            || p.starts_with("assets/data/sample")
            || p.starts_with("bins/")
            || p.starts_with("usedby/")
            || p.starts_with("snapshots/")
            || p.starts_with("search/")
            || p.starts_with("browse/")
            || [
                "index.html",
                "search.html",
                "registry.json",
                "feed.xml",
                "feed.json",
                ".mlreg-output.json",
            ]
            .contains(&p)
    };
    let unexpected: Vec<&&String> = changed.iter().filter(|p| !expected(p)).collect();
    assert!(unexpected.is_empty(), "rewritten: {unexpected:?}");
    // Of the lists, only the pages that show this asset changed: its kind's first page, its
    // tag's page, the dev stage's first page.
    let browse: Vec<&&String> = changed
        .iter()
        .filter(|p| p.starts_with("browse/"))
        .collect();
    assert!(browse.len() <= 3, "{browse:?}");
    assert!(changed.contains(&"models/m0042/3/index.html".to_string()));
    assert!(changed.contains(&"models/m0042/2/index.html".to_string()));
    // No other model's page, and not a page of the deep model.
    assert!(!changed.iter().any(|p| p.starts_with("models/m0041/")));
    assert!(!changed.iter().any(|p| p.starts_with("models/deep/")));
    // Exactly these pages: the model's five, the three of each used version (its page, the
    // index of its users with their total, and the one range of 340 users that now lists the
    // new version, which a page of its own did before: the others do not move), the three lists
    // that show the model, and the home page.
    let pages: BTreeSet<&str> = changed
        .iter()
        .filter(|p| p.ends_with(".html"))
        .map(|p| p.as_str())
        .filter(|p| !p.starts_with("browse/"))
        .collect();
    let range_of = |dir: &str| -> &str {
        let listing: Vec<&String> = after
            .keys()
            .filter(|k| k.starts_with(&format!("{dir}/used-by-")))
            .filter(|k| page(&after, k).contains(">models/m0042@3</a>"))
            .collect();
        assert_eq!(listing.len(), 1, "{listing:?}");
        assert!(before.contains_key(listing[0]), "{}", listing[0]);
        listing[0]
    };
    let mut expected: BTreeSet<&str> = [
        "compare/models/m0042.html",
        "data/sample/1/index.html",
        "data/sample/1/used-by.html",
        "environments/python/1/index.html",
        "environments/python/1/used-by.html",
        "index.html",
        "models/m0042/1/index.html",
        "models/m0042/2/index.html",
        "models/m0042/3/index.html",
        "models/m0042/index.html",
    ]
    .into();
    expected.extend([range_of("data/sample/1"), range_of("environments/python/1")]);
    assert_eq!(pages, expected);
}

/// The files of an incremental build equal a clean build's: every file the clean build has,
/// byte for byte (the root up to its serial), and besides them only content-addressed files
/// earlier builds keep.
fn assert_same_site(incremental: &Path, clean: &Path, step: &str) {
    let (a, b) = (tree(incremental), tree(clean));
    let root = |files: &BTreeMap<String, Vec<u8>>| {
        let mut r: serde_json::Value = serde_json::from_slice(&files["registry.json"]).unwrap();
        r.as_object_mut().unwrap().remove("serial");
        r
    };
    assert_eq!(root(&a), root(&b), "{step}: registry.json");
    for (path, bytes) in &b {
        if [".mlreg-output.json", "registry.json"].contains(&path.as_str()) {
            continue;
        }
        assert!(
            a.get(path) == Some(bytes),
            "{step}: {path} differs from a clean build's"
        );
    }
    for path in a.keys().filter(|p| !b.contains_key(*p)) {
        let kept = ["blobs/", "snapshots/", "bins/", "usedby/"]
            .iter()
            .any(|p| path.starts_with(p))
            || (path.starts_with("assets/") && path.matches('/').count() == 3);
        assert!(kept, "{step}: {path} is left over from an earlier build");
    }
}

/// A copy of the sample registry at `<tmp>/registry`, and `<tmp>/templates` whose
/// version.html is `template`.
fn sample_with_template(template: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    crate::util::copy_dir(&crate::util::repo().join("registry"), &reg);
    let templates = t.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("version.html"), template).unwrap();
    (t, reg, templates)
}

/// `mlreg build registry --out OUT --templates templates` in `dir`, with the build cache of
/// each output folder in its own folder, `dir/caches/OUT`, unless `env` names one.
fn build_cached(dir: &Path, out: &str, extra: &[&str], env: &[(&str, &str)]) -> crate::util::Run {
    let cache = dir.join("caches").join(out);
    let mut args = vec![
        "build",
        "registry",
        "--out",
        out,
        "--templates",
        "templates",
    ];
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "MLREG_CACHE") {
        env.push(("MLREG_CACHE", cache.to_str().unwrap()));
    }
    run_with(dir, &args, &env, std::time::Duration::from_secs(120))
}

/// After each kind of edit (cards, front matter that links elsewhere, stage logs, asset and
/// registry settings, templates, a new version, a large file, the cache itself or a page
/// edited by hand), a rebuild with the build cache gives exactly what a clean build gives.
#[test]
fn incremental_builds_equal_clean_builds_after_every_kind_of_edit() {
    let (t, reg, templates) = sample_with_template(
        "{% extends \"mlreg/version.html\" %}{% block title %}v {{ v.id }}{% endblock title %}",
    );
    // A new model with a large file, whose hash the cache keeps.
    let big = reg.join("models/big/1");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("spec.yaml"), "path: weights.bin\n").unwrap();
    std::fs::write(big.join("weights.bin"), vec![7u8; 200 * 1024]).unwrap();
    std::fs::write(big.join("README.md"), "# big\n\nA large file.\n").unwrap();
    // Each output folder with its own cache folder; the clean builds' is emptied each time.
    let caches = t.path().join("caches");
    let build = |out: &str| {
        let r = build_cached(t.path(), out, &[], &[]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        r.stdout + &r.stderr
    };
    let mut step = 0;
    let mut check = |what: &str| -> String {
        step += 1;
        let summary = build("incremental");
        let _ = std::fs::remove_dir_all(t.path().join("clean"));
        let _ = std::fs::remove_dir_all(caches.join("clean"));
        build("clean");
        assert_same_site(&t.path().join("incremental"), &t.path().join("clean"), what);
        format!("{step}: {summary}")
    };
    check("first build");
    let unchanged = check("unchanged");
    assert!(
        unchanged.contains("wrote 0 files") && unchanged.contains("from the build cache: "),
        "{unchanged}"
    );
    let edit = |rel: &str, f: &dyn Fn(String) -> String| {
        let path = reg.join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, f(text)).unwrap();
    };
    edit("models/credit-default/3/README.md", &|s| {
        s + "\nOne more line.\n"
    });
    check("a card's text");
    edit("models/big/1/README.md", &|s| {
        format!("---\ndatasets: [data/credit-sample@latest]\n---\n{s}")
    });
    check("a card's front matter linking to another asset");
    edit("models/iris-classifier/stages.yaml", &|s| {
        s + "- { stage: champion, version: \"1\", by: ana@contoso.example, date: 2026-11-29 }\n"
    });
    check("a label moved");
    edit("environments/sklearn-1.5/asset.yaml", &|s| {
        s.replace("The team's standard", "The standard")
    });
    check("an asset's description");
    edit("models/credit-default/3/spec.yaml", &|s| {
        s.replace("Logistic regression", "A logistic regression")
    });
    check("a published version's description");
    edit("registry.yaml", &|s| {
        s.replace("region: westeurope", "region: northeurope")
    });
    check("a workspace's region");
    std::fs::write(
        templates.join("version.html"),
        "{% extends \"mlreg/version.html\" %}{% block title %}version {{ v.id }}{% endblock title %}",
    )
    .unwrap();
    check("a template");
    // A second version of the big model, which uses the data asset: its used-by list changes.
    let second = reg.join("models/big/2");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("spec.yaml"), "path: weights.bin\n").unwrap();
    std::fs::write(second.join("weights.bin"), vec![8u8; 200 * 1024]).unwrap();
    std::fs::write(
        second.join("lineage.yaml"),
        "data: [{ ref: data/credit-sample@1, role: training }]\n",
    )
    .unwrap();
    check("a new version");
    // Stale caches: one from an earlier build, one that is not a cache, one cut short. (Beside
    // the cache: the skip record, and the file naming the output folder.)
    let builds: Vec<_> = std::fs::read_dir(caches.join("incremental/builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| !p.to_string_lossy().ends_with(".fresh.json"))
        .collect();
    assert_eq!(builds.len(), 1, "{builds:?}");
    let cache = &builds[0];
    // (And the folders' listings, in their own files.)
    let dirs = cache.with_extension("output.dirs");
    for cache in [cache, &cache.with_extension("inputs.dirs"), &dirs] {
        let good = std::fs::read(cache).unwrap();
        edit("models/credit-default/3/README.md", &|s| {
            s + "\nAnd another.\n"
        });
        std::fs::write(cache, &good).unwrap();
        check("a cache from before the last edit");
        for bad in [b"not a cache".to_vec(), good[..good.len() / 2].to_vec()] {
            edit("models/credit-default/3/README.md", &|s| s + "\nAgain.\n");
            std::fs::write(cache, bad).unwrap();
            check("a broken cache");
        }
    }
    // A page edited by hand, to the same size, is made again.
    let page = t
        .path()
        .join("incremental/models/credit-default/3/index.html");
    let len = std::fs::metadata(&page).unwrap().len() as usize;
    std::fs::write(&page, vec![b'x'; len]).unwrap();
    check("a page edited by hand");
    // Once the files have settled, the hash of every file the versions ship comes from the
    // cache...
    // (A file touched, not changed, makes each build run rather than be skipped whole.)
    std::thread::sleep(std::time::Duration::from_millis(2100));
    touch(&reg.join("registry.yaml"));
    check("settled");
    touch(&reg.join("registry.yaml"));
    let cached = check("files cached");
    assert!(!cached.contains("nothing changed"), "{cached}");
    let shipped = shipped_files(&t.path().join("incremental"));
    assert!(shipped > 2, "{shipped}");
    assert!(
        cached.contains(&format!(", {shipped} file hashes")),
        "{shipped}: {cached}"
    );
    // ...until one changes, even to the same size with its old modification time: the build
    // sees the published version changed.
    let weights = big.join("weights.bin");
    let modified = std::fs::metadata(&weights).unwrap().modified().unwrap();
    std::fs::write(&weights, vec![9u8; 200 * 1024]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let refused = build_cached(t.path(), "incremental", &[], &[]);
    let said = refused.stdout + &refused.stderr;
    assert_eq!(refused.code, 1, "{said}");
    assert!(said.contains("models/big@1"), "{said}");
    std::fs::write(&weights, vec![7u8; 200 * 1024]).unwrap();
    check("the large file restored");
    // Once the output's folders have settled, they are kept listed for the sweep...
    std::thread::sleep(std::time::Duration::from_millis(2100));
    touch(&reg.join("registry.yaml"));
    check("folders settled");
    let listed = std::fs::read(&dirs).unwrap();
    let named = |s: &str| listed.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(named("out/models/big/1") && named("index.html"));
    // ...and a file dropped into one of them is still swept: its folder's stamp moved.
    let stray = t.path().join("incremental/models/big/1/stray.html");
    std::fs::write(&stray, "<p>not built</p>").unwrap();
    check("a stray file in a listed folder");
    assert!(!stray.exists());
    // The registry's folders are kept listed too: a version made, and a file removed, in
    // folders listed by the last build move their stamps, and are read again.
    let inputs = std::fs::read(cache.with_extension("inputs.dirs")).unwrap();
    let named = |s: &str| inputs.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(named("registry/models/big/1") && named("README.md"));
    let third = reg.join("models/big/3");
    std::fs::create_dir_all(&third).unwrap();
    std::fs::write(third.join("spec.yaml"), "path: weights.bin\n").unwrap();
    std::fs::write(third.join("weights.bin"), vec![9u8; 1024]).unwrap();
    check("a new version in a listed folder");
    std::fs::remove_file(big.join("README.md")).unwrap();
    check("a file removed from a listed folder");
}

/// A small seeded generator (xorshift64*): the same seed, the same edits.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, paths: &'a [PathBuf]) -> &'a Path {
        &paths[self.below(paths.len())]
    }

    /// One of the versions of the asset folder `asset`.
    fn version(&mut self, asset: &Path) -> String {
        let specs = files_where(asset, |r| r.ends_with("/spec.yaml"));
        let folder = self.pick(&specs).parent().unwrap().file_name().unwrap();
        folder.to_string_lossy().into_owned()
    }
}

/// `text` added at the end of the file `path`.
fn append(path: &Path, text: &str) {
    let mut was = std::fs::read_to_string(path).unwrap();
    was.push_str(text);
    std::fs::write(path, was).unwrap();
}

/// The files under `dir` whose relative path satisfies `keep`, sorted.
fn files_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = tree(dir)
        .into_keys()
        .filter(|rel| keep(rel))
        .map(|rel| dir.join(rel))
        .collect();
    out.sort();
    out
}

/// After a random sequence of edits (seeded: `MLREG_EDIT_SEED`, `MLREG_EDIT_STEPS` long; the
/// defaults here, many seeds in benches/edits.py), a rebuild with the build cache gives exactly
/// what a clean build gives, step after step. The edits are changes the registry allows (cards,
/// front matter linking other assets, manifests, new versions, labels moved, versions
/// deprecated, templates, files touched) and hands in the output folder (pages overwritten,
/// blobs cut short or removed, stray files) or the build cache (a byte flipped), with pauses
/// that let files settle so that the caches' shortcuts are taken.
#[test]
fn random_edit_sequences_keep_incremental_builds_equal_to_clean_ones() {
    let number = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
    };
    let seed = number("MLREG_EDIT_SEED", 13);
    let steps = number("MLREG_EDIT_STEPS", 24);
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (t, reg, templates) = sample_with_template("{% extends \"mlreg/version.html\" %}");
    let (incremental, clean) = (t.path().join("incremental"), t.path().join("clean"));
    let caches = t.path().join("caches");
    let build = |out: &str| {
        let r = build_cached(t.path(), out, &[], &[]);
        assert_eq!(r.code, 0, "seed {seed}: {}{}", r.stdout, r.stderr);
    };
    build("incremental");
    let mut done = Vec::new();
    for step in 0..steps {
        let what = match dice.below(14) {
            0 | 1 => {
                let cards = files_where(&reg, |r| r.ends_with("README.md"));
                let card = dice.pick(&cards);
                append(card, &format!("\nEdited at step {step}.\n"));
                format!("appended to {}", card.display())
            }
            2 => {
                // A manifest's (a version's other files are published, not to be edited).
                let manifests =
                    ["spec", "lineage", "asset", "stages", "registry"].map(|m| format!("{m}.yaml"));
                let yaml = files_where(&reg, |r| {
                    manifests.iter().any(|m| r.rsplit('/').next() == Some(m))
                });
                let file = dice.pick(&yaml);
                append(file, &format!("# step {step}\n"));
                format!("a comment in {}", file.display())
            }
            3 => {
                // A new version of a model or of the data others use: a copy of its last one.
                let assets = [
                    "models/credit-default",
                    "models/iris-classifier",
                    "data/credit-sample",
                ];
                let asset = reg.join(assets[dice.below(assets.len())]);
                let last = std::fs::read_dir(&asset)
                    .unwrap()
                    .filter_map(|e| e.unwrap().file_name().to_str()?.parse::<u32>().ok())
                    .max()
                    .unwrap();
                let new = asset.join((last + 1).to_string());
                crate::util::copy_dir(&asset.join(last.to_string()), &new);
                format!("a new version {}", new.display())
            }
            4 => {
                let all = files_where(&reg, |_| true);
                let file = dice.pick(&all);
                touch(file);
                format!("touched {}", file.display())
            }
            5 => {
                let title =
                    format!("{{% block title %}}step {step} {{{{ v.id }}}}{{% endblock title %}}");
                let body = format!("{{% extends \"mlreg/version.html\" %}}{title}");
                std::fs::write(templates.join("version.html"), body).unwrap();
                format!("a template, at step {step}")
            }
            6 => {
                // By hand in the output: a page or document overwritten to the same size, a
                // blob cut short or removed, or a file dropped in.
                let pages = files_where(&incremental, |r| {
                    r.ends_with(".html")
                        || (r.starts_with("assets/") && r.matches('/').count() == 2)
                });
                let blobs = files_where(&incremental, |r| r.starts_with("blobs/"));
                match dice.below(4) {
                    0 => {
                        let page = dice.pick(&pages);
                        let len = std::fs::metadata(page).unwrap().len() as usize;
                        std::fs::write(page, vec![b'x'; len]).unwrap();
                        format!("overwrote {}", page.display())
                    }
                    1 => {
                        let blob = dice.pick(&blobs);
                        let bytes = std::fs::read(blob).unwrap();
                        std::fs::write(blob, &bytes[..bytes.len() / 2]).unwrap();
                        format!("cut {} short", blob.display())
                    }
                    2 => {
                        let from = if dice.below(2) == 0 { &pages } else { &blobs };
                        let file = dice.pick(from);
                        std::fs::remove_file(file).unwrap();
                        format!("removed {}", file.display())
                    }
                    _ => {
                        let page = dice.pick(&pages);
                        let stray = page.with_file_name(format!("stray-{step}.html"));
                        std::fs::write(&stray, "<p>not built</p>").unwrap();
                        format!("dropped {}", stray.display())
                    }
                }
            }
            7 => {
                // A byte flipped in one of the build cache's files: not used.
                let cached = files_where(&caches.join("incremental"), |_| true);
                let file = dice.pick(&cached);
                let mut bytes = std::fs::read(file).unwrap();
                let at = dice.below(bytes.len().max(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 0x20;
                }
                std::fs::write(file, bytes).unwrap();
                format!("flipped byte {at} of {}", file.display())
            }
            8 => {
                build("incremental");
                "an extra build".to_string()
            }
            9 => {
                // A label moved to a version: pages of other assets show labels too.
                let asset = ["models/credit-default", "models/iris-classifier"][dice.below(2)];
                let version = dice.version(&reg.join(asset));
                let label = ["champion", "challenger"][dice.below(2)];
                let by = "by: bot@contoso.example, date: 2026-11-29";
                append(
                    &reg.join(asset).join("stages.yaml"),
                    &format!("- {{ stage: {label}, version: \"{version}\", {by} }}\n"),
                );
                format!("{label} to {asset}@{version}")
            }
            10 => {
                // A card that had no front matter links to the latest data: its page follows
                // that asset's new versions.
                let bare = files_where(&reg, |r| {
                    r.ends_with("README.md")
                        && r.contains('/')
                        && !r.starts_with("data/credit-sample/")
                });
                let bare: Vec<PathBuf> = bare
                    .into_iter()
                    .filter(|c| !std::fs::read_to_string(c).unwrap().starts_with("---"))
                    .collect();
                if bare.is_empty() {
                    "no card without front matter left".to_string()
                } else {
                    let card = dice.pick(&bare);
                    let text = std::fs::read_to_string(card).unwrap();
                    let linked = format!("---\ndatasets: [data/credit-sample@latest]\n---\n{text}");
                    std::fs::write(card, linked).unwrap();
                    format!(
                        "front matter linking data/credit-sample@latest in {}",
                        card.display()
                    )
                }
            }
            11 => {
                // A version deprecated (once per asset: the key is written whole).
                let asset = ["models/credit-default", "models/iris-classifier"][dice.below(2)];
                let meta = reg.join(asset).join("asset.yaml");
                if std::fs::read_to_string(&meta)
                    .unwrap()
                    .contains("deprecated_versions")
                {
                    format!("{asset} has a deprecated version already")
                } else {
                    let version = dice.version(&reg.join(asset));
                    append(
                        &meta,
                        &format!(
                            "deprecated_versions:\n  \"{version}\": {{ reason: step {step} }}\n"
                        ),
                    );
                    format!("{asset}@{version} deprecated")
                }
            }
            _ => {
                // Time for what was written to settle: the caches' shortcuts apply after it.
                std::thread::sleep(std::time::Duration::from_millis(2100));
                "a pause".to_string()
            }
        };
        done.push(what);
        build("incremental");
        let _ = std::fs::remove_dir_all(&clean);
        let _ = std::fs::remove_dir_all(caches.join("clean"));
        build("clean");
        let said = format!("seed {seed}, after {}", done.join("; then "));
        assert_same_site(&incremental, &clean, &said);
    }
}

/// A card of the registry `reg` given front matter with an unknown key (`colour: red`, a
/// warning): the card, and its text before.
fn warn_in_a_card(reg: &Path) -> (PathBuf, String) {
    let card = reg.join("models/credit-default/3/README.md");
    let text = std::fs::read_to_string(&card).unwrap();
    std::fs::write(&card, format!("---\ncolour: red\n---\n{text}")).unwrap();
    (card, text)
}

/// The file's modification time set to now, its content left alone.
fn touch(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
}

/// A rebuild with nothing changed is skipped whole, reporting what the last build reported;
/// any change to what a build reads or to what it left in the output folder is seen, and the
/// build that follows gives what a clean build gives.
#[test]
fn a_rebuild_with_nothing_changed_is_skipped_and_every_change_is_seen() {
    let (t, reg, templates) = sample_with_template("{% extends \"mlreg/version.html\" %}");
    // A warning, located in a card, which a skipped build reports again.
    let (card, text) = warn_in_a_card(&reg);
    let caches = t.path().join("caches");
    let build =
        |out: &str, extra: &[&str], env: &[(&str, &str)]| build_cached(t.path(), out, extra, env);
    let skipped = |said: &str| said.contains("; nothing changed since the last build");
    let out = t.path().join("public");
    let mut step = 0;
    // A build of `public` that must run (not be skipped), then a clean build to compare with.
    let mut runs = |what: &str, env: &[(&str, &str)]| -> String {
        step += 1;
        let r = build("public", &[], env);
        assert_eq!(r.code, 0, "{what}: {}{}", r.stdout, r.stderr);
        assert!(!skipped(&r.stdout), "{step} {what}: skipped\n{}", r.stdout);
        let _ = std::fs::remove_dir_all(t.path().join("clean"));
        let _ = std::fs::remove_dir_all(caches.join("clean"));
        assert_eq!(build("clean", &[], env).code, 0);
        assert_same_site(&out, &t.path().join("clean"), what);
        r.stdout
    };
    runs("first build", &[]);
    let full = runs("the first rebuild", &[]);
    assert!(full.contains("W096"), "{full}");
    let stamps = |dir: &Path| -> BTreeMap<String, std::time::SystemTime> {
        tree(dir)
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    std::fs::metadata(dir.join(k)).unwrap().modified().unwrap(),
                )
            })
            .collect()
    };
    let before = stamps(&out);
    let again = build("public", &[], &[]);
    assert_eq!(again.code, 0);
    assert!(skipped(&again.stdout), "{}", again.stdout);
    assert_eq!(stamps(&out), before, "a skipped build wrote");
    // The same report, warning and snippet included, and the same counts.
    let report = |said: &str| said.rsplit_once("\nbuilt ").unwrap().0.to_string();
    assert_eq!(report(&again.stdout), report(&full));
    let counts = |said: &str| {
        let line = said.rsplit_once("\nbuilt ").unwrap().1;
        line[..line.find(" removed").unwrap()].to_string()
    };
    assert_eq!(counts(&again.stdout), counts(&full));
    // Judged by this run's flags: the warning fails a build that denies warnings.
    let denied = build("public", &["--deny-warnings"], &[]);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    assert!(
        denied.stdout.contains("nothing written"),
        "{}",
        denied.stdout
    );
    let json = build("public", &["--format", "json"], &[]);
    assert!(json.stdout.contains("\"W096\""), "{}", json.stdout);

    // What a build reads.
    touch(&reg.join("models/credit-default/3/spec.yaml"));
    runs("a source file touched", &[]);
    std::fs::write(&card, format!("{text}\nOne more line.\n")).unwrap();
    let fixed = runs("a card edited", &[]);
    assert!(!fixed.contains("W096"), "{fixed}");
    std::fs::write(reg.join("models/credit-default/.notes"), "a dot-file").unwrap();
    runs("a dot-file added", &[]);
    crate::util::copy_dir(
        &reg.join("models/credit-default/3"),
        &reg.join("models/credit-default/4"),
    );
    runs("a version added", &[]);
    // A published version removed: an error, and nothing is skipped or written.
    std::fs::remove_dir_all(reg.join("models/credit-default/4")).unwrap();
    let refused = build("public", &[], &[]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stdout.contains("E111"), "{}", refused.stdout);
    crate::util::copy_dir(
        &reg.join("models/credit-default/3"),
        &reg.join("models/credit-default/4"),
    );
    runs("the version restored", &[]);
    std::fs::write(
        templates.join("version.html"),
        "{% extends \"mlreg/version.html\" %}{% block title %}v {{ v.id }}{% endblock title %}",
    )
    .unwrap();
    runs("a template edited", &[]);
    let dated = runs(
        "SOURCE_DATE_EPOCH set",
        &[("SOURCE_DATE_EPOCH", "1790000000")],
    );
    assert!(dated.contains("serial"), "{dated}");
    runs("SOURCE_DATE_EPOCH unset", &[]);
    // What a build left.
    let page = out.join("models/credit-default/3/index.html");
    let len = std::fs::metadata(&page).unwrap().len() as usize;
    std::fs::write(&page, vec![b'x'; len]).unwrap();
    runs("a page overwritten", &[]);
    std::fs::remove_file(&page).unwrap();
    runs("a page removed", &[]);
    std::fs::write(out.join("models/credit-default/stray.html"), "<p>stray</p>").unwrap();
    runs("a stray file", &[]);
    assert!(!out.join("models/credit-default/stray.html").exists());
    // The record itself, broken: ignored.
    let record = std::fs::read_dir(caches.join("public/builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".fresh.json"))
        .unwrap();
    let good = std::fs::read(&record).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 2;
    bad[last] ^= 1;
    std::fs::write(&record, &bad).unwrap();
    runs("a broken record", &[]);
    assert!(skipped(&build("public", &[], &[]).stdout));
}

/// A rebuild takes the checked manifests of the assets whose folders did not change from the
/// build cache, and reports what checking them said as a clean build does; a stored asset that
/// is damaged is read and checked again.
#[test]
fn a_rebuild_checks_only_the_assets_that_changed_and_reports_what_a_clean_build_does() {
    let (t, reg, _templates) = sample_with_template("{% extends \"mlreg/version.html\" %}");
    // A warning, located in a card, in an asset the edits below leave alone.
    let (card, text) = warn_in_a_card(&reg);
    let caches = t.path().join("caches");
    let out = t.path().join("public");
    // The report (every diagnostic with its snippet), the number of assets, and how many
    // came from the build cache.
    let parts = |said: &str| -> (String, usize, usize) {
        let (report, line) = said.rsplit_once("\nbuilt ").unwrap();
        let number = |before: &str| -> usize {
            let head = &line[..line.find(before).unwrap_or_else(|| panic!("{line}"))];
            head.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let cached = match line.contains("checked asset") {
            true => number(" checked asset"),
            false => 0,
        };
        (report.to_string(), number(" assets,"), cached)
    };
    let mut step = 0;
    // A build of `public` compared with a clean build: the same site, the same report; and how
    // many assets were checked again.
    let mut build = |what: &str| -> (String, usize, usize) {
        step += 1;
        let r = build_cached(t.path(), "public", &[], &[]);
        assert_eq!(r.code, 0, "{what}: {}{}", r.stdout, r.stderr);
        let _ = std::fs::remove_dir_all(t.path().join("clean"));
        let _ = std::fs::remove_dir_all(caches.join("clean"));
        let clean = build_cached(t.path(), "clean", &[], &[]);
        assert_eq!(clean.code, 0, "{}", clean.stderr);
        assert_same_site(&out, &t.path().join("clean"), what);
        let (report, assets, cached) = parts(&r.stdout);
        let (clean_report, clean_assets, clean_cached) = parts(&clean.stdout);
        assert_eq!(report, clean_report, "{step} {what}");
        assert_eq!((assets, clean_cached), (clean_assets, 0), "{step} {what}");
        (report, assets, assets - cached)
    };
    let (_, assets, checked) = build("first build");
    assert!(assets > 3, "{assets}");
    assert_eq!(checked, assets);
    let (report, _, checked) = build("the first rebuild");
    assert!(report.contains("colour: red"), "{report}");
    assert_eq!(checked, assets, "nothing stored yet");
    let iris = reg.join("models/iris-classifier/1/README.md");
    let iris_text = std::fs::read_to_string(&iris).unwrap();
    std::fs::write(&iris, format!("{iris_text}\nOne more line.\n")).unwrap();
    let (report, _, checked) = build("another asset's card");
    assert!(report.contains("colour: red"), "{report}");
    assert_eq!(checked, 1);
    std::fs::write(&card, format!("---\ncolour: blue\n---\n{text}")).unwrap();
    let (report, _, checked) = build("the card with the warning");
    assert!(report.contains("colour: blue"), "{report}");
    assert_eq!(checked, 1);
    // registry.yaml is read with every asset.
    let registry = reg.join("registry.yaml");
    let config = std::fs::read_to_string(&registry).unwrap();
    std::fs::write(&registry, format!("{config}\n# a comment\n")).unwrap();
    assert_eq!(build("registry.yaml").2, assets);
    // Every stored asset damaged: read and checked again.
    let memo = std::fs::read_dir(caches.join("public/builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "assets"))
        .unwrap();
    for entry in std::fs::read_dir(&memo).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    touch(&iris);
    assert_eq!(build("every stored asset damaged").2, assets);
    touch(&iris);
    assert_eq!(build("stored again").2, 1);
}

/// How many files the versions of the build in `out` ship, as its asset documents (the copies
/// at `assets/<kind>/<name>.json`) list them.
fn shipped_files(out: &Path) -> usize {
    let mut n = 0;
    for kind in std::fs::read_dir(out.join("assets")).unwrap() {
        for doc in std::fs::read_dir(kind.unwrap().path()).unwrap() {
            let path = doc.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let doc: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let versions = doc["versions"].as_object().unwrap();
                n += versions
                    .values()
                    .map(|v| v["files"].as_array().unwrap().len())
                    .sum::<usize>();
            }
        }
    }
    n
}

/// The build cache folder holds the caches of output folders that exist: each build names its
/// folder beside its cache files, and removes those of folders since deleted (or no longer
/// mlreg's), and unnamed ones a day old; an unnamed one younger may be a running build's.
#[test]
fn the_caches_of_deleted_output_folders_are_removed() {
    let (t, _reg, _templates) = sample_with_template("{% extends \"mlreg/version.html\" %}");
    let builds = t.path().join("caches/shared/builds");
    let shared = t.path().join("caches/shared");
    let build = |out: &str| {
        let r = build_cached(
            t.path(),
            out,
            &[],
            &[("MLREG_CACHE", shared.to_str().unwrap())],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    // Which output folders the cache folder names, and its files by name.
    let listing = || -> (BTreeSet<PathBuf>, BTreeSet<String>) {
        let mut named = BTreeSet::new();
        let mut files = BTreeSet::new();
        for e in std::fs::read_dir(&builds).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "out") {
                named.insert(PathBuf::from(std::fs::read_to_string(&path).unwrap()));
            }
            files.insert(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        (named, files)
    };
    // Built twice: a first build of a folder leaves no skip record (the folder was not yet
    // known to be mlreg's when it started).
    for out in ["a", "b", "c", "a", "b", "c"] {
        build(out);
    }
    let (named, files) = listing();
    let root = t.path().canonicalize().unwrap();
    let expected: BTreeSet<PathBuf> = ["a", "b", "c"].iter().map(|o| root.join(o)).collect();
    assert_eq!(named, expected);
    // Each folder has its cache, its skip record, its name and its checked assets' folder.
    assert_eq!(files.len(), 12, "{files:?}");
    let key_of = |out: &str| {
        files
            .iter()
            .find(|f| {
                f.ends_with(".out")
                    && std::fs::read_to_string(builds.join(f)).unwrap()
                        == root.join(out).to_str().unwrap()
            })
            .map(|f| f.trim_end_matches(".out").to_string())
            .unwrap()
    };
    let (a, b, c) = (key_of("a"), key_of("b"), key_of("c"));
    // Unnamed files: two days old (one left by an older mlreg, one by a killed write), and one
    // just written.
    for stale in ["0123456789abcdef0123456789abcdef.json", ".0123.json.tmp-1"] {
        let stale = builds.join(stale);
        std::fs::write(&stale, "left behind").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400))
            .unwrap();
    }
    std::fs::write(
        builds.join("fedcba9876543210fedcba9876543210.json"),
        "running",
    )
    .unwrap();
    // `a` deleted; `b` is no longer mlreg's (its marker gone).
    std::fs::remove_dir_all(t.path().join("a")).unwrap();
    std::fs::remove_file(t.path().join("b/.mlreg-output.json")).unwrap();
    // A skipped build tidies too.
    assert!(build("c").contains("nothing changed since the last build"));
    let (named, files) = listing();
    assert_eq!(named, BTreeSet::from([root.join("c")]));
    let expected: BTreeSet<String> = [
        format!("{c}.json"),
        format!("{c}.fresh.json"),
        format!("{c}.out"),
        format!("{c}.assets"),
        "fedcba9876543210fedcba9876543210.json".to_string(),
    ]
    .into();
    assert_eq!(files, expected, "a: {a}, b: {b}");
}
