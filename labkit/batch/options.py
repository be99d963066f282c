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
