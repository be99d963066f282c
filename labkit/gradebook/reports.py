"""Reports of ``labkit grade``: the gradebook (TA) and each student's feedback.

Both are written from the folder's rows (``labkit.gradebook.ledger``), whose numbers all come from
``totals.compute_totals``. Every sentence here is the grader's own: scores, statuses, the notes of
the verdict; the feedback a student reads holds no test message and nothing the notebook printed.
The written questions' scores, comments, rubric items and override reasons are the TAs' own words
(``labkit.gradebook.store``). Every text cell of the gradebook is guarded against spreadsheet
formulas (``csvcells.guard``). The batch summary is in ``labkit.gradebook.summary``.
"""

from __future__ import annotations

from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.csvcells import guard, write_table
from labkit.gradebook.late import format_lateness
from labkit.gradebook.ledger import Row, Settings
from labkit.gradebook.outcome import Status
from labkit.gradebook.summary import summary_text, write_summary_png
from labkit.gradebook.totals import Override, Part, Totals, WrittenScore
from labkit.grader.verdict import Verdict, score_lines

__all__ = [
    "STUDENT_COLUMNS",
    "Override",
    "WrittenScore",
    "feedback_text",
    "gradebook_rows",
    "summary_text",
    "write_gradebook",
    "write_summary_png",
]

STUDENT_COLUMNS = ("name", "email", "sid")
LATE_COLUMNS = ("submitted_at", "lateness", "penalty", "total_before_penalty")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def gradebook_rows(settings: Settings, rows: list[Row]) -> list[list[str]]:
    """The gradebook as a table: a header, then one row per submission, sorted by name.

    Columns: ``submission``; ``name``, ``email``, ``sid`` when any submission has students (from
    the roster, Gradescope's metadata or a Canvas download name; submitters joined by ``; ``);
    every question in notebook order (an autograded one's score, a TA's override in its place;
    a written one's TA score, empty until given); ``written_graded`` (scores that count) and
    ``written_stale`` (questions whose answer changed after they were scored: they do not count
    until a TA confirms or rescores them); ``bonus`` (bonus points earned) where there is a
    bonus; ``overrides`` where a TA overrode a score; ``submitted_at``, ``lateness``
    (``H:MM:SS``), ``penalty`` (a share of the points) and ``total_before_penalty`` where the
    course has a due date; then ``total`` (points that count so far, after any penalty; empty
    unless the status is ``ok``), ``max_total`` (the regular points: the bonus is on top),
    ``status`` and ``message``.
    """
    manifest = settings.manifest
    with_students = any(row.students for row in rows)
    has_written = bool(manifest.written())
    has_overrides = any(row.overrides for row in rows)
    late = settings.course.due is not None
    header = ["submission"]
    header += list(STUDENT_COLUMNS) if with_students else []
    header += manifest.names
    header += ["written_graded", "written_stale"] if has_written else []
    header += ["bonus"] if manifest.bonus_max else []
    header += ["overrides"] if has_overrides else []
    header += list(LATE_COLUMNS) if late else []
    header += ["total", "max_total", "status", "message"]
    table = [header]
    for row in rows:
        totals, outcome = row.totals, row.outcome
        cells = [guard(outcome.submission)]
        if with_students:
            cells += [guard(_students_cell(row.students, key)) for key in STUDENT_COLUMNS]
        cells += [_question_cell(row, part) for part in totals.parts]
        if has_written:
            graded = [p for p in totals.parts if p.kind == "written" and p.score is not None]
            cells += [str(len(graded)), "; ".join(totals.stale)]
        if manifest.bonus_max:
            cells.append(_number(totals.bonus) if totals.graded else "")
        if has_overrides:
            cells.append(guard("; ".join(_override_text(q, o) for q, o in row.overrides.items())))
        if late:
            cells += _late_cells(row)
        message = "; ".join(part for part in (outcome.message, _late_note(row)) if part)
        cells += [
            _number(totals.total),
            _number(totals.maximum),
            outcome.status.value,
            guard(" ".join(message.split())),
        ]
        table.append(cells)
    return table


def write_gradebook(path: Path, settings: Settings, rows: list[Row]) -> None:
    """Write ``gradebook.csv`` (see ``gradebook_rows``), atomically."""
    write_atomically(path, write_table(gradebook_rows(settings, rows)))


def _question_cell(row: Row, part: Part) -> str:
    if part.kind == "written":
        grade = part.written
        return "" if grade is None or grade.score is None else f"{grade.score:g}"
    if part.override is not None:
        return f"{part.override.score:g}"
    return _number(row.outcome.scores.get(part.name))


def _override_text(question: str, override: Override) -> str:
    computed = "" if override.computed is None else f" (computed {override.computed:g})"
    return f"{question}: {override.score:g}{computed}: {override.reason}"


def _late_cells(row: Row) -> list[str]:
    late, totals = row.lateness, row.totals
    if late is None:
        return ["", "", "", ""]
    submitted = late.submitted_at.isoformat() if late.submitted_at else ""
    shown = "unknown" if late.seconds_late is None else format_lateness(late.seconds_late)
    penalty = "" if late.fraction is None else f"{late.fraction * 100:g}%"
    return [submitted, shown, penalty, _number(totals.before_penalty)]


def _late_note(row: Row) -> str:
    late = row.lateness
    return late.note if late is not None and late.fraction is None else ""


def _students_cell(students: list[dict], key: str) -> str:
    values = (" ".join(str(s.get(key, "")).split()) for s in students)
    return "; ".join(v for v in values if v)


# --- the student's feedback -----------------------------------------------------------------------


def feedback_text(row: Row) -> str:
    """A short note for the student, in the grader's words only (no test or notebook output).

    The score (``total / maximum``, the bonus on top, any late penalty) once every part is
    graded, or else which parts are still to be graded and the points so far; each autograded
    question's ``score / points`` in notebook order (the lines of Gradescope's "Scores" entry;
    a TA's override in place of the computed score, with its reason); whether the public tests
    pass and the notes; then each written question's score with the TA's comment and the rubric
    items applied (``not graded yet``, or ``being regraded`` when the answer changed after it
    was scored).
    """
    outcome, totals = row.outcome, row.totals
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
    lines += [*_score_lines(totals), *_late_lines(row), ""]
    lines += _autograded_lines(row)
    extra = verdict.public_summary() + verdict.notes
    if extra:
        lines += ["", *extra]
    written = [p for p in totals.parts if p.kind == "written"]
    if written:
        lines += ["", "Written questions (graded by your TAs):", *_written_lines(written)]
    return "\n".join(lines) + "\n"


def _score_lines(totals: Totals) -> list[str]:
    bonus = f" (a bonus of {totals.bonus:g} included)" if totals.bonus else ""
    if not totals.graded:
        return ["Score: not final (the notebook was not graded to the end)"]
    if totals.pending:
        waiting = ", ".join(
            f"{name} (being regraded)" if name in totals.stale else name for name in totals.pending
        )
        return [
            f"Score: not final yet: still to be graded: {waiting}.",
            f"Points so far: {totals.before_penalty:g} of {totals.maximum:g}{bonus}.",
        ]
    if totals.penalty:
        return [
            f"Score: {totals.total:g} / {totals.maximum:g} after a late penalty of "
            f"{totals.penalty:g} ({totals.before_penalty:g} before it){bonus}"
        ]
    return [f"Score: {totals.total:g} / {totals.maximum:g}{bonus}"]


def _late_lines(row: Row) -> list[str]:
    late = row.lateness
    if late is None:
        return []
    if late.submitted_at is None:
        return [f"Submitted: time unknown; {late.note}."] if late.note else []
    when = late.submitted_at.isoformat(timespec="minutes")
    due = late.due.isoformat(timespec="minutes")
    if not late.days:
        return [f"Submitted {when}, due {due}: on time."]
    return [f"Submitted {when}, due {due}: {late.note}."]


def _autograded_lines(row: Row) -> list[str]:
    parts = [p for p in row.totals.parts if p.kind == "autograded"]
    scores = {p.name: (p.score if p.score is not None else 0.0) for p in parts}
    possible = {p.name: p.points for p in parts}
    bonus = frozenset(p.name for p in parts if p.bonus)
    lines = []
    for part, line in zip(parts, score_lines(scores, possible, bonus=bonus), strict=True):
        lines.append(line)
        if part.override is not None:
            computed = "" if part.computed is None else f" from {part.computed:g}"
            reason = " ".join(part.override.reason.split())
            lines.append(f"    changed by your TA{computed}: {reason}")
    return lines


def _written_lines(parts: list[Part]) -> list[str]:
    width = max([18, *(len(p.label) + 2 for p in parts)])
    lines = []
    for part in parts:
        grade = part.written or WrittenScore(None)
        if part.stale:
            shown = "being regraded (your answer changed after it was graded)"
        elif grade.score is None:
            shown = "not graded yet"
        else:
            shown = f"{grade.score:g}"
        lines.append(f"  {part.label:<{width}}{shown} / {part.points:g}")
        if not part.stale:
            lines += [f"    - {text}" for text in grade.rubric]
            if grade.comment.strip():
                lines += [f"    {line}".rstrip() for line in grade.comment.strip().splitlines()]
    return lines
