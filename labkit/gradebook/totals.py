"""The one definition of a submission's total: what counts, its maximum, the bonus, the penalty.

Every number a student, a TA or an LMS reads (the summary, ``results.json``, the gradebook, the
feedback, the review app, the LMS exports) comes from ``compute_totals``:

- the **maximum** is the regular points of every question, autograded and written (the
  manifest's ``maximum``); a **bonus** question's points are added on top, so a total may read
  20 / 19;
- an autograded question counts its hidden tests' score, or a TA's **override** of it;
- a written question counts its TA's score once given, and not while it is **stale** (the answer
  changed after it was scored): it is then *pending* again, as an ungraded one is;
- a **late penalty** (a fraction, ``labkit.gradebook.late``) takes that share of the points
  earned; ``before_penalty`` keeps the total before it.

A submission that was not graded to the end (status other than ``ok``) has no total.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labkit.gradebook.manifest import Manifest
from labkit.gradebook.outcome import Outcome, Status


@dataclass(frozen=True)
class WrittenScore:
    """A TA's grade of one written answer, as the reports show it."""

    score: float | None  # None: not graded yet
    comment: str = ""
    rubric: tuple[str, ...] = ()  # the applied rubric items, as the student reads them
    stale: bool = False  # the answer changed after it was scored: it counts as ungraded
    replaced_rubric: tuple[str, ...] = ()  # rubric items an imported score replaced


@dataclass(frozen=True)
class Override:
    """A TA's score for an autograded question, in place of the hidden tests' (``computed``)."""

    score: float
    reason: str
    computed: float | None = None  # the hidden tests' score when the override was set
    updated_at: str = ""


@dataclass(frozen=True)
class Part:
    """One question of one submission: what counts, and why."""

    name: str
    points: float
    kind: str  # "autograded" or "written"
    bonus: bool
    score: float | None  # what counts; None: nothing yet (ungraded, stale, no verdict)
    computed: float | None = None  # autograded: the hidden tests' score
    override: Override | None = None
    written: WrittenScore | None = None

    @property
    def label(self) -> str:
        """The name as a student or TA reads it: bonus questions say so."""
        return f"{self.name} (bonus)" if self.bonus else self.name

    @property
    def stale(self) -> bool:
        """Whether a written score is waiting to be confirmed after the answer changed."""
        return self.written is not None and self.written.stale and self.written.score is not None

    @property
    def pending(self) -> bool:
        """Whether a written question still has to be graded (never graded, or stale)."""
        return self.kind == "written" and self.score is None


@dataclass(frozen=True)
class Totals:
    """A submission's points, all from ``compute_totals``."""

    parts: tuple[Part, ...]
    graded: bool  # the status is ok: the parts count
    earned: float  # regular points counted so far
    bonus: float  # bonus points counted so far
    maximum: float  # the regular points of the assignment
    bonus_max: float
    penalty_fraction: float | None = None  # None: no penalty known (on time, or no policy)
    penalty: float = 0.0  # points taken by the late penalty
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def before_penalty(self) -> float | None:
        """Points earned so far, bonus included, before any late penalty (None: not graded)."""
        return round(self.earned + self.bonus, 6) if self.graded else None

    @property
    def total(self) -> float | None:
        """Points so far after the late penalty (None: not graded to the end)."""
        before = self.before_penalty
        return None if before is None else round(before - self.penalty, 6)

    @property
    def pending(self) -> tuple[str, ...]:
        """The written questions still to be graded (never graded, or stale)."""
        return tuple(p.name for p in self.parts if p.pending)

    @property
    def stale(self) -> tuple[str, ...]:
        """The written questions whose score waits for a TA after the answer changed."""
        return tuple(p.name for p in self.parts if p.stale)

    @property
    def complete(self) -> bool:
        """Graded to the end with nothing left to grade: the total is final."""
        return self.graded and not self.pending

    def part(self, name: str) -> Part | None:
        """The part of question ``name``."""
        return next((p for p in self.parts if p.name == name), None)

    def to_dict(self) -> dict:
        """The totals as JSON data (``results.json``'s ``totals`` and the review app)."""
        return {
            "total": self.total,
            "before_penalty": self.before_penalty,
            "penalty": self.penalty,
            "penalty_fraction": self.penalty_fraction,
            "maximum": self.maximum,
            "bonus": self.bonus,
            "bonus_max": self.bonus_max,
            "pending": list(self.pending),
            "stale": list(self.stale),
            "complete": self.complete,
        }


def compute_totals(
    *,
    manifest: Manifest,
    outcome: Outcome,
    written: dict[str, WrittenScore] | None = None,
    overrides: dict[str, Override] | None = None,
    penalty_fraction: float | None = None,
) -> Totals:
    """A submission's totals (see the module's docstring for the rules).

    Args:
        manifest: the assignment's questions, in notebook order.
        outcome: what ``labkit grade`` concluded (its autograded scores).
        written: the TAs' grades of its written answers, by question.
        overrides: the TAs' overrides of its autograded scores, by question.
        penalty_fraction: the late penalty's share of the points (0 to 1), if any.
    """
    written, overrides = written or {}, overrides or {}
    graded = outcome.status is Status.OK
    parts = []
    for question in manifest.questions:
        if question.autograded:
            computed = outcome.scores.get(question.name, 0.0) if graded else None
            override = overrides.get(question.name)
            score = override.score if (override is not None and graded) else computed
            parts.append(
                Part(
                    question.name,
                    question.points,
                    question.kind,
                    question.bonus,
                    score=score,
                    computed=computed,
                    override=override,
                )
            )
        else:
            grade = written.get(question.name)
            counted = None if grade is None or grade.stale else grade.score
            parts.append(
                Part(
                    question.name,
                    question.points,
                    question.kind,
                    question.bonus,
                    score=counted if graded else None,
                    written=grade,
                )
            )
    earned = sum(p.score for p in parts if p.score is not None and not p.bonus)
    bonus = sum(p.score for p in parts if p.score is not None and p.bonus)
    fraction = penalty_fraction if graded else None
    penalty = round((earned + bonus) * fraction, 2) if fraction else 0.0
    return Totals(
        parts=tuple(parts),
        graded=graded,
        earned=round(earned, 6),
        bonus=round(bonus, 6),
        maximum=manifest.maximum,
        bonus_max=manifest.bonus_max,
        penalty_fraction=fraction,
        penalty=penalty,
    )
