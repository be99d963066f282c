"""Batch grading for TAs: ``labkit grade``, a folder of submissions graded without Docker.

``run.grade_batch`` finds the submissions (``labkit.intake``), grades several at once in a ``Pool``
(``pools``: this machine's slots of ``grader``, or a Dask cluster's workers, ``cluster``), each
through the same pipeline as the autograder zip (``labkit.grader.pipeline``) in a child of a fork
server (``forking``, ``server``, ``channel``), and writes the graded folder (``labkit.gradebook``).
``options`` holds the settings with their defaults and descriptions.

The names below are imported on first use, so that reading ``options`` (the command line does)
does not load the grading stack.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "grade_batch": "labkit.batch.run",
    "Grader": "labkit.batch.grader",
    "GradeOptions": "labkit.batch.options",
    "GradingError": "labkit.intake",
    "BatchResult": "labkit.gradebook.outcome",
    "Outcome": "labkit.gradebook.outcome",
    "Status": "labkit.gradebook.outcome",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'labkit.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
