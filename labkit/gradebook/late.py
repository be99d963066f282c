"""Late work: the due date, the late policy, and how late each submission was.

The policy is written once, as ``grace=15m,per-day=10%,max-days=3`` (``labkit grade
--late-policy``, or the same keys in ``course.toml``):

- ``grace``: a submission at most this late is on time (``30s``, ``15m``, ``2h``, ``1d``);
- ``per-day``: the share of the points taken per day late, counted from the due date and rounded
  up to whole days (``10%``: one minute past the grace is one day, 25 hours two);
- ``max-days``: work more days late than this is not accepted: a penalty of 100%.

A penalty never takes more than the points earned. A submission whose time is unknown gets no
penalty and a note saying so, never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

DAY = 86_400.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
POLICY_KEYS = ("grace", "per-day", "max-days")


class LateError(ValueError):
    """A due date, policy or extension that cannot be read; the message names the value."""


@dataclass(frozen=True)
class LatePolicy:
    """How late work is penalised."""

    grace_seconds: float = 0.0
    per_day: float = 0.0  # the share of the points per day late (0.1 for 10%)
    max_days: int | None = None  # later than this: not accepted

    def describe(self) -> str:
        """The policy in the words of ``--late-policy``."""
        parts = [f"grace={format_duration(self.grace_seconds)}", f"per-day={self.per_day * 100:g}%"]
        if self.max_days is not None:
            parts.append(f"max-days={self.max_days}")
        return ",".join(parts)

    def to_dict(self) -> dict:
        """The policy as JSON data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LatePolicy:
        """Read back ``to_dict``'s data."""
        return cls(
            grace_seconds=float(data.get("grace_seconds", 0.0)),
            per_day=float(data.get("per_day", 0.0)),
            max_days=None if data.get("max_days") is None else int(data["max_days"]),
        )


@dataclass(frozen=True)
class Lateness:
    """How late one submission was, and what that costs it."""

    due: datetime
    submitted_at: datetime | None
    seconds_late: float | None  # None: unknown
    days: int | None  # whole days late, rounded up (0: on time or within the grace)
    fraction: float | None  # the penalty's share of the points; None: unknown, none applied
    note: str = ""

    @property
    def late(self) -> bool | None:
        """Whether it counts as late (None: unknown)."""
        return None if self.days is None else self.days > 0


def parse_duration(text: str, *, what: str = "a duration") -> float:
    """Seconds in ``30s``, ``15m``, ``2h``, ``1d`` or ``1d12h`` (``0`` is zero)."""
    text = str(text).strip().lower()
    if text == "0":
        return 0.0
    matches = list(_DURATION.finditer(text))
    if not matches or "".join(m.group(0) for m in matches) != text.replace(" ", ""):
        raise LateError(f"{what} must look like 15m, 2h or 1d, not {text!r}")
    return sum(float(m.group(1)) * _UNIT_SECONDS[m.group(2)] for m in matches)


def format_duration(seconds: float) -> str:
    """A duration as ``parse_duration`` reads it (``15m``, ``1d2h``)."""
    seconds = int(round(seconds))
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_lateness(seconds: float) -> str:
    """Time late as ``H:MM:SS`` (as Gradescope's exports show it); ``0:00:00`` when on time."""
    seconds = max(0, int(math.ceil(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def parse_due(value: object, *, what: str = "the due date") -> datetime:
    """A due date with its time zone: ``2026-12-10T23:59-08:00`` (or a TOML datetime)."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise LateError(
                f"{what} must be a date and time such as 2026-12-10T23:59-08:00, not {text!r}"
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LateError(
            f"{what} needs its time zone (2026-12-10T23:59-08:00, or Z for UTC), not "
            f"{moment.isoformat()}"
        )
    return moment


def parse_policy(text: str) -> LatePolicy:
    """Read ``grace=15m,per-day=10%,max-days=3`` (every key optional, none twice)."""
    values: dict[str, str] = {}
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise LateError(f"late policy: {item!r} must be key=value, e.g. per-day=10%")
        if key not in POLICY_KEYS:
            raise LateError(
                f"late policy: unknown key {key!r}; the keys are {', '.join(POLICY_KEYS)}"
            )
        if key in values:
            raise LateError(f"late policy: {key} is given twice")
        values[key] = value.strip()
    return policy_from_values(values, where="late policy")


def policy_from_values(values: dict, *, where: str) -> LatePolicy:
    """A policy from its keys' values (strings, or numbers as TOML gives them)."""
    grace = parse_duration(values.get("grace", "0"), what=f"{where}: grace")
    per_day = _percentage(values.get("per-day", "0%"), where=where)
    max_days = values.get("max-days")
    if max_days is not None:
        text = str(max_days).strip()
        if isinstance(max_days, bool) or not text.isdigit():
            raise LateError(f"{where}: max-days must be a whole number of days, not {text!r}")
        max_days = int(text)
    return LatePolicy(grace_seconds=grace, per_day=per_day, max_days=max_days)


def _percentage(value: object, *, where: str) -> float:
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
    if not match or float(match.group(1)) > 100:
        raise LateError(f"{where}: per-day must be a percentage from 0% to 100%, such as 10%")
    return float(match.group(1)) / 100


def parse_extension(value: str, *, due: datetime, what: str) -> datetime:
    """A student's own due date: ``due`` plus a duration (``2d``), or a date and time."""
    text = str(value).strip()
    if not text:
        return due
    try:
        return due + timedelta(seconds=parse_duration(text, what=what))
    except LateError:
        pass
    try:
        return parse_due(text, what=what)
    except LateError:
        raise LateError(
            f"{what} must be a duration added to the due date (2d, 36h) or the student's own "
            f"due date (2026-12-12T23:59-08:00), not {text!r}"
        ) from None


def check_extension(value: str, *, what: str) -> None:
    """Raise LateError unless ``value`` is an extension ``parse_extension`` reads."""
    parse_extension(value, due=datetime.fromisoformat("2000-01-01T00:00+00:00"), what=what)


def lateness(
    *,
    due: datetime,
    policy: LatePolicy,
    submitted_at: datetime | None,
    time_source: str = "",
    late_marker: bool = False,
) -> Lateness:
    """How late a submission was under ``policy`` (``due`` already holds any extension)."""
    if submitted_at is None:
        if time_source == "canvas" and not late_marker:
            # Canvas names late work _late_; without the marker it was on time by Canvas's clock.
            return Lateness(due, None, 0.0, 0, 0.0, "on time (Canvas marks no lateness)")
        if late_marker:
            note = (
                "Canvas marks it late, but its download name holds no time: no penalty "
                "was applied (give its time, or adjust the total by hand)"
            )
        else:
            note = "its submission time is unknown: no penalty was applied"
        return Lateness(due, None, None, None, None, note)
    seconds = (submitted_at - due).total_seconds()
    if seconds <= policy.grace_seconds:
        note = "" if seconds <= 0 else "within the grace period"
        return Lateness(due, submitted_at, max(seconds, 0.0), 0, 0.0, note)
    days = int(math.ceil(seconds / DAY))
    if policy.max_days is not None and days > policy.max_days:
        note = f"more than {policy.max_days} days late: not accepted (a penalty of 100%)"
        return Lateness(due, submitted_at, seconds, days, 1.0, note)
    fraction = min(1.0, days * policy.per_day)
    note = f"{days} day{'s' if days != 1 else ''} late: a penalty of {fraction * 100:g}%"
    return Lateness(due, submitted_at, seconds, days, fraction, note)


def parse_submitted_at(value: object) -> datetime | None:
    """A stored submission time (ISO 8601 with offset), or None if there is none or it is bad."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
