"""Every fixture submission graded through both paths: ``otter run -a ZIP``, ``labkit grade``.

The fixtures are the submission corpus (``submissions/``), the broken and hostile uploads
(``hostile/``) and the tampering corpus (``tampering/``). ``grade_everything`` grades them all
(``otter run`` two at a time, ``labkit grade`` as one batch) and returns, per fixture id
(``folder/file``), what each path produced; the test modules read their own folder's part.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FOLDERS = ("submissions", "hostile", "tampering")
QUESTIONS = [
    "q_z",
    "q_softmax",
    "q_predict",
    "q_preprocess",
    "q_center_bonus",
    "q_l1",
    "q_l1_sweep",
]
# One BLAS thread per process, so that two graders running at once don't fight over the cores.
GRADING_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
OTTER_RUN_TIMEOUT = 900  # seconds for one submission
MARKER = "crafted-log-was-unpickled"


def fixture_files() -> dict[str, Path]:
    """Every fixture submission: ``folder/file`` -> its path."""
    found = {}
    for folder in FOLDERS:
        for path in sorted((TESTS / folder).iterdir()):
            if path.suffix != ".csv":
                found[f"{folder}/{path.name}"] = path
    return found


def hidden_test_lines(autograder_zip: Path) -> set[str]:
    """Every telling line of the zip's hidden test functions (30 characters or more, no import)."""
    lines = set()
    with zipfile.ZipFile(autograder_zip) as archive:
        sources = [archive.read(n).decode() for n in archive.namelist() if n.startswith("tests/")]
    for source in sources:
        for node in ast.parse(source).body:
            if not isinstance(node, ast.FunctionDef) or "hidden=True" not in ast.unparse(
                node.decorator_list[0]
            ):
                continue
            for line in ast.get_source_segment(source, node).splitlines():
                line = line.strip()
                if len(line) >= 30 and not line.startswith(("import ", "from ")):
                    lines.add(line)
    return lines


def otter_run(path: Path, autograder_zip: Path, work: Path) -> dict:
    """Grade one file with ``otter run``: its results (None if it wrote none), stdout, marker."""
    out = work / "out"
    out.mkdir(parents=True)
    shutil.copy(path, work / path.name)
    marker = work / MARKER
    command = [sys.executable, "-m", "otter", "run", "-a", str(autograder_zip), "-o", str(out)]
    try:
        done = subprocess.run(
            [*command, path.name],
            cwd=work,
            env={**GRADING_ENV, "TAMPER_MARKER": str(marker)},
            capture_output=True,
            text=True,
            timeout=OTTER_RUN_TIMEOUT,
        )
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        stdout, stderr = "", f"otter run did not finish within {OTTER_RUN_TIMEOUT} s"
    results = out / "results.json"
    return {
        "results": json.loads(results.read_text()) if results.is_file() else None,
        "stdout": stdout,
        "stderr": stderr,
        "marker": marker,
    }


def labkit_grade(files: dict[str, Path], autograder_zip: Path, root: Path) -> dict:
    """Grade every file in one ``labkit grade`` batch, in a child process of its own (so that
    its environment, ``TAMPER_MARKER`` included, reaches every process it starts)."""
    inbox, out = root / "inbox", root / "out"
    inbox.mkdir(parents=True)
    names = {}
    for fixture_id, path in files.items():
        name = fixture_id.replace("/", "--")
        shutil.copy(path, inbox / name)
        names[name] = fixture_id
    marker = root / MARKER
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(autograder_zip)]
        + ["-o", str(out)],
        env={**GRADING_ENV, "TAMPER_MARKER": str(marker)},
        capture_output=True,
        text=True,
        timeout=3 * OTTER_RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with (out / "gradebook.csv").open(newline="") as f:
        import csv

        rows = {row["submission"]: row for row in csv.DictReader(f)}
    graded = {}
    for name, fixture_id in names.items():
        folder = out / name
        graded[fixture_id] = {
            "outcome": json.loads((folder / "results.json").read_text()),
            "feedback": (folder / "feedback.txt").read_text(),
            "row": rows[name],
            "marker": marker,
            "summary": done.stdout,
        }
    return graded


def grade_everything(autograder_zip: Path, root: Path) -> dict[str, dict]:
    """Every fixture through both paths: ``{id: {"otter": ..., "labkit": ...}}``."""
    files = fixture_files()
    with ThreadPoolExecutor(max_workers=2) as pool:
        ids = sorted(files)
        otter = dict(
            zip(
                ids,
                pool.map(lambda i: otter_run(files[i], autograder_zip, root / "otter" / i), ids),
                strict=True,
            )
        )
    labkit = labkit_grade(files, autograder_zip, root / "labkit")
    return {i: {"otter": otter[i], "labkit": labkit[i]} for i in files}


def otter_scores(graded: dict) -> dict[str, float] | None:
    """Per-question scores in an ``otter run`` result (None: it graded nothing)."""
    if graded["results"] is None:
        return None
    tests = graded["results"]["tests"]
    return {t["name"]: float(t["score"]) for t in tests if t["name"] in QUESTIONS}


def labkit_scores(graded: dict) -> dict[str, float] | None:
    """Per-question scores in a ``labkit grade`` outcome (None: invalid, nothing graded)."""
    outcome = graded["outcome"]
    if outcome["status"] not in ("ok", "timeout"):
        return None
    return {q: float(outcome["scores"][q]) for q in QUESTIONS}


def otter_student_view(graded: dict) -> str:
    """What a student sees of an ``otter run`` result on Gradescope: visible entries, and stdout
    unless it is hidden."""
    results = graded["results"] or {}
    shown = [t.get("output", "") for t in results.get("tests", []) if t["visibility"] == "visible"]
    if results.get("stdout_visibility", "hidden") != "hidden":
        shown.append(graded["stdout"])
    return "\n".join([results.get("output", ""), *shown])


def labkit_student_view(graded: dict) -> str:
    """What a student sees of a ``labkit grade`` result: ``feedback.txt``."""
    return graded["feedback"]
