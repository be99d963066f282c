"""Grading submissions on this machine: slots of a fork server and an unprivileged user each.

A ``Grader`` grades one submission at a time per slot, through the same pipeline as the autograder
zip (``labkit.grader.pipeline``), in a child of its slot's fork server (``forking``). The local
pool and each worker of a cluster hold one.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time

from labkit import intake
from labkit.batch.forking import ForkRunner, ForkServer, ServerSpawner
from labkit.gradebook import written
from labkit.gradebook.outcome import Outcome, Status
from labkit.grader import pipeline
from labkit.grader.isolation import SharedFiles, StudentUser, student_user
from labkit.grader.phases import PhaseClock
from labkit.grader.verdict import Verdict
from labkit.intake import Autograder, InvalidSubmission, Submission


class Slot:
    """One submission graded at a time: a fork server and an unprivileged user of its own."""

    def __init__(self, server_factory, *, memory_mb: int, stopping: threading.Event):
        self.user = StudentUser(None, "no user was claimed for this slot yet")
        self.runner = ForkRunner(
            server_factory=server_factory, memory_mb=memory_mb, stopping=stopping
        )

    def judge(self, record: bytes | None) -> Verdict:
        """Judge a record of answers in a clean child of the slot's server."""
        judged = self.runner.ensure_server().judge(record)
        if judged.verdict_json is None:
            raise pipeline.GraderFault(f"the grader's judge failed: {judged.error}")
        return Verdict.from_dict(json.loads(judged.verdict_json))


class Grader:
    """Grades submissions, ``jobs`` at a time, each slot with its own server and user.

    Nothing of the calling process changes for good: the servers are this grader's own
    processes, stopped by ``close``. The slots' servers are forked by one spawner
    (``ServerSpawner``), which starts when the grader is made (or, with
    ``start_servers=False``, on first use): the lab's libraries are imported and the judges'
    shared results computed once, not once per slot.
    """

    def __init__(
        self,
        autograder: Autograder,
        *,
        timeout: float,
        memory_mb: int | None,
        jobs: int,
        start_servers: bool = True,
    ):
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
        self.spawner: ServerSpawner | None = None
        self.spawner_seconds = 0.0  # the spawners' starts (one, unless one died)
        self._spawner_lock = threading.Lock()
        if start_servers:  # now, so that it starts while the users are claimed and checked
            self._ready_spawner(wait=False)
        self.all_slots = [
            Slot(self._new_server, memory_mb=self.config.memory_mb, stopping=self.stopping)
            for _ in range(jobs)
        ]
        self.shared_files: SharedFiles | None = None
        try:
            for k, slot in enumerate(self.all_slots):
                slot.user = student_user(self.config.student_uid + k)
                self.slots.put(slot)
            if any(slot.user.uid is not None for slot in self.all_slots):
                # written once, linked into each workspace (read-only to the students' users)
                self.shared_files = SharedFiles(
                    autograder.files, judge_only=self.config.judge_only_files
                )
        except BaseException:
            self.close()
            raise

    def sandbox_notes(self) -> list[str]:
        """Where student code will not be confined as it should (for the TA, before grading)."""
        return sorted({slot.user.note() for slot in self.all_slots if slot.user.note()})

    def server_seconds(self) -> float:
        """The time spent starting grading servers: the spawner's, then each slot's."""
        slots = sum(slot.runner.server_seconds for slot in self.all_slots)
        return round(self.spawner_seconds + slots, 3)

    def _ready_spawner(self, *, wait: bool = True) -> ServerSpawner:
        """The spawner, started (again, if it died); with ``wait``, once it is ready."""
        with self._spawner_lock:
            if self.spawner is not None and not self.spawner.alive():
                self.spawner.close()
                self.spawner = None
            if self.spawner is None:
                self.spawner = ServerSpawner(
                    tests=self.autograder.tests, files=self.autograder.files
                )
            spawner = self.spawner
            if wait and spawner.start_seconds is None:
                spawner.wait_ready()
                self.spawner_seconds += spawner.start_seconds
        return spawner

    def _new_server(self) -> ForkServer:
        """A fork server for a slot, forked by the spawner."""
        return self._ready_spawner().spawn()

    def grade(self, submission: Submission) -> Outcome:
        """Grade one submission; never raises for anything the submission contains."""
        started = time.monotonic()
        phases = PhaseClock()
        outcome = self.autograder.outcome(submission, Status.INVALID)
        try:
            with phases.measure("intake"):
                outcome.submission_sha256 = intake.submission_sha256(submission.path)
                name, notebook = intake.read_notebook(submission.path)
        except InvalidSubmission as exc:
            outcome.reason = str(exc)
        except OSError as exc:
            outcome.reason = f"cannot read the submission: {exc}"
        else:
            with phases.measure("intake"):
                # Read from the bytes submitted, before anything runs: what was handed in counts.
                outcome.written = written.extract_answers(notebook, self.autograder.written)
                flags = intake.zip_flags(submission.path)
            slot = self.slots.get()
            try:
                self._grade_notebook(slot, name, notebook, flags, outcome, phases)
            finally:
                self.slots.put(slot)
        outcome.seconds = round(time.monotonic() - started, 2)
        outcome.phases = phases.rounded()
        return outcome

    def _grade_notebook(
        self, slot: Slot, name: str, notebook: bytes, flags, outcome, phases: PhaseClock
    ) -> None:
        try:
            slot.runner.ensure_server()  # its start is the slot's, not this submission's
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
                phases=phases,
                shared_files=self.shared_files,
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
        """Stop the slots' servers (and whatever they still run) and the spawner, all at once."""
        for slot in self.all_slots:
            slot.runner.ask_to_quit()
        if self.spawner is not None:
            self.spawner.ask_to_quit()
        for slot in self.all_slots:
            slot.runner.close()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None
        if self.shared_files is not None:
            self.shared_files.remove()
