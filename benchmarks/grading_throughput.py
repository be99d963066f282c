"""Throughput of `labkit grade` against a sequential `otter run` loop, on the same submissions.

    python benchmarks/grading_throughput.py [--n 16] [--jobs N]

Grades N submissions from the corpus (tests/submissions/) both ways in one run, checks that every
submission gets the same total both ways, and prints the wall times and their ratio.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
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


def otter_run_loop(inbox: Path, out: Path) -> dict[str, float]:
    """Grade each notebook with its own `otter run`, one after the other; return the totals."""
    totals = {}
    for notebook in sorted(inbox.glob("*.ipynb")):
        target = out / notebook.stem
        target.mkdir(parents=True)
        command = [sys.executable, "-m", "otter", "run", "-a", str(ZIP), "-o", str(target)]
        subprocess.run([*command, str(notebook)], check=True, capture_output=True)
        tests = json.loads((target / "results.json").read_text())["tests"]
        totals[notebook.name] = sum(t["score"] for t in tests if "score" in t)
    return totals


def labkit_grade(inbox: Path, out: Path, jobs: int | None) -> dict[str, float]:
    """Grade the folder with one `labkit grade` command; return the totals."""
    command = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(ZIP), "-o", str(out)]
    if jobs:
        command += ["-j", str(jobs)]
    subprocess.run(command, check=True, capture_output=True)
    with (out / "gradebook.csv").open(newline="") as f:
        return {row["submission"]: float(row["total"]) for row in csv.DictReader(f)}


def main() -> None:
    """Run both, compare the totals, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="submissions to grade (default 16)")
    parser.add_argument("--jobs", type=int, help="labkit grade -j (default: one per core)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        for k, name in zip(range(args.n), itertools.cycle(CORPUS)):
            shutil.copy(
                ROOT / "tests" / "submissions" / f"{name}.ipynb", inbox / f"{k:02d}_{name}.ipynb"
            )
        started = time.perf_counter()
        labkit = labkit_grade(inbox, Path(tmp) / "labkit", args.jobs)
        labkit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        otter = otter_run_loop(inbox, Path(tmp) / "otter")
        otter_seconds = time.perf_counter() - started
    if labkit != otter:
        differ = {k: (otter[k], labkit.get(k)) for k in otter if otter[k] != labkit.get(k)}
        sys.exit(f"totals differ (otter run, labkit grade): {differ}")
    print(f"{args.n} submissions, identical totals both ways ({sum(otter.values()):g} points)")
    for label, seconds in (
        ("otter run, one by one", otter_seconds),
        ("labkit grade", labkit_seconds),
    ):
        print(f"{label:<22}{seconds:7.1f} s  ({seconds / args.n:.1f} s per submission)")
    print(f"throughput ratio: {otter_seconds / labkit_seconds:.2f}x")


if __name__ == "__main__":
    main()
