"""The TAs' grades of written answers, as the review store hands them out, and their rules.

A score is ``clamp(adjustment + points of the applied rubric items, 0, points)``: typing a score
sets the adjustment, so editing an item's points moves every score it is applied to. Typed scores
lie in ``[0, points]`` in half points; an item's points in ``[-points, points]``, in half points
too. The limits on what a TA may type are defined here once, for the store and the app alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from labkit.gradebook.folder import GradebookError

MAX_COMMENT_CHARS = 5_000
MAX_RUBRIC_TEXT_CHARS = 500
MAX_REASON_CHARS = 1_000


@dataclass(frozen=True)
class RubricItem:
    """A rubric item: points added (or, negative, taken) when a TA applies it to an answer."""

    id: int
    question: str
    points: float
    text: str
    position: int


@dataclass(frozen=True)
class Grade:
    """The TA's grade of one (submission, written question)."""

    submission: str
    question: str
    score: float | None  # None: not graded
    comment: str
    rubric_ids: tuple[int, ...]  # applied items
    stale: bool  # the answer changed since it was scored: it counts as ungraded
    updated_at: str
    replaced_rubric: tuple[str, ...] = ()  # rubric items an imported score replaced

    @classmethod
    def ungraded(cls, submission: str, question: str) -> Grade:
        """The grade of an answer no TA has touched."""
        return cls(submission, question, None, "", (), False, "")

    @property
    def counts(self) -> bool:
        """Whether the score counts: given, and not stale."""
        return self.score is not None and not self.stale


class Progress(NamedTuple):
    """How far the grading of one written question is: scores that count (given and not stale),
    answers, and stale scores (the answer changed after it was scored: to confirm or rescore)."""

    graded: int
    total: int
    stale: int


@dataclass(frozen=True)
class Answer:
    """One submission's answer to a written question, and its grade."""

    submission: str
    question: str
    cells: list[dict]
    fingerprint: str
    empty: bool
    grade: Grade
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubmissionRow:
    """A graded submission as the store holds it: autograded results, students, its written
    grades and its pseudonym. Its totals are the ledger's (``labkit.gradebook.ledger``)."""

    name: str
    status: str
    scores: dict[str, float]
    flags: list[str]
    notes: list[str]
    message: str
    tests: list[dict]  # the verdict's tests: question, test, hidden, points, passed, message
    students: list[dict]
    written: dict[str, Grade]
    pseudonym: str = ""


def score_of(adjustment: float | None, applied: list[float], points: float) -> float | None:
    """The score of a grade from its parts (None: not graded)."""
    if adjustment is None:
        return None
    return min(max(adjustment + sum(applied), 0.0), points)


def check_score(value, points: float, *, what: str) -> float:
    """A typed score, checked: a number in ``[0, points]``, a multiple of 0.5."""
    number = _half_points(value, what=what)
    if not 0 <= number <= points:
        raise GradebookError(f"{what} must be between 0 and {points:g}, not {number:g}")
    return number


def check_item_points(value, limit: float) -> float:
    """A rubric item's points, checked: a multiple of 0.5 within ``[-limit, limit]``."""
    number = _half_points(value, what="a rubric item's points")
    if abs(number) > limit:
        raise GradebookError(
            f"a rubric item's points must be between -{limit:g} and {limit:g}, not {number:g}"
        )
    return number


def check_item_text(text) -> str:
    """A rubric item's text, checked: not blank, at most ``MAX_RUBRIC_TEXT_CHARS``."""
    if not isinstance(text, str) or not text.strip():
        raise GradebookError("a rubric item needs a text")
    if len(text) > MAX_RUBRIC_TEXT_CHARS:
        raise GradebookError(
            f"a rubric item's text is longer than {MAX_RUBRIC_TEXT_CHARS} characters"
        )
    return text.strip()


def check_comment(comment) -> str:
    """A comment, checked: text of at most ``MAX_COMMENT_CHARS``."""
    if not isinstance(comment, str):
        raise GradebookError(f"the comment must be text, not {type(comment).__name__}")
    if len(comment) > MAX_COMMENT_CHARS:
        raise GradebookError(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    return comment


def check_reason(reason) -> str:
    """An override's reason, checked: text that is not blank, at most ``MAX_REASON_CHARS``."""
    if not isinstance(reason, str) or not reason.strip():
        raise GradebookError("an override needs a reason (the student reads it)")
    if len(reason) > MAX_REASON_CHARS:
        raise GradebookError(f"the reason is longer than {MAX_REASON_CHARS} characters")
    return reason.strip()


def _half_points(value, *, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GradebookError(f"{what} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number * 2 != round(number * 2):
        raise GradebookError(f"{what} must be a multiple of 0.5, not {value!r}")
    return number
