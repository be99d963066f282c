"""Reports of ``labkit grade``: the gradebook (TA), each student's feedback, the batch summary.

Every sentence here is the grader's own: scores, statuses, the notes and flags of the verdict
(``labkit.grader.pipeline`` writes them from what it observed). The feedback a student reads
holds no test message and nothing the notebook printed; the gradebook is the TA's. The written
questions' scores, comments and rubric items are the TAs' own words (``labkit.gradebook.store``).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.outcome import FINAL_STATUSES, BatchResult, Outcome, Status
from labkit.grader.verdict import Verdict, score_lines

STUDENT_COLUMNS = ("name", "email", "sid")


@dataclass(frozen=True)
class WrittenScore:
    """A TA's grade of one written answer, as the reports show it."""

    score: float | None  # None: not graded yet
    comment: str = ""
    rubric: tuple[str, ...] = ()  # the applied rubric items, as the student reads them


@dataclass
class WrittenGrades:
    """The written questions (name -> points, in notebook order) and the grades given so far."""

    points: dict[str, float] = field(default_factory=dict)
    scores: dict[tuple[str, str], WrittenScore] = field(default_factory=dict)  # (submission, q)

    def of(self, submission: str) -> dict[str, WrittenScore]:
        """Each written question's grade for ``submission`` (not graded where none was given)."""
        return {q: self.scores.get((submission, q), WrittenScore(None)) for q in self.points}

    def earned(self, submission: str) -> float:
        """The written points ``submission`` has earned so far (graded questions only)."""
        return sum(g.score for g in self.of(submission).values() if g.score is not None)


def feedback_text(outcome: Outcome, *, written: WrittenGrades | None = None) -> str:
    """A short note for the student, in the grader's words only (no test or notebook output):
    the total, each question's ``score / points`` (the lines Gradescope's "Scores" entry shows),
    whether the public tests pass and the notes; then each written question's score, with the
    TA's comment and the rubric items applied (``not graded yet`` until a TA grades it)."""
    written = written or WrittenGrades()
    lines = [f"Submission: {outcome.submission}", f"Status: {outcome.status.value}"]
    if outcome.status not in (Status.OK, Status.TIMEOUT) or outcome.verdict is None:
        lines += ["", "This submission could not be graded; your TA has the details."]
        if outcome.status is Status.INVALID:
            lines += [
                "Reason: the grader could not read a notebook in it (an .ipynb file, or the zip "
                "that the notebook's export cell makes)."
            ]
        return "\n".join(lines) + "\n"
    verdict = Verdict.from_dict(outcome.verdict)
    total = outcome.total + written.earned(outcome.submission)
    maximum = outcome.max_total + sum(written.points.values())
    lines += [f"Score: {total:g} / {maximum:g}", ""]
    lines += score_lines(outcome.scores, verdict.possible)
    extra = verdict.public_summary() + verdict.notes
    if extra:
        lines += ["", *extra]
    if written.points:
        lines += ["", "Written questions (graded by your TAs):", *_written_lines(outcome, written)]
    return "\n".join(lines) + "\n"


def _written_lines(outcome: Outcome, written: WrittenGrades) -> list[str]:
    width = max([18, *(len(q) + 2 for q in written.points)])
    lines = []
    for question, grade in written.of(outcome.submission).items():
        points = written.points[question]
        shown = "not graded yet" if grade.score is None else f"{grade.score:g}"
        lines.append(f"  {question:<{width}}{shown} / {points:g}")
        lines += [f"    - {text}" for text in grade.rubric]
        if grade.comment.strip():
            lines += [f"    {line}".rstrip() for line in grade.comment.strip().splitlines()]
    return lines


def write_gradebook(
    path: Path,
    outcomes: list[Outcome],
    points: dict[str, float],
    *,
    written: WrittenGrades | None = None,
) -> None:
    """Write the gradebook: one row per submission, a column per question, atomically.

    Written questions get a column each (empty until graded) and ``written_graded``, the number
    of them graded; ``total`` counts the graded ones and ``max_total`` all of them. The columns
    ``name``, ``email`` and ``sid`` (submitters joined by ``; ``) appear when any submission
    came with Gradescope's metadata.
    """
    written = written or WrittenGrades()
    with_students = any(o.students for o in outcomes)
    student_columns = list(STUDENT_COLUMNS) if with_students else []
    written_columns = [*written.points, "written_graded"] if written.points else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "submission",
            *student_columns,
            *points,
            *written_columns,
            "total",
            "max_total",
            "status",
            "message",
        ]
    )
    maximum = sum(points.values()) + sum(written.points.values())
    for outcome in sorted(outcomes, key=lambda o: o.submission):
        students = [_students_cell(outcome.students, key) for key in student_columns]
        scores = [f"{outcome.scores[q]:g}" if q in outcome.scores else "" for q in points]
        grades = written.of(outcome.submission)
        graded = [g.score for g in grades.values() if g.score is not None]
        written_cells = ["" if g.score is None else f"{g.score:g}" for g in grades.values()] + (
            [str(len(graded))] if written.points else []
        )
        total = f"{outcome.total + sum(graded):g}" if outcome.status is Status.OK else ""
        message = " ".join(outcome.message.split())
        writer.writerow(
            [
                outcome.submission,
                *students,
                *scores,
                *written_cells,
                total,
                f"{maximum:g}",
                outcome.status.value,
                message,
            ]
        )
    write_atomically(path, buffer.getvalue())


def _students_cell(students: list[dict], key: str) -> str:
    values = (" ".join(str(s.get(key, "")).split()) for s in students)
    return "; ".join(v for v in values if v)


def summary_text(result: BatchResult) -> str:
    """The summary printed at the end: mean per question, score distribution, counts, time."""
    graded = [o for o in result.outcomes if o.status is Status.OK]
    lines = []
    if graded:
        lines.append(f"{'question':<18}{'mean':>7}{'points':>8}{'share':>8}")
        for q, points in result.points.items():
            mean = statistics.fmean(o.scores[q] for o in graded)
            share = f"{mean / points:.0%}" if points else "-"
            lines.append(f"{q:<18}{mean:>7.2f}{points:>8g}{share:>8}")
        totals = [o.total for o in graded]
        maximum = sum(result.points.values())
        lines.append(
            f"total: mean {statistics.fmean(totals):.2f} / {maximum:g}, median "
            f"{statistics.median(totals):g}, min {min(totals):g}, max {max(totals):g}"
        )
        edges = [maximum * k / 5 for k in range(6)]
        bins = Counter(min(int(t / maximum * 5), 4) if maximum else 0 for t in totals)
        lines.append(
            "distribution: "
            + "  ".join(f"{edges[k]:g}-{edges[k + 1]:g}: {bins[k]}" for k in range(5))
        )
    flagged = [o.submission for o in result.outcomes if o.flags]
    if flagged:
        lines.append(
            f"flagged for review: {len(flagged)} ({', '.join(flagged)}); see the message column"
        )
    counts = result.counts()
    by_status = ", ".join(
        f"{s.value} {counts[s]}" for s in (*FINAL_STATUSES, Status.PENDING) if counts[s]
    )
    lines.append(
        f"{len(result.outcomes)} submissions ({by_status}; {result.skipped} already graded) "
        f"in {result.seconds:.1f} s"
    )
    lines += [f"sandbox: {note}" for note in result.sandbox]
    return "\n".join(lines)


def write_summary_png(path: Path, result: BatchResult) -> None:
    """Save a histogram of the totals and each question's mean as a share of its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [o for o in result.outcomes if o.status is Status.OK]
    maximum = sum(result.points.values())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist([o.total for o in graded], bins=min(15, int(maximum) + 1), range=(0, maximum))
    left.set_xlabel("total score")
    left.set_ylabel("submissions")
    left.set_title(f"{len(graded)} graded submissions")
    shares = [
        statistics.fmean(o.scores[q] for o in graded) / p if graded and p else 0.0
        for q, p in result.points.items()
    ]
    right.barh(list(result.points), shares)
    right.set_xlim(0, 1)
    right.set_xlabel("mean score as a share of the question's points")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
