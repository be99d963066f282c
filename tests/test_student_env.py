"""A student's own machine, for real: fresh virtual environments built from the package registry.

- one from ``student_template/requirements.txt`` alone runs the filled-in notebook top to bottom
  (check-all and export cells included), and the zip it exports gets full marks;
- one with an older scikit-learn gets the setup cell's warning, and the L2 fit it warns about.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_students import lab_pins, run_setup

from labkit import release

pytestmark = pytest.mark.registry

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "student_template"
INSTALL_TIMEOUT = 1200


def make_venv(path: Path, *pip_args: str) -> Path:
    """A fresh venv at ``path`` with ``pip install *pip_args``; return its ``bin`` folder."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    done = subprocess.run(
        [str(path / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *pip_args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path / "bin"


def clean_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """An environment that sees only ``bin_dir``'s Python, with a home (and Jupyter) of its own."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def test_filled_notebook_runs_in_a_student_venv_and_its_export_gets_full_marks(tmp_path):
    bin_dir = make_venv(tmp_path / "venv", "-r", str(STUDENT / "requirements.txt"))
    lab = tmp_path / "lab"
    shutil.copytree(STUDENT, lab)
    solution = nbformat.read(ROOT / "solutions" / "logreg_digits.ipynb", as_version=4)
    for cell in solution.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(solution, lab / "logreg_digits.ipynb")

    done = subprocess.run(
        [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute"]
        + [
            "--ExecutePreprocessor.timeout=900",
            "--output",
            "executed.ipynb",
            "logreg_digits.ipynb",
        ],
        cwd=lab,
        env=clean_env(bin_dir, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(lab / "executed.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = ["".join(o.get("text", "") for o in c.outputs) for c in code]
    assert printed[0] == (
        "Setup done: the lab's packages are at the expected versions, its files are here.\n"
    )
    zips = sorted(lab.glob("logreg_digits_*.zip"))
    assert len(zips) == 1
    assert f"Your submission is {zips[0]}" in printed[-1]

    out = tmp_path / "graded"
    graded = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(zips[0]), "-o", str(out)]
        + ["-a", str(ROOT / "autograder" / "logreg_digits-autograder.zip")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert graded.returncode == 0, graded.stderr[-3000:]
    outcome = json.loads((out / zips[0].name / "results.json").read_text())
    assert outcome["status"] == "ok", outcome
    points = {q.name: q.points for q in release.read_source(ROOT / "assignment") if not q.manual}
    assert {q: float(s) for q, s in outcome["scores"].items()} == points


FIT = """
import warnings
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

X, y = load_digits(return_X_y=True)
X = X / 16.0
warnings.simplefilter("ignore")
def fit(**kwargs):
    return LogisticRegression(C=1, solver="saga", max_iter=200, random_state=0, **kwargs).fit(X, y)
as_in_the_lab = fit(l1_ratio=1)
print(int((as_in_the_lab.coef_ == 0).sum()))
if {check_l2}:
    print(bool(np.allclose(as_in_the_lab.coef_, fit(penalty="l2").coef_)))
"""


def test_older_scikit_learn_is_warned_about_and_fits_l2(tmp_path):
    bin_dir = make_venv(tmp_path / "old", "scikit-learn==1.5.2")
    python = str(bin_dir / "python")
    lab = tmp_path / "lab"
    for name in ("data", "photos", "tests"):
        (lab / name).mkdir(parents=True)
    done, commands = run_setup(tmp_path, python=python, cwd=lab)
    assert done.returncode == 0, done.stderr
    expected = lab_pins()["scikit-learn"]
    warnings = [line for line in done.stdout.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Warning: scikit-learn 1.5.2 is installed, but this lab expects scikit-learn {expected}"
    )
    assert all("scikit-learn" not in " ".join(command) for command in commands)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    old = subprocess.run(
        [python, "-c", FIT.format(check_l2=True)], capture_output=True, text=True, env=env
    )
    assert old.returncode == 0, old.stderr
    old_zeros, same_as_l2 = old.stdout.split()
    current = subprocess.run(
        [sys.executable, "-c", FIT.format(check_l2=False)], capture_output=True, text=True, env=env
    )
    assert current.returncode == 0, current.stderr
    # the lab's code on the old version is an L2 fit: few exact zeros, the same weights as L2
    assert same_as_l2 == "True"
    assert int(old_zeros) * 3 < int(current.stdout.split()[0])
