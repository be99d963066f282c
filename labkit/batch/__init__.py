"""Batch grading for TAs: grade a folder of submissions with the autograder zip, without Docker.

``grade_batch`` finds the submissions (``intake``), grades several at once, each through the same
pipeline as the autograder zip (``labkit.grader.pipeline``) in a child of its slot's fork server
(``forking``), and writes the results (``reports``). Every file is written atomically and the
gradebook is rewritten after each submission, so an interrupted run leaves a consistent gradebook
and a rerun picks up where it stopped (``--force`` regrades). With a Dask scheduler, the same
``Grader`` runs on the cluster's workers instead (``cluster``); the loop that writes is the same.

The written questions' answers are read from the submitted file itself, as data, never from the
notebook after it ran (``labkit.review.written``); their grades live in ``OUT/review.sqlite``
(``labkit.review.store``), which a regrade brings up to date and the reports read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.batch import intake, reports
from labkit.batch.forking import ForkRunner, ForkServer
from labkit.batch.intake import Autograder, GradingError, InvalidSubmission, Submission
from labkit.batch.outcome import FINAL_STATUSES, BatchResult, Outcome, Status
from labkit.grader import judging, pipeline
from labkit.grader.isolation import StudentUser, student_user
from labkit.review import store, written

__all__ = ["GradingError", "Grader", "grade_batch", "BatchResult", "Outcome", "Status"]


class Slot:
    """One submission graded at a time: a fork server and an unprivileged user of its own."""

    def __init__(
        self,
        autograder: Autograder,
        user: StudentUser,
        *,
        memory_mb: int,
        stopping: threading.Event,
    ):
        self.user = user
        self.runner = ForkRunner(
            server_factory=lambda: ForkServer(tests=autograder.tests, files=autograder.files),
            memory_mb=memory_mb,
            stopping=stopping,
        )

    def judge(self, record: bytes | None) -> judging.Verdict:
        """Judge a record of answers in a clean child of the slot's server."""
        judged = self.runner.ensure_server().judge(record)
        if judged.verdict_json is None:
            raise pipeline.GraderFault(f"the grader's judge failed: {judged.error}")
        return judging.Verdict.from_dict(json.loads(judged.verdict_json))


class Grader:
    """Grades submissions, ``jobs`` at a time, each slot with its own server and user.

    Nothing of the calling process changes for good: the servers are this grader's own
    processes, started on first use and stopped by ``close``.
    """

    def __init__(self, autograder: Autograder, *, timeout: float, memory_mb: int | None, jobs: int):
        self.autograder = autograder
        limits = dataclasses.replace(
            autograder.config.limits, total=min(timeout, autograder.config.limits.total)
        )
        self.config = dataclasses.replace(
            autograder.config,
            limits=limits,
            memory_mb=autograder.config.memory_mb if memory_mb is None else memory_mb,
        )
        self.stopping = threading.Event()
        self.slots: queue.Queue[Slot] = queue.Queue()
        self.all_slots = []
        for k in range(jobs):
            user = student_user(self.config.student_uid + k)
            slot = Slot(autograder, user, memory_mb=self.config.memory_mb, stopping=self.stopping)
            self.all_slots.append(slot)
            self.slots.put(slot)

    def sandbox_notes(self) -> list[str]:
        """Where student code will not be confined as it should (for the TA, before grading)."""
        return sorted({slot.user.note() for slot in self.all_slots if slot.user.note()})

    def grade(self, submission: Submission) -> Outcome:
        """Grade one submission; never raises for anything the submission contains."""
        started = time.monotonic()
        outcome = Outcome(
            submission.name,
            Status.INVALID,
            autograder_sha256=self.autograder.sha256,
            max_total=sum(self.autograder.points.values()),
            points=dict(self.autograder.points),
            students=submission.students,
        )
        try:
            outcome.submission_sha256 = intake.fingerprint(submission.path)
            name, notebook = intake.read_notebook(submission.path)
        except InvalidSubmission as exc:
            outcome.reason = str(exc)
        except OSError as exc:
            outcome.reason = f"cannot read the submission: {exc}"
        else:
            # Read from the bytes submitted, before anything runs: what was handed in is graded.
            outcome.written = written.extract_answers(notebook, self.autograder.written)
            flags = intake.zip_flags(submission.path)
            slot = self.slots.get()
            try:
                self._grade_notebook(slot, name, notebook, flags, outcome)
            finally:
                self.slots.put(slot)
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _grade_notebook(self, slot: Slot, name: str, notebook: bytes, flags, outcome) -> None:
        try:
            verdict, report = pipeline.grade_notebook(
                name,
                notebook,
                runner=slot.runner,
                judge=slot.judge,
                tests=self.autograder.tests,
                files=self.autograder.files,
                config=self.config,
                user=slot.user,
                flags=flags,
            )
        except pipeline.Interrupted:
            outcome.status, outcome.reason = Status.ERROR, "grading was interrupted"
            return
        except pipeline.GraderFault as exc:
            outcome.status, outcome.reason = Status.ERROR, str(exc)
            return
        outcome.status = Status.TIMEOUT if report.out_of_time else Status.OK
        if report.out_of_time:
            limit = self.config.limits.total
            outcome.reason = f"grading took longer than {limit:g} s and was stopped"
        outcome.scores = verdict.scores()
        outcome.total = round(sum(outcome.scores.values()), 6)
        outcome.flags, outcome.notes = verdict.flags, verdict.notes
        outcome.sandbox = verdict.sandbox
        outcome.verdict = dataclasses.asdict(verdict)

    def stop(self) -> None:
        """Kill every running child; start no new one."""
        self.stopping.set()

    def close(self) -> None:
        """Stop the slots' servers (and whatever they still run)."""
        for slot in self.all_slots:
            slot.runner.close()


class LocalPool:
    """Grades submissions on this machine, ``jobs`` at a time, yielding each outcome as it ends."""

    def __init__(self, grader: Grader, *, jobs: int):
        self.grader = grader
        self.executor = ThreadPoolExecutor(max_workers=jobs)

    def graded(self, submissions: list[Submission]) -> Iterator[Outcome]:
        """Grade every submission; yield the outcomes in the order they finish."""
        futures = [self.executor.submit(self.grader.grade, s) for s in submissions]
        for future in as_completed(futures):
            yield future.result()

    def stop(self) -> None:
        """Kill every running child and drop the submissions not started yet."""
        self.grader.stop()
        self.executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Wait for the threads, then stop the slots' servers."""
        self.executor.shutdown(wait=True)
        self.grader.close()

    def sandbox_notes(self, outcomes: list[Outcome]) -> list[str]:
        """Where student code will not be confined as it should (the slots' users)."""
        return self.grader.sandbox_notes()


def grade_batch(
    paths: list[Path],
    *,
    autograder: Path,
    output_dir: Path,
    jobs: int | None = None,
    timeout: float = 300.0,
    memory_mb: int | None = None,
    force: bool = False,
    progress: bool = True,
    scheduler=None,
) -> BatchResult:
    """Grade every submission under ``paths`` into ``output_dir``; return the outcomes.

    Args:
        paths: submission files (``.ipynb`` or exported ``.zip``) and folders of them.
        autograder: the autograder zip (``autograder/logreg_digits-autograder.zip``).
        output_dir: where ``gradebook.csv``, ``summary.png`` and ``<submission>/`` go.
        jobs: submissions graded at once (default: one per core); with ``scheduler``, each
            worker grades as many at once as it has threads instead.
        timeout: wall-clock seconds one submission may take.
        memory_mb: megabytes a submission may allocate beyond its starting size (default: the
            zip's ``memory_mb`` setting, as ``otter run`` applies it).
        force: regrade submissions already graded with the same autograder.
        progress: show a progress bar on stderr.
        scheduler: grade on a Dask cluster instead of here: its scheduler's address
            (``tcp://host:8786``), a ``distributed.Client`` or a ``LocalCluster``
            (``labkit.batch.cluster``).
    """
    from tqdm import tqdm

    started = time.monotonic()
    grader_zip = Autograder.load(autograder)
    submissions = intake.find_submissions(paths)
    output_dir = Path(output_dir)
    written_grades = _stored_written_grades(output_dir, grader_zip)
    outcomes: dict[str, Outcome] = {}
    todo = []
    for submission in submissions:
        previous = None if force else _previous_outcome(output_dir, submission, grader_zip)
        if previous is None:
            todo.append(submission)
            outcomes[submission.name] = Outcome(
                submission.name,
                Status.PENDING,
                max_total=sum(grader_zip.points.values()),
                points=dict(grader_zip.points),
                students=submission.students,
            )
        else:
            outcomes[submission.name] = previous
    # Made before anything is written, so that a cluster that refuses leaves no trace.
    pool = _make_pool(
        grader_zip,
        scheduler=scheduler,
        jobs=jobs,
        submissions=len(todo),
        timeout=timeout,
        memory_mb=memory_mb,
    )
    gradebook = output_dir / "gradebook.csv"
    bar = tqdm(total=len(todo), unit="submission", desc="grading", disable=not progress)
    graded = []
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        if grader_zip.written_json:
            write_atomically(output_dir / intake.WRITTEN_QUESTIONS_NAME, grader_zip.written_json)
        reports.write_gradebook(
            gradebook, list(outcomes.values()), grader_zip.points, written=written_grades
        )
        for outcome in pool.graded(todo):
            write_outcome(output_dir, outcome, written=written_grades)
            outcomes[outcome.submission] = outcome
            graded.append(outcome)
            reports.write_gradebook(
                gradebook, list(outcomes.values()), grader_zip.points, written=written_grades
            )
            bar.update()
    except BaseException:
        pool.stop()
        raise
    finally:
        bar.close()
        pool.close()
    if (output_dir / store.DATABASE_NAME).exists():
        # Changed answers are marked stale, and the reports show the grades given so far.
        store.refresh_reports(output_dir)
    result = BatchResult(
        list(outcomes.values()),
        grader_zip.points,
        time.monotonic() - started,
        len(submissions) - len(todo),
        sandbox=pool.sandbox_notes(graded) if todo else [],
    )
    reports.write_summary_png(output_dir / "summary.png", result)
    return result


def _make_pool(autograder: Autograder, *, scheduler, jobs, submissions, timeout, memory_mb):
    """The local pool of slots, or the cluster's workers when a scheduler is given (and there
    is something to grade: a finished batch reruns without one)."""
    if scheduler is None or not submissions:
        jobs = max(1, min(jobs or os.cpu_count() or 1, submissions or 1))
        grader = Grader(autograder, timeout=timeout, memory_mb=memory_mb, jobs=jobs)
        return LocalPool(grader, jobs=jobs)
    try:
        from labkit.batch.cluster import ClusterPool
    except ImportError as exc:
        raise GradingError(
            f"grading on a cluster needs dask.distributed (pip install 'labkit[cluster]'): {exc}"
        ) from exc
    return ClusterPool(scheduler, autograder, timeout=timeout, memory_mb=memory_mb)


def _stored_written_grades(output_dir: Path, autograder: Autograder) -> reports.WrittenGrades:
    """The written questions' grades already given in ``OUT/review.sqlite``, if it exists."""
    points = {q.name: q.points for q in autograder.written}
    if not (output_dir / store.DATABASE_NAME).exists():
        return reports.WrittenGrades(points=points)
    try:
        with store.ReviewStore.open(output_dir) as opened:
            grades = store.written_grades(opened)
    except store.ReviewError as exc:
        raise GradingError(str(exc)) from exc
    return reports.WrittenGrades(points=points, scores=grades.scores)


def _previous_outcome(output_dir: Path, submission: Submission, autograder: Autograder):
    """The stored outcome of a submission graded before with the same zip and bytes, if any."""
    path = output_dir / submission.name / "results.json"
    try:
        outcome = Outcome.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = (
        outcome.status in FINAL_STATUSES
        and outcome.autograder_sha256 == autograder.sha256
        and outcome.submission_sha256 == intake.fingerprint(submission.path)
    )
    return outcome if same else None


def write_outcome(
    output_dir: Path, outcome: Outcome, *, written: reports.WrittenGrades | None = None
) -> None:
    """Write ``<submission>/feedback.txt`` and then ``<submission>/results.json``, atomically."""
    folder = output_dir / outcome.submission
    write_atomically(folder / "feedback.txt", reports.feedback_text(outcome, written=written))
    write_atomically(folder / "results.json", outcome.to_json())
