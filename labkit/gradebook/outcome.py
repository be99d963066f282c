"""What ``labkit grade`` concludes about each submission, as ``results.json`` stores it.

``Outcome.new`` is the one way an outcome starts (its points, maximum and submitters set
together), and ``Outcome.from_json`` the one way a stored one is read back. ``total`` is the
autograded points earned (bonus included) and ``max_total`` the assignment's maximum (the regular
points of every question, written ones included, the bonus not): the written scores, overrides
and late penalties live in the review store, and ``labkit.gradebook.totals`` adds them up.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """How grading a submission ended."""

    OK = "ok"
    ERROR = "error"  # the grader failed (not the submission); the message says why
    TIMEOUT = "timeout"  # the notebook ran past its limit; answers recorded by then count
    INVALID = "invalid"  # not a notebook the grader can read
    PENDING = "pending"  # not graded yet (a batch that was stopped)


FINAL_STATUSES = (Status.OK, Status.ERROR, Status.TIMEOUT, Status.INVALID)
_ADDED_FIELDS = (
    "points",
    "written",
    "students",
    "bonus_max",
    "submitted_at",
    "time_source",
    "late_marker",
    "code",
    "phases",
)


@dataclass
class Outcome:
    """The grade of one submission; every text in it was written by the trusted side."""

    submission: str
    status: Status
    reason: str = ""  # for the TA, where there are no scores: why
    scores: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    max_total: float = 0.0
    seconds: float = 0.0
    submission_sha256: str = ""
    autograder_sha256: str = ""
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sandbox: list[str] = field(default_factory=list)
    verdict: dict | None = None
    points: dict[str, float] = field(default_factory=dict)  # the zip's autograded questions
    # Each written question's answer, read from the submitted file (labkit.gradebook.written).
    written: dict[str, dict] = field(default_factory=dict)
    students: list[dict] = field(default_factory=list)  # name, email, sid per submitter
    bonus_max: float = 0.0  # the bonus points, on top of max_total
    # When it was submitted (ISO 8601 with its offset; "" if unknown), and where that came from
    # ("gradescope", "canvas", "mtime"); Canvas's download names mark late work without a time.
    submitted_at: str = ""
    time_source: str = ""
    late_marker: bool = False
    # Each autograded question's code, read from the submitted file as data (for the TA).
    code: dict[str, dict] = field(default_factory=dict)
    # Seconds per phase of grading it (labkit.grader.phases; TA-only, never in feedback).
    phases: dict[str, float] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        submission: str,
        status: Status,
        *,
        points: dict[str, float],
        maximum: float | None = None,
        bonus_max: float = 0.0,
        students: Iterable[dict] = (),
        reason: str = "",
        autograder_sha256: str = "",
        submission_sha256: str = "",
        submitted_at: str = "",
        time_source: str = "",
        late_marker: bool = False,
    ) -> Outcome:
        """A submission's outcome before (or without) a verdict: its autograded questions'
        points, the assignment's maximum (``maximum``: regular points, written included, the
        bonus not; the points' sum if not given) and bonus, its submitters and when it was
        submitted, whatever the status."""
        return cls(
            submission,
            status,
            reason=reason,
            max_total=sum(points.values()) if maximum is None else maximum,
            bonus_max=bonus_max,
            points=dict(points),
            students=[dict(student) for student in students],
            autograder_sha256=autograder_sha256,
            submission_sha256=submission_sha256,
            submitted_at=submitted_at,
            time_source=time_source,
            late_marker=late_marker,
        )

    @property
    def message(self) -> str:
        """The gradebook's message column: why, flags for review, notes, sandbox notes."""
        parts = [self.reason] if self.reason else []
        parts += [f"flagged for review: {flag}" for flag in self.flags]
        parts += [*self.notes, *self.sandbox]
        return "; ".join(parts)

    def to_json(self, *, summary: bool = False) -> str:
        """The outcome as ``results.json`` holds it (``summary``: without the verdict and the
        written answers, as the review store keeps a copy)."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        if summary:
            data.update(verdict=None, written={}, code={})
            return json.dumps(data, sort_keys=True)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        """Read back what ``to_json`` wrote (raises ValueError, KeyError or TypeError if not).

        Fields added since a file was written take their defaults.
        """
        data = json.loads(text)
        values = {
            f.name: data[f.name]
            for f in dataclasses.fields(cls)
            if f.name in data or f.name not in _ADDED_FIELDS
        }
        values["status"] = Status(values["status"])
        return cls(**values)


@dataclass
class BatchResult:
    """What a batch produced: one outcome per submission, and how long it took."""

    outcomes: list[Outcome]
    points: dict[str, float]
    seconds: float
    skipped: int
    sandbox: list[str] = field(default_factory=list)
    # Seconds per phase summed over the submissions graded in this run (labkit.grader.phases),
    # and the grading servers' start.
    phases: dict[str, float] = field(default_factory=dict)
    server_seconds: float = 0.0
    # The folder's settings and rows (``labkit.gradebook.ledger``) the reports were written from.
    settings: object = None
    rows: list | None = None

    def counts(self) -> Counter:
        """How many submissions ended in each status."""
        return Counter(o.status for o in self.outcomes)
