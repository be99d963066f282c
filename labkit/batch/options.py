"""The settings of ``labkit grade``, each with its default and what it means, written once.

``grade_batch`` takes them as keyword arguments and the command line shows the same defaults and
descriptions (``GradeOptions.help``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GradeOptions:
    """How a batch is graded."""

    jobs: int | None = field(
        default=None,
        metadata={"help": "Submissions graded at once [cores]."},
    )
    timeout: float = field(
        default=300.0,
        metadata={
            "help": "Seconds one submission may take (the zip's own total limit applies too)."
        },
    )
    memory_mb: int | None = field(
        default=None,
        metadata={
            "help": "Megabytes a submission may allocate [the zip's memory_mb, 2048 by default]."
        },
    )
    force: bool = field(
        default=False,
        metadata={"help": "Regrade submissions that were already graded."},
    )
    due: str | None = field(
        default=None,
        metadata={
            "help": "The due date with its time zone (2026-12-10T23:59-08:00); with --late-policy, "
            "or the same keys in a course.toml in the submissions folder [as the folder kept it]."
        },
    )
    late_policy: str | None = field(
        default=None,
        metadata={
            "help": "How late work is penalised: grace=15m,per-day=10%,max-days=3 (a share of the "
            "points per day late, rounded up; more days late than max-days: not accepted)."
        },
    )
    roster: str | None = field(
        default=None,
        metadata={
            "help": "The course roster (CSV: name, email, sid; optionally section, canvas_id, "
            "login, extension): joins students to submissions; kept in the graded folder."
        },
    )
    name_pattern: str | None = field(
        default=None,
        metadata={
            "help": "Match submissions to the roster by file name: one roster field in braces, "
            "* for anything ('{login}_*', '{sid}-*.ipynb')."
        },
    )
    time_from_mtime: bool = field(
        default=False,
        metadata={
            "help": "Take a submission's time from its file's modification time when the LMS "
            "gave none (copying or unzipping changes it: only for files as the LMS wrote them)."
        },
    )
    scheduler: str | None = field(
        default=None,
        metadata={
            "help": "Grade on the workers of this Dask scheduler (tcp://host:8786) instead of "
            "here; each worker grades as many at once as it has threads (-j is then ignored)."
        },
    )

    @classmethod
    def help(cls, name: str) -> str:
        """The description of the setting ``name``."""
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}[name]
