"""Verifying a built release: declared gates, each a check of the build that names what is wrong.

``GATES`` lists them, each with the sentence the README's list uses; ``verify_release`` runs them
all (the slow ones at once) and raises one ReleaseError listing every gate that failed, so an
instructor sees every problem of a source in one build. The release is published only when none
failed (``publish``). The source's own gate, ``source.check_hidden_tests``, runs before anything
is built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labkit.release.build import KERNEL_ENV, Build, execute_notebook
from labkit.release.source import (
    NOTEBOOK_NAME,
    ReleaseError,
    SourceQuestion,
    is_import,
    lines_of_test,
)

ANSWER_TAG = "otter_answer_cell"


@dataclass(frozen=True)
class Gate:
    """One verification: what it proves, and the check (raises ReleaseError when it fails)."""

    proves: str
    check: Callable[[Build], None]


def no_hidden_test_leaks(build: Build) -> None:
    """No line of a hidden test appears anywhere in the student release.

    Lines that also occur in a public test are public by design; imports and short lines say
    nothing. Both the source form and otter's re-printed (``ast.unparse``) form count.
    """
    student_dir, questions = build.student, build.questions
    public = {line.strip() for q in questions for t in q.public_tests for line in lines_of_test(t)}
    shown: dict[str, set[str]] = {}
    for file in sorted(p for p in student_dir.rglob("*") if p.is_file()):
        text = _visible_text(file)
        if text is not None:
            shown[str(file.relative_to(student_dir.parent))] = {
                line.strip() for line in text.splitlines()
            }
    leaks = []
    for q in questions:
        for test in q.hidden_tests:
            lines = {line.strip() for line in lines_of_test(test)} - public
            lines = {line for line in lines if len(line) >= 30 and not is_import(line)}
            for file, file_lines in shown.items():
                for line in sorted(lines & file_lines):
                    leaks.append(f"{file} shows a line of a hidden test of {q.name}: {line[:60]!r}")
    if leaks:
        raise ReleaseError(
            "hidden tests leak into the student release: " + "; ".join(sorted(set(leaks)))
        )


def _visible_text(file: Path) -> str | None:
    """All text a student can see in a file: every string of a notebook, metadata included."""
    if file.suffix == ".ipynb":
        strings: list[str] = []

        def collect(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, dict):
                for value in node.values():
                    collect(value)
            elif isinstance(node, list):
                for value in node:
                    collect(value)

        collect(json.loads(file.read_text()))
        return "\n".join(strings)
    try:
        return file.read_text()
    except UnicodeDecodeError:
        return None


def student_notebook_runs(build: Build) -> None:
    """The student notebook runs top to bottom without errors up to its first blank."""
    run_dir = build.work_dir / "student-run"
    shutil.copytree(build.student, run_dir)
    nb = execute_notebook(run_dir / NOTEBOOK_NAME, workdir=run_dir, skip="grader.export(")
    first_blank = next(
        (n for n, c in enumerate(nb.cells) if ANSWER_TAG in c.metadata.get("tags", [])),
        len(nb.cells),
    )
    for number, cell in enumerate(nb.cells[:first_blank]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise ReleaseError(
                    f"student_template/{NOTEBOOK_NAME}, cell {number + 1} (before the first blank) "
                    f"raises {output['ename']}: {output['evalue']}"
                )


def grade_with_otter_run(zip_path: Path, notebook: Path, work_dir: Path) -> dict[str, float]:
    """Grade one notebook with ``otter run -a zip_path``; return each question's score."""
    out = work_dir / f"otter-run-{notebook.stem}"
    out.mkdir(parents=True)
    submission = out / NOTEBOOK_NAME
    shutil.copy2(notebook, submission)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otter",
            "run",
            "-a",
            str(zip_path),
            "-o",
            str(out),
            str(submission),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **KERNEL_ENV},
        check=False,
    )
    results = out / "results.json"
    if done.returncode != 0 or not results.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ReleaseError(f"otter run on {notebook.name} failed:\n{tail}")
    tests = json.loads(results.read_text())["tests"]
    return {t["name"]: float(t["score"]) for t in tests if "score" in t}


def check_scores(scores: dict[str, float], questions: list[SourceQuestion], *, expect: str) -> None:
    """The solution earns every point (``expect='full'``), the blank none (``'zero'``)."""
    wrong = []
    for q in questions:
        if q.manual:
            continue
        got = scores.get(q.name)
        wanted = q.points if expect == "full" else 0.0
        if got is None or abs(got - wanted) > 1e-9:
            wrong.append(f"{q.name} scored {got} instead of {wanted:g}")
    if wrong:
        which = "the solution" if expect == "full" else "the blank student notebook"
        raise ReleaseError(f"{which}, graded with the built zip: " + "; ".join(wrong))


def solution_earns_full_marks(build: Build) -> None:
    """The solution notebook earns every autograded point through the built zip."""
    scores = grade_with_otter_run(build.autograder_zip, build.solution, build.work_dir / "full")
    check_scores(scores, build.questions, expect="full")


def blank_earns_zero(build: Build) -> None:
    """The blank student notebook earns nothing through the built zip."""
    blank = build.student / NOTEBOOK_NAME
    scores = grade_with_otter_run(build.autograder_zip, blank, build.work_dir / "zero")
    check_scores(scores, build.questions, expect="zero")


GATES = (
    Gate("no line of a hidden test appears in the student release", no_hidden_test_leaks),
    Gate("the student notebook runs without errors up to its first blank", student_notebook_runs),
    Gate("the solution earns full marks through the built zip", solution_earns_full_marks),
    Gate("the blank student notebook earns zero on every autograded question", blank_earns_zero),
)


def verify_release(build: Build, gates: tuple[Gate, ...] = GATES) -> None:
    """Run every gate on a built release, three at a time (each runs notebooks or otter); raise
    one ReleaseError listing each gate that failed."""
    failures: list[str] = []

    def run(gate: Gate) -> None:
        try:
            gate.check(build)
        except ReleaseError as exc:
            failures.append(str(exc))

    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(run, gate) for gate in gates]:
            future.result()  # anything but a failed gate propagates
    if failures:
        raise ReleaseError(
            "the release failed verification:\n  - " + "\n  - ".join(sorted(failures))
        )
