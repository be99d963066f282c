"""When each submission was handed in, from what the LMS wrote, never from a guess.

- Gradescope's bulk export: ``:created_at:`` of each folder in ``submission_metadata.yml``;
- Canvas's "Download Submissions" names: no time, but ``_late_`` after the student's name marks
  work Canvas counted late (``labkit.gradebook.roster.parse_canvas_name``);
- the file's modification time only when the TA asks for it (``--time-from-mtime``): copying or
  unzipping changes it.

A submission with none of these has no time, and the late policy says so instead of guessing.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labkit.gradebook.late import parse_submitted_at
from labkit.gradebook.roster import clean_text, parse_canvas_name


@dataclass(frozen=True)
class SubmittedAt:
    """When a submission was handed in (``at``: ISO 8601 with offset, "" if unknown), where that
    came from, and whether the LMS marked it late."""

    at: str = ""
    source: str = ""
    late_marker: bool = False


def gradescope_time(details: dict) -> str:
    """The ``:created_at:`` of a folder's metadata as ISO 8601 ("" if absent or unreadable)."""
    value = details.get(":created_at", details.get("created_at"))
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is not None else ""
    if isinstance(value, str):
        text = value.strip()
        # Ruby's Time as YAML: "2026-12-10 23:58:01.123456000 -08:00"
        parts = text.split()
        if len(parts) == 3:
            text = f"{parts[0]}T{parts[1][:15]}{parts[2]}"
        moment = parse_submitted_at(text)
        return moment.isoformat() if moment else ""
    return ""


def canvas_students(name: str) -> list[dict]:
    """The student a Canvas download name names (its "lastfirst" and user id), else none."""
    canvas = parse_canvas_name(name)
    if canvas is None:
        return []
    return [{"name": clean_text(canvas.name), "canvas_id": canvas.user_id}]


def is_canvas_download(path: Path) -> bool:
    """Whether ``path`` is Canvas's bulk download (a zip of files all named the Canvas way),
    not one student's submission; only the names are read."""
    if path.suffix != ".zip":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(
        "/" not in name and parse_canvas_name(name) is not None for name in names
    )


def submitted_at(path: Path, *, gradescope: str = "", from_mtime: bool = False) -> SubmittedAt:
    """When the submission at ``path`` was handed in, as far as anyone wrote it down."""
    if gradescope:
        return SubmittedAt(gradescope, "gradescope")
    canvas = parse_canvas_name(path.name)
    if canvas is not None:
        return SubmittedAt("", "canvas", canvas.late)
    if from_mtime:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return SubmittedAt(stamp.isoformat(timespec="seconds"), "mtime")
    return SubmittedAt()
