"""The grading settings an instructor sets in the ASSIGNMENT CONFIG, each with its meaning.

They sit under the plugin's entry (``plugins: - labkit.grader.otter_plugin.GradingIntegrity:``);
otter copies them into the autograder zip's ``otter_config.json``, where the plugin reads them on
Gradescope and under ``otter run``, and ``labkit grade`` reads them from the zip.
"""

from __future__ import annotations

from dataclasses import dataclass

PLUGIN_NAME = "labkit.grader.otter_plugin.GradingIntegrity"
# A hidden test's cell may run this much longer than the test's own limit: the limit is enforced
# inside the student's process first (so the test fails alone), and by the grader only if that
# enforcement was defeated (then the notebook is run again without the test).
RECORDER_GRACE = 10.0


@dataclass(frozen=True)
class Setting:
    """One key of the plugin's configuration: its default and what it means."""

    key: str
    default: object
    help: str


SETTINGS = (
    Setting("cell_timeout", 60.0, "seconds one code cell of the notebook may run"),
    Setting("test_timeout", 60.0, "seconds one hidden test may spend on the student's code"),
    Setting("total_timeout", 480.0, "seconds the whole notebook, answers included, may run"),
    Setting(
        "judge_only_files",
        (),
        "grading files (paths under the zip's files/) that only the trusted judge reads, such as "
        "the hidden photos' labels; the student's code never gets a copy",
    ),
    Setting(
        "memory_mb",
        2048,
        "megabytes the notebook's process may allocate beyond its starting size (an allocation "
        "past it fails in that cell only); labkit grade's --memory overrides it",
    ),
    Setting(
        "student_uid",
        62000,
        "where the grader runs as root, the first of the unprivileged user ids that student code "
        "runs as (labkit grade uses one per submission graded at once)",
    ),
    Setting(
        "hidden_test_feedback",
        False,
        "true: on Gradescope, once grades are published, each student also sees every hidden "
        "test's name and a short message: 'passed', the first line of the test's own assertion "
        "message (at most 300 characters), or a fixed sentence naming only the kind of error; "
        "never the test's code or a traceback. An assertion message shows whatever it embeds "
        "(a value the student returned, an expected value), so write them for students",
    ),
)


class ConfigError(ValueError):
    """The plugin's configuration has an unknown key or a value of the wrong kind."""


@dataclass(frozen=True)
class Limits:
    """How long one cell, one hidden test and the whole notebook may take (seconds)."""

    cell: float = 60.0
    test: float = 60.0
    total: float = 480.0

    @property
    def test_cell(self) -> float:
        """The grader's limit for the cell that records one test's answer."""
        return self.test + RECORDER_GRACE


@dataclass(frozen=True)
class GradingConfig:
    """The plugin's settings, checked."""

    limits: Limits = Limits()
    judge_only_files: tuple[str, ...] = ()
    memory_mb: int = 2048
    student_uid: int = 62000
    hidden_test_feedback: bool = False

    @classmethod
    def from_dict(cls, config: dict | None) -> GradingConfig:
        """Read the plugin's settings (``None``: all defaults); raise ConfigError when wrong."""
        config = dict(config or {})
        known = {s.key: s for s in SETTINGS}
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown grading setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        values = {key: config.get(key, known[key].default) for key in known}
        for key in ("cell_timeout", "test_timeout", "total_timeout"):
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{key} must be a positive number of seconds, not {value!r}")
        files = values["judge_only_files"]
        if not isinstance(files, (list, tuple)) or not all(isinstance(f, str) for f in files):
            raise ConfigError(f"judge_only_files must be a list of paths, not {files!r}")
        memory = values["memory_mb"]
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 64:
            raise ConfigError(
                f"memory_mb must be a whole number of megabytes >= 64, not {memory!r}"
            )
        uid = values["student_uid"]
        if isinstance(uid, bool) or not isinstance(uid, int) or not 1000 <= uid < 2**31 - 64:
            raise ConfigError(f"student_uid must be an unprivileged user id, not {uid!r}")
        feedback = values["hidden_test_feedback"]
        if not isinstance(feedback, bool):
            raise ConfigError(f"hidden_test_feedback must be true or false, not {feedback!r}")
        return cls(
            limits=Limits(
                cell=float(values["cell_timeout"]),
                test=float(values["test_timeout"]),
                total=float(values["total_timeout"]),
            ),
            judge_only_files=tuple(files),
            memory_mb=memory,
            student_uid=uid,
            hidden_test_feedback=feedback,
        )
