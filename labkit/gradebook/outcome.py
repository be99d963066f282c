"""What ``labkit grade`` concludes about each submission, as ``results.json`` stores it.

``Outcome.new`` is the one way an outcome starts (its points, maximum and submitters set
together), and ``Outcome.from_json`` the one way a stored one is read back.
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
_ADDED_FIELDS = ("points", "written", "students")


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

    @classmethod
    def new(
        cls,
        submission: str,
        status: Status,
        *,
        points: dict[str, float],
        students: Iterable[dict] = (),
        reason: str = "",
        autograder_sha256: str = "",
        submission_sha256: str = "",
    ) -> Outcome:
        """A submission's outcome before (or without) a verdict: its autograded questions'
        points, their sum as the maximum, and its submitters, whatever the status."""
        return cls(
            submission,
            status,
            reason=reason,
            max_total=sum(points.values()),
            points=dict(points),
            students=[dict(student) for student in students],
            autograder_sha256=autograder_sha256,
            submission_sha256=submission_sha256,
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
            data.update(verdict=None, written={})
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

    def counts(self) -> Counter:
        """How many submissions ended in each status."""
        return Counter(o.status for o in self.outcomes)
