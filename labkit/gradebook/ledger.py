"""The graded folder as one record: each submission's outcome, grades, students, lateness, totals.

``Settings`` is what the folder says about the assignment (its questions manifest, the course's
due date and late policy, the roster); ``build_rows`` puts each submission's outcome together
with the TAs' grades and overrides into a ``Row``, whose totals come from the one function,
``totals.compute_totals``. The gradebook, the feedback, the summary, the review app and the LMS
exports all read rows, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labkit.gradebook.course import Course, CourseError
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.late import Lateness, lateness, parse_extension, parse_submitted_at
from labkit.gradebook.manifest import Manifest, ManifestError, read_manifest
from labkit.gradebook.outcome import Outcome
from labkit.gradebook.roster import Join, Roster, RosterError, Student, join, parse_canvas_name
from labkit.gradebook.totals import Override, Totals, WrittenScore, compute_totals


@dataclass
class Settings:
    """What a graded folder says about its assignment and course."""

    manifest: Manifest
    course: Course = field(default_factory=Course)
    roster: Roster | None = None

    @classmethod
    def load(cls, folder: GradedFolder, *, autograded: dict[str, float]) -> Settings:
        """Read the folder's manifest (``autograded``: the points a folder without one has),
        course settings and roster; raise GradebookError naming a file that cannot be read."""
        try:
            manifest = read_manifest(
                folder.manifest, written_path=folder.questions, autograded=autograded
            )
            course = Course.load(folder.course)
            roster = (
                Roster.from_json(folder.roster.read_bytes()) if folder.roster.exists() else None
            )
        except (ManifestError, CourseError) as exc:
            raise GradebookError(str(exc)) from None
        except RosterError as exc:
            raise GradebookError(f"{folder.roster}: {exc}") from None
        return cls(manifest=manifest, course=course, roster=roster)


@dataclass(frozen=True)
class Row:
    """One submission, put together: outcome, grades, students, lateness and totals."""

    outcome: Outcome
    totals: Totals
    written: dict[str, WrittenScore]
    overrides: dict[str, Override]
    students: list[dict]  # name, email, sid of each submitter (roster, metadata or file name)
    roster_students: list[Student] = field(default_factory=list)
    lateness: Lateness | None = None

    @property
    def submission(self) -> str:
        """The submission's name."""
        return self.outcome.submission


def build_rows(
    settings: Settings,
    outcomes: list[Outcome],
    *,
    written: dict[tuple[str, str], WrittenScore] | None = None,
    overrides: dict[tuple[str, str], Override] | None = None,
) -> tuple[list[Row], Join | None]:
    """Every submission's row, sorted by name, and the roster's join (None without a roster)."""
    written, overrides = written or {}, overrides or {}
    joined = None
    if settings.roster is not None:
        try:
            joined = join(
                settings.roster,
                {o.submission: o.students for o in outcomes},
                pattern=settings.course.name_pattern or None,
            )
        except RosterError as exc:
            raise GradebookError(str(exc)) from None
    rows = []
    for outcome in sorted(outcomes, key=lambda o: o.submission):
        name = outcome.submission
        found = joined.students.get(name, []) if joined is not None else []
        late = _lateness(settings.course, outcome, found)
        own_written = {
            q.name: written[name, q.name]
            for q in settings.manifest.written()
            if (name, q.name) in written
        }
        own_overrides = {
            q.name: overrides[name, q.name]
            for q in settings.manifest.autograded()
            if (name, q.name) in overrides
        }
        totals = compute_totals(
            manifest=settings.manifest,
            outcome=outcome,
            written=own_written,
            overrides=own_overrides,
            penalty_fraction=None if late is None else late.fraction,
        )
        rows.append(
            Row(
                outcome=outcome,
                totals=totals,
                written=own_written,
                overrides=own_overrides,
                students=[s.as_submitter() for s in found] or list(outcome.students),
                roster_students=found,
                lateness=late,
            )
        )
    return rows, joined


def _lateness(course: Course, outcome: Outcome, students: list[Student]) -> Lateness | None:
    if course.due is None:
        return None
    due = course.due
    for student in students:  # a group is due when its latest extension ends
        if student.extension:
            try:
                own = parse_extension(student.extension, due=course.due, what="extension")
            except ValueError:
                continue
            due = max(due, own)
    late_marker = outcome.late_marker
    source = outcome.time_source
    if not source and parse_canvas_name(outcome.submission) is not None:
        source = "canvas"
        late_marker = parse_canvas_name(outcome.submission).late
    return lateness(
        due=due,
        policy=course.policy,
        submitted_at=parse_submitted_at(outcome.submitted_at),
        time_source=source,
        late_marker=late_marker,
    )
