"""The one grading pipeline: run a notebook with limits, record its answers, judge them.

Both ways of grading call ``grade_notebook``: the autograder zip's plugin (``otter run``,
Gradescope) with a Jupyter kernel as its runner (``labkit.grader.kernel``), and ``labkit grade``
with a child forked from a clean server (``labkit.batch.forking``). Only the runner and the place
the judge runs differ; everything else is here, once:

- the cells, in order (``labkit.grader.cells``), each sent by the grader when its turn comes, so
  the grader always knows which cell is running and which limit applies;
- the retry policy: a cell that runs past its limit, stops its process or writes on the grader's
  channel is skipped and the notebook run again from the top without it, at most ``MAX_SKIPPED``
  times; the grader's own cells are never skipped;
- the overall limit, the processes left running (killed before anything is read), the record of
  answers (read as data, never run), the flags for review and the notes for the student.

Every sentence in the verdict's notes is written here from what the grader itself observed (an
enum, a cell's label, an exit status), never from what the student's process wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import nbformat

from labkit.grader import cells as cells_module
from labkit.grader.cells import Cell, CellKind
from labkit.grader.config import GradingConfig, Limits
from labkit.grader.isolation import SharedFiles, StudentUser, Workspace
from labkit.grader.phases import PhaseClock
from labkit.grader.processes import describe_exit
from labkit.grader.record import AnswerError, read_answers
from labkit.grader.scan import scan_notebook
from labkit.grader.verdict import Verdict

MAX_SKIPPED = 3


class Stop(Enum):
    """How the run of one cell ended, as the runner observed it."""

    DONE = "done"
    TIMED_OUT = "timed out"
    DIED = "process died"
    BROKE_CHANNEL = "broke the channel"  # wrote on the grader's channel, or closed it
    INTERRUPTED = "interrupted"  # the grader is shutting down


@dataclass(frozen=True)
class CellResult:
    """The end of one cell's run: how, and the process's exit status if it died."""

    stop: Stop
    exit_status: int | None = None


class Session(Protocol):
    """One process running a notebook's cells, one at a time."""

    def run_cell(self, index: int, source: str, *, timeout: float) -> CellResult:
        """Run one cell; wait at most ``timeout`` seconds."""

    def close(self) -> int:
        """Stop the process and kill what it left running; return how many were left."""


class Runner(Protocol):
    """Starts the process a notebook runs in, as the workspace's user, in the workspace."""

    def start(self, workspace: Workspace) -> Session:
        """A fresh process, ready to run cells (``GraderFault`` if it cannot start)."""

    def sandbox_notes(self) -> list[str]:
        """Sentences for the TA where this runner could not confine the notebook fully."""


class GraderFault(Exception):
    """The grader itself failed (not the submission): the notebook could not be graded."""


class Interrupted(Exception):
    """Grading was stopped from outside (Ctrl-C) before the notebook finished."""


class After(Enum):
    """What the grader did after a cell stopped the run."""

    RERUN = "rerun"
    GAVE_UP = "gave up"  # MAX_SKIPPED cells were skipped already
    ENDED = "ended"  # one of the grader's own cells: nothing to rerun without


@dataclass(frozen=True)
class Skip:
    """A cell that stopped a run, why, and what followed."""

    label: str
    stop: Stop
    limit: float
    exit_status: int | None
    after: After

    def sentence(self) -> str:
        """The note the student and the TA read, in the grader's words only."""
        if self.stop is Stop.TIMED_OUT:
            what = f"ran longer than {self.limit:g} s"
        elif self.stop is Stop.DIED:
            what = f"stopped the Python process ({describe_exit(self.exit_status)})"
        else:
            what = "wrote on the grader's channel or closed it"
        if self.after is After.RERUN:
            follow = "the notebook was run again without it"
        elif self.after is After.GAVE_UP:
            follow = f"{MAX_SKIPPED} cells were skipped already, so the notebook was not run again"
        else:
            follow = "the answers recorded before that were kept"
        return f"{self.label} {what}; {follow}"


@dataclass
class RunReport:
    """How running a notebook went: the cells skipped, the limits hit, what was left running."""

    skips: list[Skip] = field(default_factory=list)
    out_of_time: bool = False
    interrupted: bool = False
    leftovers: int = 0
    attempts: int = 0
    seconds: float = 0.0

    def notes(self) -> list[str]:
        """Sentences for the student and the TA."""
        notes = [skip.sentence() for skip in self.skips]
        if self.out_of_time:
            notes.append("the notebook ran out of time: answers not recorded by then score 0")
        return notes

    def flags(self) -> list[str]:
        """What the TA should review: processes left running, a forged or broken channel."""
        flags = [
            f"{skip.label} wrote on the grader's channel or closed it"
            for skip in self.skips
            if skip.stop is Stop.BROKE_CHANNEL
        ]
        if self.leftovers:
            flags.append(
                f"{self.leftovers} process(es) the notebook started were still running after it "
                "and were killed"
            )
        return flags


def cell_limit(cell: Cell, limits: Limits) -> float:
    """The grader's limit for one cell: the cell limit, or a test's limit and some grace."""
    return limits.test_cell if cell.kind is CellKind.TEST else limits.cell


def after_stop(cell: Cell, skipped: set[int]) -> After:
    """The retry policy: rerun without a stopping cell, unless it is the grader's or too many
    cells were skipped already."""
    if cell.kind is CellKind.SETUP:
        return After.ENDED
    if len(skipped) >= MAX_SKIPPED:
        return After.GAVE_UP
    return After.RERUN


def run_cells(
    cells: list[Cell],
    *,
    runner: Runner,
    workspace: Workspace,
    limits: Limits,
    clock: Callable[[], float] = time.monotonic,
    phases: PhaseClock | None = None,
) -> RunReport:
    """Run ``cells`` in fresh processes of ``runner`` until one run gets through (see module);
    ``phases``: where the time went (a rerun's time all counts as ``reruns``)."""
    report = RunReport()
    started = clock()
    deadline = started + limits.total
    skipped: set[int] = set()
    phases = phases or PhaseClock()
    while True:
        report.attempts += 1
        stopped: tuple[int, CellResult, float] | None = None
        first = report.attempts == 1
        with phases.measure("start" if first else "reruns"):
            session = runner.start(workspace)
        try:
            for index, cell in enumerate(cells):
                if index in skipped:
                    continue
                limit = cell_limit(cell, limits)
                remaining = deadline - clock()
                if remaining <= 0:
                    report.out_of_time = True
                    break
                with phases.measure(_phase_of(cell) if first else "reruns"):
                    result = session.run_cell(index, cell.source, timeout=min(limit, remaining))
                if result.stop is Stop.DONE:
                    continue
                if result.stop is Stop.INTERRUPTED:
                    report.interrupted = True
                elif result.stop is Stop.TIMED_OUT and remaining < limit:
                    report.out_of_time = True
                else:
                    stopped = (index, result, limit)
                break
        finally:
            with phases.measure("cleanup"):
                report.leftovers += session.close()
        if stopped is None:
            break
        index, result, limit = stopped
        after = after_stop(cells[index], skipped)
        report.skips.append(Skip(cells[index].label, result.stop, limit, result.exit_status, after))
        if after is not After.RERUN:
            break
        skipped.add(index)
    report.seconds = round(clock() - started, 2)
    return report


def _phase_of(cell: Cell) -> str:
    return {CellKind.SETUP: "start", CellKind.TEST: "record"}.get(cell.kind, "cells")


def grade_notebook(
    notebook_name: str,
    notebook: bytes,
    *,
    runner: Runner,
    judge: Callable[[bytes | None], Verdict],
    tests: dict[str, str],
    files: dict[str, bytes],
    config: GradingConfig,
    user: StudentUser,
    flags: list[str] = (),
    phases: PhaseClock | None = None,
    shared_files: SharedFiles | None = None,
) -> tuple[Verdict, RunReport]:
    """Grade one notebook: run it, record its answers, judge them; return verdict and report.

    Args:
        notebook_name: the submitted notebook's file name (it runs under that name).
        notebook: its bytes (a valid notebook: the callers check that first).
        runner: starts the student's process (a kernel, or a forked child).
        judge: judges a record of answers (``None``: there is none) on the trusted side.
        tests: the hidden tests, read before the notebook ran (file name -> source).
        files: the grading files the notebook may read, and judge-only ones it never gets.
        config: the limits and settings of the zip's plugin entry.
        user: who the student's code runs as.
        flags: flags for review the caller found already (a submitted log).
        phases: where the time goes (``labkit.grader.phases``), if the caller keeps it.
        shared_files: ``files`` already on disk, for the workspace to link (a batch's slots).
    """
    phases = phases or PhaseClock()
    with phases.measure("intake"):
        parsed = nbformat.reads(notebook.decode("utf-8"), as_version=4)
        notebook_cells = cells_module.graded_cells(parsed)
        found = [*flags, *scan_notebook({c.label: c.source for c in notebook_cells})]
    with phases.measure("workspace"):
        workspace = Workspace(
            files=files,
            judge_only=config.judge_only_files,
            notebook_name=notebook_name,
            notebook=notebook,
            user=user,
            shared=shared_files,
        )
    try:
        cells = [
            cells_module.prelude(),
            *notebook_cells,
            *cells_module.recorder_cells(
                tests, answers_path=str(workspace.answers), seconds_per_test=config.limits.test
            ),
        ]
        report = run_cells(
            cells, runner=runner, workspace=workspace, limits=config.limits, phases=phases
        )
        if report.interrupted:
            raise Interrupted()
        notes = report.notes()
        with phases.measure("record"):
            try:
                record = read_answers(workspace.answers)
            except AnswerError as exc:
                record = None
                notes.append(str(exc))
    finally:
        with phases.measure("cleanup"):
            workspace.remove()
    with phases.measure("judge"):
        verdict = judge(record)
    verdict.notes = [*notes, *verdict.notes]
    verdict.flags = [*found, *report.flags()]
    verdict.sandbox = [n for n in [user.note(), *runner.sandbox_notes()] if n]
    return verdict, report
