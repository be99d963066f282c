"""The course roster, and which student handed in which submission.

``--roster roster.csv`` lists the students: columns ``name``, ``email`` and ``sid``, and
optionally ``section``, ``canvas_id``, ``login`` and ``extension`` (a student's own due date:
``2d`` more, or a date and time; see ``labkit.gradebook.late``). ``join`` matches each
submission to its students by, in turn:

1. the submitters Gradescope's metadata names (their email, or else their SID);
2. a Canvas "Download Submissions" name, ``lastfirst_<userid>_<subid>_<file>`` (``_late_``
   after the name marks late work): its user id is the roster's ``canvas_id``;
3. a file-name pattern (``--name-pattern "{login}_*"``): one field of the roster in braces,
   ``*`` for anything, matched against the whole submission name.

Submissions that match no one and students without a submission are listed, never guessed.
Every value read from a file name is hostile input: capped, control characters removed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.gradebook.csvcells import TableError, read_table, unguard
from labkit.gradebook.late import LateError, check_extension

REQUIRED_COLUMNS = ("name", "email", "sid")
OPTIONAL_COLUMNS = ("section", "canvas_id", "login", "extension")
KEY_FIELDS = ("email", "sid", "canvas_id", "login")
MAX_FIELD_CHARS = 200
_CANVAS_NAME = re.compile(
    r"(?P<name>[^_]+)_(?:(?P<late>late)_)?(?P<user>\d{1,20})_(?P<sub>\d{1,20})_(?P<file>.+)",
    re.IGNORECASE,
)


class RosterError(ValueError):
    """A roster or name pattern that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class Student:
    """One student of the roster."""

    name: str
    email: str = ""
    sid: str = ""
    section: str = ""
    canvas_id: str = ""
    login: str = ""
    extension: str = ""

    def key(self, field_name: str) -> str:
        """The value of an identifying field, compared without case for emails and logins."""
        value = getattr(self, field_name)
        return value.casefold() if field_name in ("email", "login") else value

    @property
    def label(self) -> str:
        """Who this is, for lists printed to the TA."""
        return self.name or self.email or self.sid

    def as_submitter(self) -> dict:
        """The student as the reports list submitters (name, email, sid)."""
        return {"name": self.name, "email": self.email, "sid": self.sid}


@dataclass(frozen=True)
class Roster:
    """The students of the course, and the file they came from."""

    students: tuple[Student, ...]
    source: str = ""

    def to_json(self) -> str:
        """The roster as the graded folder keeps it (``roster.json``)."""
        data = {"source": self.source, "students": [asdict(s) for s in self.students]}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Roster:
        """Read back ``to_json`` (raises RosterError)."""
        try:
            data = json.loads(text)
            students = tuple(Student(**entry) for entry in data["students"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RosterError(f"not a roster written by labkit ({exc})") from None
        return cls(students=students, source=str(data.get("source", "")))


@dataclass(frozen=True)
class CanvasName:
    """What a Canvas "Download Submissions" file name says."""

    name: str  # the student's name, lower case, without spaces ("lastfirst")
    user_id: str
    submission_id: str
    late: bool
    file: str


@dataclass
class Join:
    """Which students handed in which submission."""

    students: dict[str, list[Student]] = field(default_factory=dict)  # by submission
    unmatched: list[str] = field(default_factory=list)  # submissions that match no one
    missing: list[Student] = field(default_factory=list)  # students with no submission
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # student -> submissions


def clean_text(value: object, *, limit: int = MAX_FIELD_CHARS) -> str:
    """A value as plain text: control characters dropped, whitespace folded, length capped."""
    text = "" if value is None else str(value)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c in " \t")
    return " ".join(text.split())[:limit]


def parse_canvas_name(name: str) -> CanvasName | None:
    """The parts of a Canvas download name, or None if ``name`` is not one."""
    match = _CANVAS_NAME.fullmatch(name)
    if match is None:
        return None
    return CanvasName(
        name=clean_text(match.group("name"), limit=100),
        user_id=match.group("user"),
        submission_id=match.group("sub"),
        late=match.group("late") is not None,
        file=clean_text(match.group("file")),
    )


def read_roster(path: Path) -> Roster:
    """Read and check a roster CSV (``,`` or ``;``); raise RosterError naming the problem."""
    path = Path(path)
    try:
        table = read_table(path)
    except TableError as exc:
        raise RosterError(str(exc)) from None
    if not table:
        raise RosterError(
            f"{path}: empty; row 1 must name the columns {', '.join(REQUIRED_COLUMNS)}"
        )
    header = [cell.strip().casefold() for cell in table[0]]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise RosterError(
            f"{path}: row 1 lacks the column(s) {', '.join(missing)} (it has "
            f"{', '.join(h for h in header if h) or 'none'}; needed: name, email, sid; optional: "
            f"{', '.join(OPTIONAL_COLUMNS)})"
        )
    columns = {
        column: header.index(column)
        for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        if column in header
    }
    students, seen = [], {}
    for number, cells in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        values = {
            column: clean_text(unguard(cells[at])) if at < len(cells) else ""
            for column, at in columns.items()
        }
        student = Student(**values)
        where = f"{path}: row {number}"
        if not student.email and not student.sid:
            raise RosterError(f"{where}: a student needs an email or an sid")
        if student.extension:
            try:
                check_extension(student.extension, what=f"{where}: the extension")
            except LateError as exc:
                raise RosterError(str(exc)) from None
        for key in KEY_FIELDS:
            value = student.key(key)
            if value and (key, value) in seen:
                raise RosterError(
                    f"{where}: {key} {getattr(student, key)!r} is on row {seen[key, value]} too"
                )
            if value:
                seen[key, value] = number
        students.append(student)
    return Roster(students=tuple(students), source=path.name)


def compile_pattern(pattern: str) -> tuple[re.Pattern, str]:
    """A ``--name-pattern`` as a regular expression, and the roster field it names."""
    fields = re.findall(r"\{([^{}]*)\}", pattern)
    if len(fields) != 1 or fields[0] not in KEY_FIELDS:
        raise RosterError(
            f"the name pattern {pattern!r} must name one roster field in braces, one of "
            f"{', '.join('{' + f + '}' for f in KEY_FIELDS)}, e.g. '{{login}}_*'"
        )
    before, after = pattern.split("{" + fields[0] + "}")

    def glob(part: str) -> str:
        return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part)

    return re.compile(f"{glob(before)}(?P<key>.+?){glob(after)}", re.IGNORECASE), fields[0]


def join(
    roster: Roster,
    submissions: dict[str, list[dict]],
    *,
    pattern: str | None = None,
) -> Join:
    """Match each submission (name -> the submitters its metadata names) to roster students."""
    index = {
        (key, student.key(key)): student
        for student in roster.students
        for key in KEY_FIELDS
        if student.key(key)
    }
    compiled = compile_pattern(pattern) if pattern else None
    result = Join()
    handed_in: dict[Student, list[str]] = {}
    for name in sorted(submissions):
        found = _match(name, submissions[name], index, compiled)
        if not found:
            result.unmatched.append(name)
            continue
        result.students[name] = found
        for student in found:
            handed_in.setdefault(student, []).append(name)
    result.missing = [s for s in roster.students if s not in handed_in]
    result.conflicts = {
        student.label: names for student, names in handed_in.items() if len(names) > 1
    }
    return result


def _match(name: str, submitters: list[dict], index: dict, compiled) -> list[Student]:
    found: list[Student] = []
    for person in submitters:
        email = str(person.get("email", "")).casefold()
        sid = str(person.get("sid", ""))
        student = index.get(("email", email)) if email else None
        student = student or (index.get(("sid", sid)) if sid else None)
        if student is not None and student not in found:
            found.append(student)
    if found:
        return found
    canvas = parse_canvas_name(name)
    if canvas is not None and ("canvas_id", canvas.user_id) in index:
        return [index["canvas_id", canvas.user_id]]
    if compiled is not None:
        regex, key = compiled
        match = regex.fullmatch(name)
        if match:
            value = match.group("key")
            value = value.casefold() if key in ("email", "login") else value
            student = index.get((key, value))
            if student is not None:
                return [student]
    return []
