"""``grade_batch``: the loop that grades a batch and writes the graded folder.

Every file is written atomically and the gradebook is rewritten after each submission, so an
interrupted run leaves a consistent gradebook and a rerun picks up where it stopped (``force``
regrades). The written questions' answers are read from the submitted file itself, as data, never
from the notebook after it ran (``labkit.gradebook.written``); their grades live in the folder's
review store, which a regrade brings up to date and the reports read.
"""

from __future__ import annotations

import time
from pathlib import Path

from labkit import intake
from labkit.atomic import write_atomically
from labkit.batch.options import GradeOptions
from labkit.batch.pools import make_pool
from labkit.gradebook import reports
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.outcome import FINAL_STATUSES, BatchResult, Outcome, Status
from labkit.gradebook.refresh import refresh_reports, stored_written_grades
from labkit.intake import Autograder, GradingError, Submission


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
    """
    from tqdm import tqdm

    started = time.monotonic()
    grader_zip = Autograder.load(autograder)
    submissions = intake.find_submissions(paths)
    folder = GradedFolder(output_dir)
    points = {q.name: q.points for q in grader_zip.written}
    try:
        written_grades = stored_written_grades(folder, points)
    except GradebookError as exc:
        raise GradingError(str(exc)) from exc
    outcomes: dict[str, Outcome] = {}
    todo = []
    for submission in submissions:
        previous = None if force else _previous_outcome(folder, submission, grader_zip)
        if previous is None:
            todo.append(submission)
            outcomes[submission.name] = grader_zip.outcome(submission, Status.PENDING)
        else:
            outcomes[submission.name] = previous
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

    def write_gradebook() -> None:
        reports.write_gradebook(
            folder.gradebook, list(outcomes.values()), grader_zip.points, written=written_grades
        )

    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        if grader_zip.written_json:
            write_atomically(folder.questions, grader_zip.written_json)
        write_gradebook()
        for outcome in pool.graded(todo):
            feedback = reports.feedback_text(outcome, written=written_grades)
            folder.write_outcome(outcome, feedback=feedback)
            outcomes[outcome.submission] = outcome
            graded.append(outcome)
            write_gradebook()
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
    )
    reports.write_summary_png(folder.summary_png, result)
    return result


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
