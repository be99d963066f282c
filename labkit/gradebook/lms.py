"""Grades into the course's LMS: CSV files Canvas, Gradescope and Moodle import.

Each file has one row per student whose total is final (graded to the end, no written answer
left to grade or stale); the totals are the folder's rows' (``totals.compute_totals``: the bonus
on top of the maximum, any late penalty taken). Everyone else is listed, with the reason:

- **canvas**: Canvas's gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section``,
  then one column named ``<title> (<assignment id>)`` (``<title>`` alone makes Canvas create a
  new assignment), and a ``Points Possible`` row under the header. ``ID`` is the student's
  Canvas user id, ``SIS Login ID`` their login (else email), ``SIS User ID`` their sid.
- **gradescope**: ``Name, SID, Email``, each question's score in notebook order (the bonus
  marked), then ``Total Score``.
- **moodle**: ``Full name, ID number, Email address``, each question's score, then ``Total``.

With a roster, every student of it gets a row (or is listed: no submission, not final; with
``missing_as_zero`` one without a submission gets 0); without one, every submitter the metadata
or a Canvas download name names. Student text is guarded against spreadsheet formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.csvcells import guard, write_table
from labkit.gradebook.ledger import Row, Settings
from labkit.gradebook.roster import Join, Student, clean_text

LMS_NAMES = ("canvas", "gradescope", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"  # as Canvas's own export writes the row


class LmsError(ValueError):
    """An export that cannot be written; the message says why, and nothing was written."""


@dataclass
class ExportReport:
    """What an export wrote, and who it left out and why."""

    path: Path
    lms: str
    written: int = 0
    zeros: int = 0
    left_out: list[str] = field(default_factory=list)  # "who: why"
    unmatched: list[str] = field(default_factory=list)  # submissions that match no student
    missing: list[str] = field(default_factory=list)  # students without a submission

    def lines(self) -> list[str]:
        """The report as the command prints it (names without control characters: a file name
        may carry terminal escapes)."""
        lines = [f"wrote {self.written} student(s) to {self.path} ({self.lms})"]
        if self.zeros:
            lines[0] += f", {self.zeros} of them 0 for no submission"
        for title, entries in (
            ("left out", self.left_out),
            ("submissions that match no student", self.unmatched),
            ("students without a submission", self.missing),
        ):
            if entries:
                lines.append(f"{title} ({len(entries)}):")
                lines += [f"  {clean_text(entry, limit=400)}" for entry in entries]
        return lines


@dataclass(frozen=True)
class _Entry:
    """One student to export, and their submission's row (None: no submission)."""

    student: Student
    row: Row | None


def export_lms(
    settings: Settings,
    rows: list[Row],
    joined: Join | None,
    *,
    lms: str,
    path: Path,
    canvas_assignment_id: str | None = None,
    assignment_title: str | None = None,
    missing_as_zero: bool = False,
) -> ExportReport:
    """Write the grades of ``rows`` as ``lms`` imports them to ``path``, atomically.

    Raises LmsError (nothing written) for an unknown LMS, a student two submissions claim, or a
    Canvas assignment id that is not a number.
    """
    if lms not in LMS_NAMES:
        raise LmsError(f"unknown LMS {lms!r}: choose {', '.join(LMS_NAMES)}")
    if canvas_assignment_id is not None and not str(canvas_assignment_id).strip().isdigit():
        raise LmsError(f"the Canvas assignment id must be a number, not {canvas_assignment_id!r}")
    if joined is not None and joined.conflicts:
        claimed = "; ".join(f"{who}: {', '.join(names)}" for who, names in joined.conflicts.items())
        raise LmsError(
            f"students matched by more than one submission (remove one, or fix the roster): "
            f"{claimed}"
        )
    report = ExportReport(path=Path(path), lms=lms)
    entries = _entries(rows, joined, report)
    table = _header(settings, lms, canvas_assignment_id, assignment_title)
    for entry in entries:
        values = _values(settings, entry, missing_as_zero=missing_as_zero, report=report)
        if values is None:
            continue
        table.append(_student_cells(lms, entry.student) + values)
        report.written += 1
        report.zeros += entry.row is None
    write_atomically(Path(path), write_table(table))
    return report


def _entries(rows: list[Row], joined: Join | None, report: ExportReport) -> list[_Entry]:
    if joined is not None:
        report.unmatched = list(joined.unmatched)
        report.missing = [s.label for s in joined.missing]
        by_student = {s: row for row in rows for s in row.roster_students}
        students = [s for row in rows for s in row.roster_students] + joined.missing
        order = {s: k for k, s in enumerate(students)}
        return [_Entry(s, by_student.get(s)) for s in sorted(set(students), key=order.get)]
    entries = []
    for row in rows:
        people = [p for p in row.students if p.get("email") or p.get("sid") or p.get("canvas_id")]
        if not people:
            report.left_out.append(f"{row.submission}: no student is known (give --roster)")
            continue
        for person in people:
            student = Student(
                name=str(person.get("name", "")),
                email=str(person.get("email", "")),
                sid=str(person.get("sid", "")),
                canvas_id=str(person.get("canvas_id", "")),
            )
            entries.append(_Entry(student, row))
    return entries


def _header(settings: Settings, lms: str, assignment_id, title) -> list[list[str]]:
    manifest = settings.manifest
    title = guard(title or manifest.assignment or "labkit")
    if lms == "canvas":
        column = f"{title} ({str(assignment_id).strip()})" if assignment_id else title
        header = [*CANVAS_COLUMNS, column]
        return [header, [POINTS_POSSIBLE, "", "", "", "", f"{manifest.maximum:g}"]]
    labels = [q.label for q in manifest.questions]
    if lms == "gradescope":
        return [["Name", "SID", "Email", *labels, "Total Score"]]
    return [["Full name", "ID number", "Email address", *labels, "Total"]]


def _student_cells(lms: str, student: Student) -> list[str]:
    if lms == "canvas":
        login = student.login or student.email
        cells = [student.name, student.canvas_id, student.sid, login, student.section]
    elif lms == "gradescope":
        cells = [student.name, student.sid, student.email]
    else:
        cells = [student.name, student.sid, student.email]
    return [guard(cell) for cell in cells]


def _values(settings, entry: _Entry, *, missing_as_zero: bool, report) -> list[str] | None:
    questions = settings.manifest.questions
    per_question = report.lms != "canvas"
    row = entry.row
    who = entry.student.label
    if row is None:
        if not missing_as_zero:
            return None
        zeros = ["0"] * len(questions) if per_question else []
        return [*zeros, "0"]
    totals = row.totals
    if not totals.graded:
        report.left_out.append(f"{who} ({row.submission}): status {row.outcome.status.value}")
        return None
    if not totals.complete:
        waiting = ", ".join(totals.pending)
        report.left_out.append(f"{who} ({row.submission}): still to grade: {waiting}")
        return None
    cells = [f"{p.score:g}" for p in totals.parts] if per_question else []
    return [*cells, f"{totals.total:g}"]


def export_folder(
    output_dir: Path,
    *,
    lms: str,
    path: Path,
    roster: Path | None = None,
    name_pattern: str | None = None,
    canvas_assignment_id: str | None = None,
    assignment_title: str | None = None,
    missing_as_zero: bool = False,
) -> ExportReport:
    """Export a graded folder's grades for ``lms`` (see ``export_lms``).

    ``roster`` (a CSV file) and ``name_pattern`` replace what the folder kept; they are kept in
    the folder, and its reports rewritten, only once the export is written.
    """
    from dataclasses import replace

    from labkit.gradebook.folder import GradebookError, GradedFolder
    from labkit.gradebook.ledger import build_rows
    from labkit.gradebook.refresh import load_rows, refresh_reports
    from labkit.gradebook.roster import RosterError, read_roster
    from labkit.gradebook.store import ReviewStore

    folder = GradedFolder(output_dir)
    folder.check()
    try:
        new_roster = read_roster(Path(roster)) if roster is not None else None
    except RosterError as exc:
        raise LmsError(str(exc)) from None
    with ReviewStore.open(folder.path) as store:
        settings, rows, joined = load_rows(store)
        if new_roster is not None or name_pattern is not None:
            course = settings.course
            if name_pattern is not None:
                course = replace(course, name_pattern=name_pattern)
            settings = replace(settings, roster=new_roster or settings.roster, course=course)
            try:
                rows, joined = build_rows(
                    settings,
                    [row.outcome for row in rows],
                    written=store.written_scores(),
                    overrides=store.overrides(),
                )
            except GradebookError as exc:
                raise LmsError(str(exc)) from None
    report = export_lms(
        settings,
        rows,
        joined,
        lms=lms,
        path=path,
        canvas_assignment_id=canvas_assignment_id,
        assignment_title=assignment_title,
        missing_as_zero=missing_as_zero,
    )
    if new_roster is not None or name_pattern is not None:
        if new_roster is not None:
            write_atomically(folder.roster, new_roster.to_json())
        write_atomically(folder.course, settings.course.to_json())
        refresh_reports(folder)
    return report
