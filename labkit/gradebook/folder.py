"""The graded folder: what ``labkit grade`` writes and ``labkit review`` reads, by name.

::

    OUT/gradebook.csv              one row per submission (the TA's)
    OUT/summary.png                histogram of totals, each question's mean
    OUT/questions.json             every question in notebook order: points, kind, bonus
    OUT/written_questions.json     the written questions (the autograder zip's own copy)
    OUT/course.json                the due date and late policy (``gradebook.course``)
    OUT/roster.json                the course roster, if one was given (``gradebook.roster``)
    OUT/review.sqlite              the TAs' grades of written answers (``gradebook.store``)
    OUT/similarity.json            shared work between submissions, per question, and
    OUT/pairs.csv                  its pairs (``labkit similarity``)
    OUT/<submission>/results.json  the outcome of one submission (TA only)
    OUT/<submission>/feedback.txt  what its student reads

``GradedFolder`` owns these names and is the one way an outcome is written and read back. Every
file is written atomically, so an interrupted writer leaves the old file or the new one.
"""

from __future__ import annotations

import csv
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.csvcells import unguard
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.written import QUESTIONS_NAME
from labkit.grader.manifest import MANIFEST_NAME

GRADEBOOK_NAME = "gradebook.csv"
SUMMARY_NAME = "summary.png"
STORE_NAME = "review.sqlite"
RESULTS_NAME = "results.json"
FEEDBACK_NAME = "feedback.txt"
SIMILARITY_NAME = "similarity.json"
PAIRS_NAME = "pairs.csv"
COURSE_NAME = "course.json"
ROSTER_NAME = "roster.json"


class GradebookError(Exception):
    """A graded folder, or a change to its grades, that is refused; the message names the file,
    row, field or value and the problem."""


class GradedFolder:
    """A folder written by ``labkit grade`` (or about to be)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def gradebook(self) -> Path:
        """``gradebook.csv``."""
        return self.path / GRADEBOOK_NAME

    @property
    def summary_png(self) -> Path:
        """``summary.png``."""
        return self.path / SUMMARY_NAME

    @property
    def questions(self) -> Path:
        """``written_questions.json``."""
        return self.path / QUESTIONS_NAME

    @property
    def manifest(self) -> Path:
        """``questions.json``, the questions manifest."""
        return self.path / MANIFEST_NAME

    @property
    def course(self) -> Path:
        """``course.json``, the due date and late policy."""
        return self.path / COURSE_NAME

    @property
    def roster(self) -> Path:
        """``roster.json``, the course roster."""
        return self.path / ROSTER_NAME

    @property
    def store(self) -> Path:
        """``review.sqlite``, the review store."""
        return self.path / STORE_NAME

    @property
    def similarity(self) -> Path:
        """``similarity.json``, the similarity report."""
        return self.path / SIMILARITY_NAME

    @property
    def pairs(self) -> Path:
        """``pairs.csv``, the similarity report's pairs."""
        return self.path / PAIRS_NAME

    def results(self, submission: str) -> Path:
        """A submission's ``results.json``."""
        return self.path / submission / RESULTS_NAME

    def feedback(self, submission: str) -> Path:
        """A submission's ``feedback.txt``."""
        return self.path / submission / FEEDBACK_NAME

    def check(self) -> None:
        """Raise GradebookError unless this is a folder ``labkit grade`` wrote."""
        if not self.gradebook.is_file():
            raise GradebookError(
                f"{self.path} is not a folder written by labkit grade (no {GRADEBOOK_NAME})"
            )

    def result_files(self) -> dict[str, Path]:
        """Each graded submission's ``results.json``, by submission name, sorted."""
        return {p.parent.name: p for p in sorted(self.path.glob(f"*/{RESULTS_NAME}"))}

    def load_outcome(self, submission: str) -> Outcome | None:
        """The stored outcome of ``submission`` (None if there is none, or it cannot be read:
        ``labkit grade`` writes them atomically, so only a file edited by hand is unreadable)."""
        try:
            return Outcome.from_json(self.results(submission).read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_outcome(self, outcome: Outcome, *, feedback: str) -> None:
        """Write ``feedback.txt`` and then ``results.json`` of a submission, atomically."""
        write_atomically(self.feedback(outcome.submission), feedback)
        write_atomically(self.results(outcome.submission), outcome.to_json())

    def write_feedback(self, submission: str, feedback: str) -> None:
        """Rewrite a submission's ``feedback.txt``."""
        write_atomically(self.feedback(submission), feedback)

    def pending(self) -> list[str]:
        """The submissions the gradebook lists as ``pending`` (a batch that was stopped; none if
        it cannot be read)."""
        try:
            with open(self.gradebook, newline="", encoding="utf-8") as handle:
                return [
                    unguard(row["submission"])
                    for row in csv.DictReader(handle)
                    if row.get("status") == Status.PENDING.value and row.get("submission")
                ]
        except (OSError, csv.Error, KeyError, UnicodeDecodeError):
            return []
