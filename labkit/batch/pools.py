"""Where submissions are graded: this machine's slots (``LocalPool``) or a Dask cluster's workers
(``labkit.batch.cluster.ClusterPool``); ``grade_batch`` drives either through ``Pool``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Protocol

from labkit.batch.grader import Grader
from labkit.gradebook.outcome import Outcome
from labkit.intake import Autograder, GradingError, Submission


class Pool(Protocol):
    """Grades submissions somewhere, yielding each outcome as it ends."""

    def graded(self, submissions: list[Submission]) -> Iterator[Outcome]:
        """Grade every submission; yield the outcomes in the order they finish."""

    def stop(self) -> None:
        """Drop the submissions not graded yet and stop the ones running (Ctrl-C)."""

    def close(self) -> None:
        """Release what the pool holds (processes, connections)."""

    def sandbox_notes(self, outcomes: list[Outcome]) -> list[str]:
        """Where student code was not confined as it should be, for the summary."""

    def server_seconds(self) -> float:
        """The time spent starting grading servers here (0 where it is not seen)."""


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
        """Where student code was not confined as it should: the slots' users, and what the
        graded submissions' processes could not be cut off from (network, the grader's files)."""
        return sorted({*self.grader.sandbox_notes(), *(n for o in outcomes for n in o.sandbox)})

    def server_seconds(self) -> float:
        """The time the slots spent starting their grading servers."""
        return self.grader.server_seconds()


def make_pool(
    autograder: Autograder, *, scheduler, jobs: int | None, submissions: int, timeout, memory_mb
) -> Pool:
    """The local pool of slots, or the cluster's workers when a scheduler is given (and there
    is something to grade: a finished batch reruns without one)."""
    if scheduler is None or not submissions:
        jobs = max(1, min(jobs or os.cpu_count() or 1, submissions or 1))
        grader = Grader(
            autograder, timeout=timeout, memory_mb=memory_mb, jobs=jobs,
            start_servers=submissions > 0,
        )  # fmt: skip
        return LocalPool(grader, jobs=jobs)
    try:
        from labkit.batch.cluster import ClusterPool
    except ImportError as exc:
        raise GradingError(
            f"grading on a cluster needs dask.distributed (pip install 'labkit[cluster]'): {exc}"
        ) from exc
    return ClusterPool(scheduler, autograder, timeout=timeout, memory_mb=memory_mb)
