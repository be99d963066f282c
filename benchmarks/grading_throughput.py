"""Throughput of `labkit grade` against `otter run`, on the same submissions.

    python benchmarks/grading_throughput.py [--n 16] [--jobs N] [--solution] [--phases]

Grades N submissions from the corpus (tests/submissions/; ``--solution``: N distinct copies of the
solution notebook, each with a comment cell of its own) with one `labkit grade`, with a loop of
`otter run` one at a time, and with `otter run` two at a time (as `xargs -P2` would); checks that
every submission gets the same total every way, and prints the wall times, the time per
submission and the ratios. ``--phases`` also prints where `labkit grade`'s time went (the phases
of results.json, summed), the ideal (the notebooks' own work, cells and recorded answers, divided
among the slots) and how close the run came to it.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZIP = ROOT / "autograder" / "logreg_digits-autograder.zip"
# A mix of full marks, partial marks and a blank, as a real batch has.
CORPUS = [
    "solution",
    "softmax_overflows",
    "blank",
    "z_loop_over_classes",
    "preprocess_not_inverted",
    "l1_wrong_C",
    "sweep_train_accuracy",
    "center_wrong_direction",
]


def otter_run(notebook: Path, out: Path) -> tuple[str, float]:
    """Grade one notebook with its own `otter run`; return its name and total."""
    target = out / notebook.stem
    target.mkdir(parents=True)
    command = [sys.executable, "-m", "otter", "run", "-a", str(ZIP), "-o", str(target)]
    subprocess.run([*command, str(notebook)], check=True, capture_output=True)
    tests = json.loads((target / "results.json").read_text())["tests"]
    return notebook.name, sum(t["score"] for t in tests if "score" in t)


def otter_run_loop(inbox: Path, out: Path, *, at_once: int = 1) -> dict[str, float]:
    """Grade each notebook with its own `otter run`, ``at_once`` at a time; return the totals."""
    notebooks = sorted(inbox.glob("*.ipynb"))
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return dict(pool.map(lambda notebook: otter_run(notebook, out), notebooks))


def make_inbox(inbox: Path, n: int, *, solution: bool) -> None:
    """N submissions: the corpus in turn, or distinct copies of the solution notebook."""
    inbox.mkdir()
    for k, name in zip(range(n), itertools.cycle(["solution"] if solution else CORPUS)):
        notebook = json.loads((ROOT / "tests" / "submissions" / f"{name}.ipynb").read_text())
        if solution:  # distinct bytes, so that nothing keyed by content can serve two
            notebook["cells"].append(
                {"cell_type": "code", "execution_count": None, "id": f"copy-{k}",
                 "metadata": {}, "outputs": [], "source": [f"# copy {k}"]}
            )  # fmt: skip
        (inbox / f"{k:02d}_{name}.ipynb").write_text(json.dumps(notebook, indent=1))


def print_phases(out: Path, seconds: float, slots: int) -> None:
    """Where labkit grade's time went, the ideal and how close the run came."""
    phases = {}
    for results in out.glob("*/results.json"):
        for phase, spent in json.loads(results.read_text()).get("phases", {}).items():
            phases[phase] = phases.get(phase, 0.0) + spent
    total = sum(phases.values())
    print(f"labkit grade phases, summed over submissions ({total:.1f} s in {slots} slots):")
    for phase, spent in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {phase:<10}{spent:7.1f} s  {spent / total:6.1%}")
    ideal = (phases.get("cells", 0.0) + phases.get("record", 0.0)) / slots
    print(
        f"ideal (the notebooks' own work / {slots} slots): {ideal:.1f} s; the run took "
        f"{seconds:.1f} s, {ideal / seconds:.0%} of it the notebooks' own work"
    )


def labkit_grade(inbox: Path, out: Path, jobs: int | None) -> dict[str, float]:
    """Grade the folder with one `labkit grade` command; return the totals."""
    command = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(ZIP), "-o", str(out)]
    if jobs:
        command += ["-j", str(jobs)]
    subprocess.run(command, check=True, capture_output=True)
    with (out / "gradebook.csv").open(newline="") as f:
        return {row["submission"]: float(row["total"]) for row in csv.DictReader(f)}


def main() -> None:
    """Run every way, compare the totals, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="submissions to grade (default 16)")
    parser.add_argument("--jobs", type=int, help="labkit grade -j (default: one per core)")
    parser.add_argument("--solution", action="store_true", help="distinct solution copies")
    parser.add_argument("--phases", action="store_true", help="print labkit grade's phases")
    args = parser.parse_args()
    slots = args.jobs or os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        inbox = Path(tmp) / "inbox"
        make_inbox(inbox, args.n, solution=args.solution)
        started = time.perf_counter()
        labkit = labkit_grade(inbox, Path(tmp) / "labkit", args.jobs)
        labkit_seconds = time.perf_counter() - started
        if args.phases:
            print_phases(Path(tmp) / "labkit", labkit_seconds, min(slots, args.n))
        runs = {"labkit grade": (labkit_seconds, labkit)}
        for label, at_once in (("otter run, one by one", 1), ("otter run, two at a time", 2)):
            started = time.perf_counter()
            totals = otter_run_loop(inbox, Path(tmp) / f"otter{at_once}", at_once=at_once)
            runs[label] = (time.perf_counter() - started, totals)
    for label, (_, totals) in runs.items():
        if totals != labkit:
            differ = {k: (totals[k], labkit.get(k)) for k in totals if totals[k] != labkit.get(k)}
            sys.exit(f"totals differ ({label}, labkit grade): {differ}")
    print(f"{args.n} submissions, identical totals every way ({sum(labkit.values()):g} points)")
    for label, (seconds, _) in runs.items():
        print(f"{label:<26}{seconds:7.1f} s  ({seconds / args.n:.2f} s per submission)")
    for label, (seconds, _) in runs.items():
        if label != "labkit grade":
            print(f"throughput ratio against {label}: {seconds / labkit_seconds:.2f}x")


if __name__ == "__main__":
    main()
