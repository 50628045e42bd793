#!/usr/bin/env python3
"""How mlreg scales with the number of versions (issue "Scale: 100,000 versions").

For each N, writes a synthetic registry (benches/synth.py) of one shape:
  wide   N versions as N/5 assets of 5 versions (default)
  deep   N versions as N/50 assets of 50 versions
and times these cases, in order, each against the output folder the previous one left:
  check              mlreg check
  cold               mlreg build into an empty output folder (the last one moved aside first:
                     see common.clear)
  unchanged          mlreg build again, nothing changed (skipped whole once the last build's
                     files are old enough to trust by their stamps; a note says which runs were).
                     The first of these runs also stores every asset's checked manifests in the
                     build cache (src/publish/memo.rs), which the cases after it read instead.
  one card           the README.md of one version gets a line appended (a new one each run)
  one version added  one asset gets a new version folder, a copy of its last one (a new one each run)
Every timed run comes after os.sync(), so that earlier writes are not billed to it.

One row per case: the median wall time of --runs runs, the peak RSS of the child (ru_maxrss from
os.wait4, the largest of the runs), what mlreg's summary says the build wrote (`wrote N files
(B bytes), U unchanged, R removed`), how many output files were really rewritten (a walk before
and after: new (inode, mtime_ns, size)), the output's totals, and its largest HTML page and
largest JSON document. Counts are those of the median run. `rewritten` counts mlreg's own
dot-file (.mlreg-output.json) too, which its summary does not.

The floor: benches/floor.rs (compiled with rustc -O into target/floor) writes the files of the
cold build's output, same paths and sizes, into an empty folder on the same disk, without and
with temp + rename as mlreg does; its runs are interleaved with the cold builds, and the rows
print cold / floor.

With --hugo (and `hugo` on the PATH: apt-get install hugo), the same cards as a minimal Hugo site
(common.HugoSite), built after each mlreg run of the cold, unchanged and one-card cases (the same
card edited), and the ratios mlreg / hugo. Meant for N = 10,000, as bench.py.

usage: benches/scale.py [--shape wide|deep] [--runs R] [--quick] [--binary PATH] [--hugo]
                        [--keep DIR] N...

--runs R      runs per case (default 3); --quick: 1 run for N >= 100,000
--binary P    the mlreg to time (default: cargo build --release here, target/release/mlreg)
--keep DIR    work in DIR/<shape>-<N> (must not exist) and leave it there; otherwise a temporary
              folder under target/ (several GB at 100,000 versions) removed at the end

Not a test: the numbers go in notes. They are wall times on a shared machine: say what else ran.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

import common

SHAPES = {"wide": 5, "deep": 50}
# What a build skipped whole (nothing changed since the last one) says.
SKIPPED = "nothing changed since the last build"
SUMMARY = re.compile(r"wrote (\d+) files \((\d+) bytes\), (\d+) unchanged, (\d+) removed")


class Sample:
    """One timed run: the Run, mlreg's summary numbers (None where there is none), the number
    of output files rewritten, and the output folder after it."""

    def __init__(self, run, summary, rewritten, after):
        self.run, self.summary, self.rewritten, self.after = run, summary, rewritten, after


def rewritten(before, after):
    """Files of `after` that are new or have another (inode, mtime_ns, size) than in `before`."""
    return sum(1 for path, stat in after.items() if before.get(path) != stat)


def largest(files, suffix):
    """`path (size)` of the largest file whose name ends with suffix, or `-`."""
    sized = [(stat[2], path) for path, stat in files.items() if path.endswith(suffix)]
    if not sized:
        return "-"
    size, path = max(sized)
    return f"{path} ({size / 1024:.1f} KiB)" if size < 1 << 20 else f"{path} ({size / (1 << 20):.1f} MiB)"


class Table:
    HEADER = (f"{'case':<18} {'wall s':>8} {'peak MiB':>8} {'wrote':>7} {'wrote MB':>9} {'unchgd':>7} "
              f"{'removed':>7} {'rewritten':>9} {'out files':>9} {'out MB':>8}  largest html; largest json")

    def __init__(self):
        self.notes = []
        print(self.HEADER, flush=True)

    def row(self, label, samples):
        """Print one case: the median wall, the largest peak, the counts of the median run."""
        runs = [s.run for s in samples]
        wall, rss = common.median_wall(runs), common.peak_rss(runs)
        mid = sorted(samples, key=lambda s: s.run.wall)[(len(samples) - 1) // 2]
        if mid.summary is None:
            wrote = mb = unchanged = removed = "-"
        else:
            files, size, unchanged, removed = mid.summary
            wrote, mb = files, f"{size / 1e6:.1f}"
        out_files = len(mid.after)
        out_bytes = sum(stat[2] for stat in mid.after.values())
        pages = "; ".join(largest(mid.after, ext) for ext in (".html", ".json"))
        print(f"{label:<18} {wall:>8.2f} {rss / 1024:>8.0f} {wrote:>7} {mb:>9} {unchanged:>7} {removed:>7} "
              f"{mid.rewritten:>9} {out_files:>9} {out_bytes / 1e6:>8.1f}  {pages}", flush=True)
        return wall, rss


class Scale:
    """The cases at one size: the registry, its output folder, and what runs beside them."""

    def __init__(self, binary, work, n, shape, runs, hugo):
        self.binary, self.n, self.runs = binary, n, runs
        self.reg = os.path.join(work, "registry")
        self.out = os.path.join(work, "public")
        self.floor_out = os.path.join(work, "floor")
        self.floor_list = os.path.join(work, "floor.list")
        self.per_asset = SHAPES[shape]
        common.synth(n, self.reg, self.per_asset)
        assets = sorted(os.listdir(os.path.join(self.reg, "models")))
        # The card edited and the asset a version is added to: one in the middle.
        self.asset = assets[len(assets) // 2]
        self.card = os.path.join(self.reg, "models", self.asset, "1", "README.md")
        self.hugo = common.HugoSite(self.reg, os.path.join(work, "hugo")) if hugo else None
        self.state = common.walk(self.out)
        self.edits = 0
        files, size = common.du(self.reg)
        print(f"\n{shape} {n} versions: {len(assets)} assets of up to {self.per_asset}, source {files} files, "
              f"{size / 1e6:.1f} MB; {runs} run(s) a case; load average {os.getloadavg()[0]:.2f}", flush=True)

    def mlreg(self, args):
        """Time one mlreg command, with the output folder walked before and after it."""
        before = self.state
        os.sync()
        run = common.run([self.binary, *args], output=True)
        self.state = common.walk(self.out)
        summary = None
        if args[0] == "build":
            found = SUMMARY.search(run.output)
            if found:
                summary = tuple(int(g) for g in found.groups())
            else:
                self.table.notes.append(f"no `wrote N files (B bytes), U unchanged, R removed` in: {run.output.strip()!r}")
        return Sample(run, summary, rewritten(before, self.state), self.state)

    def other(self, argv, folder, before=None):
        """Time a program that is not mlreg, writing into folder."""
        before = common.walk(folder) if before is None else before
        os.sync()
        run = common.run(argv)
        after = common.walk(folder)
        return Sample(run, None, rewritten(before, after), after)

    def hugo_build(self):
        return self.other(self.hugo.argv(), self.hugo.public)

    def cases(self):
        self.table = Table()
        build = ["build", self.reg, "--out", self.out]
        self.table.row("check", [self.mlreg(["check", self.reg]) for _ in range(self.runs)])

        cold, floor, floor_rename, hugo_cold = [], [], [], []
        for i in range(self.runs):
            common.clear(self.out)
            self.state = {}
            cold.append(self.mlreg(build))
            if i == 0:
                with open(self.floor_list, "w") as f:
                    for path, stat in sorted(self.state.items()):
                        f.write(f"{stat[2]}\t{path}\n")
            for samples, flags in ((floor, []), (floor_rename, ["--rename"])):
                common.clear(self.floor_out)
                samples.append(self.other([common.tool("floor"), *flags, self.floor_out, self.floor_list], self.floor_out, {}))
            if self.hugo:
                self.hugo.clear()
                hugo_cold.append(self.hugo_build())
        common.clear(self.floor_out)
        walls = {"cold": self.table.row("cold", cold)}
        for label, samples in (("floor", floor), ("floor rename", floor_rename)):
            wall, _ = self.table.row(label, samples)
            self.table.notes.append(f"cold / {label}: {walls['cold'][0] / wall:.1f}")
        if self.hugo:
            hugo_walls = {"cold": self.table.row("hugo cold", hugo_cold)}

        unchanged, hugo_unchanged = [], []
        for _ in range(self.runs):
            unchanged.append(self.mlreg(build))
            if self.hugo:
                hugo_unchanged.append(self.hugo_build())
        walls["unchanged"] = self.table.row("unchanged", unchanged)
        skipped = [i + 1 for i, u in enumerate(unchanged) if SKIPPED in u.run.output]
        self.table.notes.append(f"unchanged: run(s) {skipped or 'none'} of {self.runs} skipped whole")
        if self.hugo:
            hugo_walls["unchanged"] = self.table.row("hugo unchanged", hugo_unchanged)

        card, hugo_card = [], []
        for _ in range(self.runs):
            line = self.edit_card()
            card.append(self.mlreg(build))
            if self.hugo:
                with open(self.hugo.content(self.asset, "1"), "a") as f:
                    f.write(line)
                hugo_card.append(self.hugo_build())
        walls["one card"] = self.table.row("one card", card)
        if self.hugo:
            hugo_walls["one card"] = self.table.row("hugo one card", hugo_card)

        added = []
        for _ in range(self.runs):
            self.add_version()
            added.append(self.mlreg(build))
        self.table.row("one version added", added)

        if self.hugo:
            ratios = ", ".join(f"{case} {walls[case][0] / hugo_walls[case][0]:.2f}" for case in walls)
            rss = max(w[1] for w in walls.values()) / max(w[1] for w in hugo_walls.values())
            self.table.notes.append(f"mlreg / hugo: wall {ratios}; peak memory {rss:.2f}")
        for note in self.table.notes:
            print(f"  {note}")
        print(f"  load average {os.getloadavg()[0]:.2f}", flush=True)

    def edit_card(self):
        """Append a line to the card, a different one each time; returns it."""
        self.edits += 1
        line = f"\nEdited by benches/scale.py ({self.edits}, {time.time_ns()}).\n"
        with open(self.card, "a") as f:
            f.write(line)
        return line

    def add_version(self):
        """Copy the asset's highest version into a new folder, numbered one higher."""
        folder = os.path.join(self.reg, "models", self.asset)
        last = max(int(v) for v in os.listdir(folder) if v.isdigit())
        shutil.copytree(os.path.join(folder, str(last)), os.path.join(folder, str(last + 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="wide")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 run a case for N >= 100,000")
    parser.add_argument("--binary", help="the mlreg to time (default: build the release binary)")
    parser.add_argument("--hugo", action="store_true", help="Hugo side by side (needs hugo on the PATH)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR/<shape>-<N> and leave it there")
    parser.add_argument("sizes", type=int, nargs="+", metavar="N")
    args = parser.parse_args()
    if args.hugo and not common.have_hugo():
        sys.exit("--hugo: no hugo on the PATH (apt-get install hugo)")
    binary = os.path.abspath(args.binary) if args.binary else common.release_binary()
    common.tool("floor")
    # Deleted when every size is timed, as cleared folders are (see common.clear).
    done = []
    try:
        for n in args.sizes:
            runs = 1 if args.quick and n >= 100_000 else args.runs
            if args.keep:
                work = os.path.join(args.keep, f"{args.shape}-{n}")
                os.makedirs(work)
            else:
                os.makedirs(os.path.join(common.ROOT, "target"), exist_ok=True)
                work = tempfile.mkdtemp(prefix=f"scale-{args.shape}-{n}-", dir=os.path.join(common.ROOT, "target"))
                done.append(work)
            Scale(binary, work, n, args.shape, runs, args.hugo).cases()
    finally:
        common.empty_trash()
        for work in done:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
