"""Graded folders made by hand for the TA's last mile: a manifest with a bonus, written questions
between autograded ones, students, code; then the kit's public ways in (the CLI, the review app,
``refresh_reports``) read them.

Only the folder's files are written here (``results.json`` as JSON, ``questions.json``,
``written_questions.json``, a placeholder ``gradebook.csv``), so a test states what a TA sees
whatever the code that reads them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from review_helpers import markdown_answer

from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.written import WrittenQuestion, questions_to_json
from labkit.grader.verdict import TestVerdict, Verdict

# Notebook order: q_z, q_confusion (written), q_softmax, q_center_bonus (bonus), q_reading (written)
MANIFEST = [
    ("q_z", 2.0, "autograded", False),
    ("q_confusion", 2.0, "written", False),
    ("q_softmax", 3.0, "autograded", False),
    ("q_center_bonus", 1.0, "autograded", True),
    ("q_reading", 1.0, "written", False),
]
AUTOGRADED = {name: points for name, points, kind, _ in MANIFEST if kind == "autograded"}
WRITTEN = {name: points for name, points, kind, _ in MANIFEST if kind == "written"}
MAXIMUM = 8.0  # 2 + 2 + 3 + 1: the bonus point is on top
FULL = {"q_z": 2.0, "q_softmax": 3.0, "q_center_bonus": 1.0}


def outcome_data(
    name: str,
    scores: dict[str, float],
    *,
    answers: dict[str, str] | None = None,
    students: list[dict] | None = None,
    status: str = "ok",
    **extra,
) -> dict:
    """``results.json`` of an outcome: its verdict's tests give ``scores`` (0 when absent)."""
    tests = [
        TestVerdict(
            q,
            f"test_{q}",
            hidden=True,
            points=points,
            passed=scores.get(q, 0.0) == points,
            message="" if scores.get(q, 0.0) == points else f"wrong for {name}",
        )
        for q, points in AUTOGRADED.items()
    ]
    verdict = Verdict(tests=tests, possible=dict(AUTOGRADED))
    earned = verdict.scores() if status == "ok" else {}
    outcome = Outcome(
        name,
        Status(status),
        scores=earned,
        total=sum(earned.values()),
        max_total=sum(AUTOGRADED.values()),
        verdict=dataclasses.asdict(verdict) if status == "ok" else None,
        points=dict(AUTOGRADED),
        written={q: markdown_answer(text) for q, text in (answers or {}).items()},
        students=list(students or []),
    )
    data = json.loads(outcome.to_json())
    data.update(extra)
    return data


def write_results(out: Path, data: dict) -> None:
    """Write ``<submission>/results.json``."""
    folder = out / data["submission"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(data, indent=1))


def make_folder(out: Path, outcomes: list[dict]) -> Path:
    """A graded folder of ``outcomes`` (``outcome_data``), with the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "assignment": "logreg_digits",
        "questions": [{"name": n, "points": p, "kind": k, "bonus": b} for n, p, k, b in MANIFEST],
    }
    (out / "questions.json").write_text(json.dumps(manifest))
    written = [
        WrittenQuestion(q, p, f"**Question (`{q}`, written).** Why?", [])
        for q, p in WRITTEN.items()
    ]
    (out / "written_questions.json").write_text(questions_to_json(written))
    for data in outcomes:
        write_results(out, data)
    (out / "gradebook.csv").write_text("submission,status,message\n")
    return out


def answers(text: str = "Because.") -> dict[str, str]:
    """An answer to every written question."""
    return {q: f"{text} ({q})" for q in WRITTEN}


def read_gradebook(out: Path) -> dict[str, dict[str, str]]:
    """``gradebook.csv`` by submission."""
    with (out / "gradebook.csv").open(newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def gradebook_header(out: Path) -> list[str]:
    """``gradebook.csv``'s header."""
    with (out / "gradebook.csv").open(newline="") as handle:
        return next(csv.reader(handle))


def change_answer(out: Path, submission: str, question: str, text: str) -> None:
    """A resubmission changed one written answer (``labkit grade`` rewrote results.json)."""
    path = out / submission / "results.json"
    data = json.loads(path.read_text())
    data["written"][question] = markdown_answer(text)
    path.write_text(json.dumps(data, indent=1))
