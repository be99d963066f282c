"""How long the lab takes: the solution notebook top to bottom, and `otter run` on it.

    python benchmarks/lab_timing.py

Prints each figure beside its budget (solution <= 60 s, otter run <= 45 s on 2 cores), and how
much of the solution's run the grading path skips (cells tagged otter_ignore).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "logreg_digits.ipynb"
ZIP = ROOT / "autograder" / "logreg_digits-autograder.zip"


def run_solution(workdir: Path, *, skip_ignored: bool) -> float:
    """Execute the solution (without its export cell) in ``workdir``; return the seconds."""
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells = [
        cell
        for cell in nb.cells
        if "grader.export(" not in cell.source
        and not (skip_ignored and "otter_ignore" in cell.metadata.get("tags", []))
    ]
    client = NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    started = time.perf_counter()
    client.execute()
    return time.perf_counter() - started


def otter_run(workdir: Path) -> tuple[float, float]:
    """Grade the solution with `otter run`; return the seconds and the total score."""
    shutil.copy(SOLUTION, workdir / "submission.ipynb")
    command = [sys.executable, "-m", "otter", "run", "-a", str(ZIP), "-o", str(workdir)]
    started = time.perf_counter()
    subprocess.run([*command, str(workdir / "submission.ipynb")], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    tests = json.loads((workdir / "results.json").read_text())["tests"]
    return seconds, sum(t["score"] for t in tests if "score" in t)


def main() -> None:
    """Measure and print."""
    with tempfile.TemporaryDirectory(prefix="labkit-timing-") as tmp:
        workdir = Path(tmp) / "lab"
        shutil.copytree(ROOT / "student_template", workdir)
        full = run_solution(workdir, skip_ignored=False)
        graded = run_solution(workdir, skip_ignored=True)
        seconds, total = otter_run(Path(tmp))
    print(f"solution notebook, top to bottom: {full:5.1f} s (budget 60 s, {full / 60:.0%} of it)")
    print(
        f"  without illustration-only cells: {graded:5.1f} s ({graded / full:.0%} of the full run)"
    )
    print(
        f"otter run on the solution:        {seconds:5.1f} s (budget 45 s, {seconds / 45:.0%}); "
        f"score {total:g}"
    )


if __name__ == "__main__":
    main()
