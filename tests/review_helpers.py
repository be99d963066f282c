"""Small graded output folders for the review tests: what ``labkit grade`` writes, made by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from labkit.gradebook import reports
from labkit.gradebook.course import Course
from labkit.gradebook.ledger import Row, Settings, build_rows
from labkit.gradebook.manifest import Manifest, ManifestQuestion
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.totals import Override, WrittenScore
from labkit.gradebook.written import (
    WrittenQuestion,
    answer_fingerprint,
    is_empty,
    questions_to_json,
)
from labkit.grader.verdict import TestVerdict as CaseVerdict
from labkit.grader.verdict import Verdict

POINTS = {"q_auto": 3.0}
QUESTIONS = [
    WrittenQuestion("q_essay", 2.0, "**Question (`q_essay`, written).** Why?", []),
    WrittenQuestion("q_short", 1.0, "**Question (`q_short`, written).** What?", []),
]


def manifest_for(
    points: dict[str, float],
    written: dict[str, float] | None = None,
    *,
    bonus: tuple[str, ...] = (),
    order: list[str] | None = None,
) -> Manifest:
    """A manifest of autograded ``points`` and ``written`` questions (in ``order`` if given)."""
    questions = [ManifestQuestion(q, p, "autograded", q in bonus) for q, p in points.items()]
    questions += [ManifestQuestion(q, p, "written", q in bonus) for q, p in (written or {}).items()]
    if order is not None:
        questions.sort(key=lambda q: order.index(q.name))
    return Manifest("lab", tuple(questions))


def rows_for(
    outcomes: list[Outcome],
    points: dict[str, float],
    written_points: dict[str, float] | None = None,
    *,
    written: dict[tuple[str, str], WrittenScore] | None = None,
    overrides: dict[tuple[str, str], Override] | None = None,
    bonus: tuple[str, ...] = (),
    course: Course | None = None,
) -> tuple[Settings, list[Row]]:
    """The settings and rows the reports read, for outcomes made by hand."""
    settings = Settings(
        manifest=manifest_for(points, written_points, bonus=bonus), course=course or Course()
    )
    rows, _ = build_rows(settings, outcomes, written=written, overrides=overrides)
    return settings, rows


def write_gradebook(path: Path, outcomes: list[Outcome], points: dict[str, float], **kw) -> None:
    """Write a gradebook for outcomes made by hand (see ``rows_for``)."""
    settings, rows = rows_for(outcomes, points, **kw)
    reports.write_gradebook(path, settings, rows)


def markdown_answer(text: str) -> dict:
    """A written answer of one markdown cell."""
    cells = [{"cell_type": "markdown", "source": text, "attachments": {}}]
    return {
        "cells": cells,
        "fingerprint": answer_fingerprint(cells),
        "empty": is_empty(cells),
        "notes": [],
    }


def outcome(name: str, answers: dict[str, str], *, auto: float = 2.0, **changes) -> Outcome:
    """An ok outcome with an autograded score and markdown written answers."""
    verdict = Verdict(
        tests=[CaseVerdict("q_auto", "test_h", hidden=True, points=auto, passed=True)],
        possible=dict(POINTS),
    )
    result = Outcome(
        name,
        Status.OK,
        scores=verdict.scores(),
        total=auto,
        max_total=sum(POINTS.values()),
        verdict=dataclasses.asdict(verdict),
        points=dict(POINTS),
        written={q: markdown_answer(text) for q, text in answers.items()},
    )
    return dataclasses.replace(result, **changes)


def write_outcome(output_dir: Path, result: Outcome) -> None:
    """Write ``<submission>/results.json`` as ``labkit grade`` does."""
    folder = output_dir / result.submission
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(result.to_json())


def graded_folder(output_dir: Path) -> Path:
    """An output folder with the written questions, three graded submissions and a gradebook."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "written_questions.json").write_text(questions_to_json(QUESTIONS))
    outcomes = [
        outcome("alice.ipynb", {"q_essay": "Because.", "q_short": "This."}),
        outcome("bob.ipynb", {"q_essay": "No idea", "q_short": "That"}),
        outcome(
            "carol.ipynb",
            {"q_essay": "_Type your answer here, replacing this text._", "q_short": ""},
            auto=0.0,
        ),
    ]
    for result in outcomes:
        write_outcome(output_dir, result)
    write_gradebook(output_dir / "gradebook.csv", outcomes, POINTS)
    return output_dir
