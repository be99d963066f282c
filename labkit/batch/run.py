"""``grade_batch``: the loop that grades a batch and writes the graded folder.

Every file is written atomically and the gradebook is rewritten after each submission, so an
interrupted run leaves a consistent gradebook and a rerun picks up where it stopped (``force``
regrades). The written questions' answers, and the code of the autograded ones, are read from the
submitted file itself, as data, never from the notebook after it ran (``labkit.gradebook.written``,
``labkit.gradebook.code``); the TAs' grades live in the folder's review store, which a regrade
brings up to date and the reports read. The course settings (due date, late policy, roster) are
checked before anything is written, and kept in the folder (``labkit.gradebook.course``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import threading
import time
from pathlib import Path

from labkit import intake
from labkit.atomic import write_atomically
from labkit.batch.options import GradeOptions
from labkit.batch.pools import make_pool
from labkit.gradebook import reports
from labkit.gradebook.code import extract_code
from labkit.gradebook.course import COURSE_TOML, Course, CourseError, resolve_course
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.ledger import Settings, build_rows
from labkit.gradebook.outcome import FINAL_STATUSES, BatchResult, Outcome, Status
from labkit.gradebook.refresh import StoredGrades, refresh_reports
from labkit.gradebook.roster import Roster, RosterError, read_roster
from labkit.grader.phases import total_phases
from labkit.intake import Autograder, GradingError, InvalidSubmission, Submission

# What the reports written after grading import (summary.png's matplotlib, the similarity
# report's scipy.sparse): imported while the last submission grades, on a core idle by then.
REPORT_MODULES = (
    "matplotlib.figure",
    "matplotlib.ticker",
    "matplotlib.backends.backend_agg",
    "scipy.sparse",
)


def grade_batch(
    paths: list[Path],
    *,
    autograder: Path,
    output_dir: Path,
    jobs: int | None = GradeOptions.jobs,
    timeout: float = GradeOptions.timeout,
    memory_mb: int | None = GradeOptions.memory_mb,
    force: bool = GradeOptions.force,
    scheduler=GradeOptions.scheduler,
    progress: bool = True,
    due: str | None = GradeOptions.due,
    late_policy: str | None = GradeOptions.late_policy,
    roster: Path | None = GradeOptions.roster,
    name_pattern: str | None = GradeOptions.name_pattern,
    time_from_mtime: bool = GradeOptions.time_from_mtime,
) -> BatchResult:
    """Grade every submission under ``paths`` into ``output_dir``; return the outcomes.

    Args:
        paths: submission files (``.ipynb`` or exported ``.zip``) and folders of them.
        autograder: the autograder zip (``autograder/logreg_digits-autograder.zip``).
        output_dir: the graded folder (``labkit.gradebook.folder``).
        jobs, timeout, memory_mb, force: see ``GradeOptions``.
        scheduler: grade on a Dask cluster instead of here: its scheduler's address
            (``tcp://host:8786``), a ``distributed.Client`` or a ``LocalCluster``
            (``labkit.batch.cluster``).
        progress: show a progress bar on stderr.
        due, late_policy, roster, name_pattern, time_from_mtime: see ``GradeOptions``.
    """
    from tqdm import tqdm

    started = time.monotonic()
    grader_zip = Autograder.load(autograder)
    folder = GradedFolder(output_dir)
    settings = _settings(
        folder, grader_zip, paths, due=due, late_policy=late_policy, roster=roster,
        name_pattern=name_pattern,
    )  # fmt: skip
    submissions = intake.find_submissions(paths, time_from_mtime=time_from_mtime)
    by_name = {s.name: s for s in submissions}
    try:
        stored = StoredGrades.load(folder)
    except GradebookError as exc:
        raise GradingError(str(exc)) from exc
    outcomes: dict[str, Outcome] = {}
    todo, restamped = [], []
    for submission in submissions:
        previous = None if force else _previous_outcome(folder, submission, grader_zip)
        if previous is None:
            todo.append(submission)
            outcomes[submission.name] = grader_zip.outcome(submission, Status.PENDING)
        else:
            outcomes[submission.name] = previous
            if _restamp(previous, submission, grader_zip):
                restamped.append(previous)
    # Made before anything is written, so that a cluster that refuses leaves no trace.
    pool = make_pool(
        grader_zip,
        scheduler=scheduler,
        jobs=jobs,
        submissions=len(todo),
        timeout=timeout,
        memory_mb=memory_mb,
    )
    bar = tqdm(total=len(todo), unit="submission", desc="grading", disable=not progress)
    graded = []

    def rows_of(items: list[Outcome]):
        rows, _ = build_rows(settings, items, written=stored.written, overrides=stored.overrides)
        return rows

    def write_gradebook() -> None:
        reports.write_gradebook(folder.gradebook, settings, rows_of(list(outcomes.values())))

    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        _write_settings(folder, grader_zip, settings)
        for outcome in restamped:
            folder.write_outcome(outcome, feedback=reports.feedback_text(rows_of([outcome])[0]))
        write_gradebook()
        for outcome in pool.graded(todo):
            writing = time.perf_counter()
            _restamp(outcome, by_name[outcome.submission], grader_zip)
            outcomes[outcome.submission] = outcome
            graded.append(outcome)
            write_gradebook()
            if len(graded) == len(todo) - 1:
                _import_in_background(REPORT_MODULES)
            feedback = reports.feedback_text(rows_of([outcome])[0])
            outcome.phases["report"] = round(time.perf_counter() - writing, 3)
            folder.write_outcome(outcome, feedback=feedback)
            bar.update()
    except BaseException:
        pool.stop()
        raise
    finally:
        bar.close()
        pool.close()
    if folder.store.exists():
        # Changed answers are marked stale, and the reports show the grades given so far.
        refresh_reports(folder)
    result = BatchResult(
        list(outcomes.values()),
        grader_zip.points,
        time.monotonic() - started,
        len(submissions) - len(todo),
        sandbox=pool.sandbox_notes(graded) if todo else [],
        phases=total_phases(o.phases for o in graded),
        server_seconds=pool.server_seconds(),
        settings=settings,
        rows=rows_of(list(outcomes.values())),
    )
    reports.write_summary_png(folder.summary_png, result)
    return result


def _import_in_background(modules: tuple[str, ...]) -> threading.Thread:
    """Import ``modules`` in a thread of their own (a later import of them finds them loaded,
    or waits for this one); one that fails is left for the import that needs it to report."""

    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    thread = threading.Thread(target=load, name="labkit-report-imports", daemon=True)
    thread.start()
    return thread


def _settings(folder, grader_zip, paths, *, due, late_policy, roster, name_pattern) -> Settings:
    """The course settings to grade with, checked before anything is written."""
    toml = next((Path(p) / COURSE_TOML for p in paths if (Path(p) / COURSE_TOML).is_file()), None)
    try:
        stored = Course.load(folder.course)
        course = resolve_course(
            stored=stored,
            toml_path=toml,
            due=due,
            late_policy=late_policy,
            name_pattern=name_pattern,
        )
        if roster is not None:
            kept = read_roster(Path(roster))
        elif folder.roster.exists():
            kept = Roster.from_json(folder.roster.read_bytes())
        else:
            kept = None
    except (CourseError, RosterError) as exc:
        raise GradingError(str(exc)) from None
    return Settings(manifest=grader_zip.manifest, course=course, roster=kept)


def _write_settings(folder: GradedFolder, grader_zip: Autograder, settings: Settings) -> None:
    """Keep the zip's questions and the course settings in the folder."""
    write_atomically(folder.manifest, grader_zip.manifest.to_json())
    if grader_zip.written_json:
        write_atomically(folder.questions, grader_zip.written_json)
    write_atomically(folder.course, settings.course.to_json())
    if settings.roster is not None:
        write_atomically(folder.roster, settings.roster.to_json())


def _restamp(outcome: Outcome, submission: Submission, grader_zip: Autograder) -> bool:
    """Give an outcome what the intake knows now (when it was handed in, the maximum) and the
    code of its autograded questions, read from the submitted bytes; return whether it changed.

    A worker of a cluster rebuilds the submission without its time, and an outcome graded
    before keeps what it had: both are brought up to date here.
    """
    before = dataclasses.replace(outcome)
    stamp = submission.submitted
    outcome.submitted_at, outcome.time_source = stamp.at, stamp.source
    outcome.late_marker = stamp.late_marker
    outcome.max_total = grader_zip.manifest.maximum
    outcome.bonus_max = grader_zip.manifest.bonus_max
    outcome.students = outcome.students or list(submission.students)
    # Only a notebook the grader read to the end is read again here: one that killed its grader
    # (status error) may be built to exhaust whoever parses it.
    if not outcome.code and outcome.status in (Status.OK, Status.TIMEOUT):
        try:
            _, notebook = intake.read_notebook(submission.path)
        except (InvalidSubmission, OSError):
            pass
        else:
            outcome.code = extract_code(notebook, list(grader_zip.points))
    return outcome != before


def _previous_outcome(folder: GradedFolder, submission: Submission, autograder: Autograder):
    """The stored outcome of a submission graded before with the same zip and bytes, if any."""
    outcome = folder.load_outcome(submission.name)
    same = (
        outcome is not None
        and outcome.status in FINAL_STATUSES
        and outcome.autograder_sha256 == autograder.sha256
        and outcome.submission_sha256 == intake.submission_sha256(submission.path)
    )
    return outcome if same else None
