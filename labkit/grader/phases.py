"""Where the time of grading one submission goes, phase by phase (TA-only, in results.json).

``labkit grade`` keeps, for every submission, the seconds spent in each of ``PHASES`` and sums
them in its summary, so that a batch slower than its notebooks' own work says where the rest
went. A phase is wall time measured by the grader, never anything the student's process said.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

PHASES = {
    "intake": "reading the submission (hash, notebook, written answers, zip flags)",
    "workspace": "making the notebook's folder and its grading files",
    "start": "starting the notebook's process: fork, sandbox, user switch, the grader's cells",
    "cells": "the notebook's own code cells, first run",
    "record": "recording the answers: each hidden test's call of the student's code",
    "reruns": "running the notebook again after a skipped cell (every phase of those runs)",
    "cleanup": "ending the notebook's process and killing what it left running",
    "judge": "judging the recorded answers in a clean process",
    "report": "writing the submission's feedback and the gradebook",
}


class PhaseClock:
    """Seconds per phase of one submission."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.seconds: dict[str, float] = {}

    def add(self, phase: str, seconds: float) -> None:
        """Count ``seconds`` more in ``phase`` (one of ``PHASES``)."""
        if phase not in PHASES:
            raise KeyError(f"unknown phase {phase!r}")
        self.seconds[phase] = self.seconds.get(phase, 0.0) + max(seconds, 0.0)

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        """Count the time the ``with`` block takes in ``phase``."""
        started = self.clock()
        try:
            yield
        finally:
            self.add(phase, self.clock() - started)

    def rounded(self) -> dict[str, float]:
        """The phases measured, in ``PHASES`` order, to the millisecond (as results.json
        keeps them)."""
        return {p: round(self.seconds[p], 3) for p in PHASES if p in self.seconds}


def total_phases(per_submission: Iterable[dict[str, float]]) -> dict[str, float]:
    """The seconds of each phase summed over submissions, in ``PHASES`` order; a value that is
    not a finite non-negative number (a hand-edited results.json) counts as nothing."""
    totals = dict.fromkeys(PHASES, 0.0)
    for phases in per_submission:
        for phase, seconds in (phases or {}).items():
            if phase in totals and isinstance(seconds, (int, float)) and 0 <= seconds < 1e9:
                totals[phase] += float(seconds)
    return {p: round(s, 3) for p, s in totals.items() if s}
