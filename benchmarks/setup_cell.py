"""What the student notebook's setup cell adds to a first run, with every package installed.

    python benchmarks/setup_cell.py [--repeat 3]

Runs the student notebook top to bottom as the release gate does (``execute_notebook``), with its
setup cell and without it, alternately, and prints the best wall time of each and the difference.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit.release import NOTEBOOK_NAME, execute_notebook  # noqa: E402

STUDENT = ROOT / "student_template"


def run_once(folder: Path) -> float:
    """Seconds to execute the notebook in ``folder`` (export cell skipped, as the gate does)."""
    started = time.perf_counter()
    execute_notebook(folder / NOTEBOOK_NAME, workdir=folder, skip="grader.export(")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        with_cell, without_cell = Path(tmp, "with"), Path(tmp, "without")
        shutil.copytree(STUDENT, with_cell)
        shutil.copytree(STUDENT, without_cell)
        nb = nbformat.read(without_cell / NOTEBOOK_NAME, as_version=4)
        nb.cells = [c for c in nb.cells if "labkit_setup" not in c.metadata.get("tags", [])]
        nbformat.write(nb, without_cell / NOTEBOOK_NAME)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.repeat):
            times["with"].append(run_once(with_cell))
            times["without"].append(run_once(without_cell))
    best = {k: min(v) for k, v in times.items()}
    print(f"student notebook, setup cell included:  {best['with']:6.2f} s (best of {args.repeat})")
    print(f"student notebook, setup cell removed:   {best['without']:6.2f} s")
    print(f"the setup cell adds:                    {best['with'] - best['without']:6.2f} s")


if __name__ == "__main__":
    main()
