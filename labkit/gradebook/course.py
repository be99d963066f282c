"""The course's settings a graded folder keeps: the due date, the late policy, the name pattern.

``labkit grade`` takes them from its options or from a ``course.toml`` in the submissions folder::

    due = "2026-12-10T23:59-08:00"
    grace = "15m"
    per-day = "10%"
    max-days = 3

and keeps them in ``OUT/course.json``, so that the reports, the review app and the LMS exports
apply the same policy whenever they are rewritten. Options given on the command line win over
``course.toml``, which wins over what the folder kept.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from labkit.gradebook.late import LateError, LatePolicy, parse_due, parse_policy, policy_from_values

COURSE_TOML = "course.toml"
TOML_KEYS = ("due", "grace", "per-day", "max-days")


class CourseError(ValueError):
    """Course settings that cannot be read; the message names the file or option."""


@dataclass(frozen=True)
class Course:
    """The due date (None: no late policy), the policy, and the file-name pattern for rosters."""

    due: datetime | None = None
    policy: LatePolicy = LatePolicy()
    name_pattern: str = ""

    def to_json(self) -> str:
        """The settings as ``course.json`` keeps them."""
        data = {
            "due": self.due.isoformat() if self.due else None,
            "late_policy": self.policy.to_dict(),
            "name_pattern": self.name_pattern,
        }
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Course:
        """Read back ``to_json`` (raises CourseError)."""
        try:
            data = json.loads(text)
            due = parse_due(data["due"]) if data.get("due") else None
            policy = LatePolicy.from_dict(data.get("late_policy") or {})
            return cls(due=due, policy=policy, name_pattern=str(data.get("name_pattern", "")))
        except (ValueError, KeyError, TypeError, LateError) as exc:
            raise CourseError(f"not course settings written by labkit ({exc})") from None

    @classmethod
    def load(cls, path: Path) -> Course:
        """The settings kept at ``path`` (defaults if there are none)."""
        if not path.exists():
            return cls()
        try:
            return cls.from_json(path.read_bytes())
        except CourseError as exc:
            raise CourseError(f"{path}: {exc}") from None

    def describe(self) -> str:
        """One line for the TA: the due date and the policy, or that there is none."""
        if self.due is None:
            return "no due date: no late policy"
        return f"due {self.due.isoformat()}, late policy {self.policy.describe()}"


def read_course_toml(path: Path) -> dict:
    """The settings of a ``course.toml`` (``due``, ``grace``, ``per-day``, ``max-days``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{path}: not a readable TOML file ({exc})") from None
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        raise CourseError(
            f"{path}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(TOML_KEYS)}"
        )
    return data


def resolve_course(
    *,
    stored: Course,
    toml_path: Path | None = None,
    due: str | None = None,
    late_policy: str | None = None,
    name_pattern: str | None = None,
) -> Course:
    """The settings to grade with: the options, else ``course.toml``, else what was kept."""
    course = stored
    try:
        if toml_path is not None and toml_path.is_file():
            data = read_course_toml(toml_path)
            where = str(toml_path)
            if "due" in data:
                course = replace(course, due=parse_due(data["due"], what=f"{where}: due"))
            policy_keys = {k: data[k] for k in ("grace", "per-day", "max-days") if k in data}
            if policy_keys:
                course = replace(course, policy=policy_from_values(policy_keys, where=where))
        if due is not None:
            course = replace(course, due=parse_due(due, what="--due"))
        if late_policy is not None:
            course = replace(course, policy=parse_policy(late_policy))
    except LateError as exc:
        raise CourseError(str(exc)) from None
    if name_pattern is not None:
        course = replace(course, name_pattern=name_pattern)
    if course.policy != LatePolicy() and course.due is None:
        raise CourseError("a late policy needs a due date (--due, or due in course.toml)")
    return course
