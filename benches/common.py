"""Helpers the benchmark scripts share (bench.py, scale.py, hash.py): building the release
binary, writing synthetic registries, timing a child process with its peak memory, walking an
output folder, and the Hugo site that docs/performance targets are stated against.

Not a script: `import common` from a script in benches/.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")


def release_binary():
    """Build the release binary in the repository root and return its path."""
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target/release/mlreg")


def synth(n, out, per_asset=None):
    """Write a synthetic registry of n model versions into out (benches/synth.py)."""
    extra = [] if per_asset is None else ["--per-asset", str(per_asset)]
    subprocess.run([sys.executable, os.path.join(BENCHES, "synth.py"), *extra, str(n), out], check=True)


def tool(name):
    """benches/<name>.rs (std only) compiled with rustc -O into target/<name>, unless that is up
    to date; returns its path."""
    source = os.path.join(BENCHES, f"{name}.rs")
    binary = os.path.join(ROOT, "target", name)
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        subprocess.run(["rustc", "-O", source, "-o", binary], check=True)
    return binary


class Run:
    """One finished child: wall time in seconds, peak RSS in KiB (ru_maxrss), exit code and
    what it printed (stdout and stderr together, when asked for)."""

    def __init__(self, wall, rss, code, output):
        self.wall, self.rss, self.code, self.output = wall, rss, code, output


def run(argv, output=False, check=True):
    """Run argv (looked up on the PATH) through benches/rusage.rs, which times it from spawn to
    reap and takes its ru_maxrss (see there why not from here). Its stdout and stderr go to a
    temporary file (read back when `output`) or to /dev/null; stdin is /dev/null. With `check`,
    a non-zero exit ends the benchmark with what the child printed."""
    rusage = tool("rusage")
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile(mode="r") as report:
        stdout = log if output or check else subprocess.DEVNULL
        subprocess.run([rusage, report.name, *argv], stdin=subprocess.DEVNULL, stdout=stdout,
                       stderr=subprocess.STDOUT, check=True)
        wall, rss, code = report.read().split()
        log.seek(0)
        text = log.read().decode(errors="replace")
    code = int(code)
    if check and code != 0:
        sys.exit(f"{' '.join(argv)}: exit {code}\n{text}")
    return Run(int(wall) / 1e9, int(rss), code, text if output else None)


def walk(root):
    """{relative path: (inode, mtime_ns, size)} of every file under root ({} if it is absent)."""
    found = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = os.scandir(os.path.join(root, rel))
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                else:
                    st = entry.stat(follow_symlinks=False)
                    found[path] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def du(path):
    """(files, bytes) under path."""
    files = walk(path)
    return len(files), sum(size for _, _, size in files.values())


# Folders cleared so far, deleted by empty_trash() once nothing more is timed.
TRASH = []


def clear(path):
    """Make path not exist, without billing the next timed run for it.

    Deleting a large tree just before a timed run bills that run twice: its writes wait behind the
    deletion's (hence os.sync()), and on ext4 without a journal (this machine's disk) a new file
    does not get an inode freed in the last minute (six while its inode table block is dirty)
    until every such candidate was looked at one by one (fs/ext4/ialloc.c, recently_deleted), so
    creating files right after a big tree was deleted costs several times more: 583,000 files took
    81 s instead of 9. The folder is moved into a hidden trash folder beside it instead, and
    deleted by empty_trash() when the script is done timing."""
    if os.path.lexists(path):
        trash = os.path.join(os.path.dirname(os.path.abspath(path)), ".trash")
        os.makedirs(trash, exist_ok=True)
        aside = tempfile.mkdtemp(dir=trash)
        os.rename(path, os.path.join(aside, "cleared"))
        TRASH.append(aside)
    os.sync()


def empty_trash():
    """Delete what clear() moved aside."""
    while TRASH:
        aside = TRASH.pop()
        shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(aside))
        except OSError:
            pass


def median_wall(runs):
    return statistics.median(r.wall for r in runs)


def peak_rss(runs):
    return max(r.rss for r in runs)


class HugoSite:
    """The cards of a registry as a minimal Hugo site: one page per version, the card as its
    content, under `content/<asset>/<version>.md`; `public/` is its output."""

    def __init__(self, reg, site):
        self.site = site
        self.public = os.path.join(site, "public")
        os.makedirs(os.path.join(site, "layouts", "_default"))
        with open(os.path.join(site, "config.toml"), "w") as f:
            f.write('baseURL = "https://example.com/"\ndisableKinds = ["taxonomy", "term"]\n')
        with open(os.path.join(site, "layouts", "_default", "single.html"), "w") as f:
            f.write("<!doctype html><title>{{ .Title }}</title><main>{{ .Content }}</main>\n")
        with open(os.path.join(site, "layouts", "_default", "list.html"), "w") as f:
            f.write("<!doctype html><title>{{ .Title }}</title><ul>{{ range .Pages }}<li>{{ .Title }}</li>{{ end }}</ul>\n")
        models = os.path.join(reg, "models")
        for asset in sorted(os.listdir(models)):
            for version in sorted(os.listdir(os.path.join(models, asset))):
                card = os.path.join(models, asset, version, "README.md")
                if not os.path.isfile(card):
                    continue
                with open(card) as f:
                    text = f.read()
                text = text.replace("---\n", f"---\ntitle: {asset} {version}\n", 1)
                target = self.content(asset, version)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    f.write(text)

    def content(self, asset, version):
        """The page of a model version's card."""
        return os.path.join(self.site, "content", asset, f"{version}.md")

    def argv(self):
        """The command that builds the site into public/ (as it is)."""
        return ["hugo", "--source", self.site, "--quiet"]

    def build(self):
        """Run hugo on the site: a Run."""
        return run(self.argv())

    def clear(self):
        clear(self.public)


def have_hugo():
    return shutil.which("hugo") is not None
