"""What a similarity report reads: the submissions, their times, the questions, the handed-out
notebook.

Submissions are found as ``labkit grade`` finds them (``labkit.intake``): a notebook, a
zip made by the export cell (only the notebook at its top, the one ``otter run`` grades, is
read; nothing is extracted), or a folder of Gradescope's bulk export. A submission that cannot
be read gets a note, never an error: only a problem with the run itself (a path that does not
exist, an unreadable handed-out notebook or question list) stops it, as a SimilarityError that
names the file.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from labkit import intake
from labkit.gradebook.folder import GRADEBOOK_NAME
from labkit.gradebook.written import (
    QUESTIONS_NAME,
    WrittenQuestion,
    notebook_cells,
    questions_from_json,
)

MAX_NOTEBOOK_BYTES = 100 * 1024 * 1024
_NOT_QUESTIONS = {"submission", "name", "email", "sid", "written_graded", "total", "max_total"}
_NOT_QUESTIONS |= {"status", "message"}


class SimilarityError(Exception):
    """A problem with the run itself, naming the file; no report was written."""


@dataclass
class Submitted:
    """One submission: where it is (or its cells, given in memory), its time, what was noted."""

    name: str
    path: Path | None = None
    cells: list[dict] | None = None  # given in memory; otherwise read from ``path`` when needed
    notebook: str | None = None  # the notebook's file name (inside a zip or folder)
    submitted_at: str | None = None
    notes: list[str] = field(default_factory=list)
    read: bool = False  # whether its notebook could be read

    def load(self) -> list[dict] | None:
        """The notebook's cells, read now (given ones first); None, with a note, if it cannot
        be read. Nothing is kept: each notebook is read when its answers are extracted."""
        cells, self.cells = self.cells, None
        if cells is None and self.path is not None:
            try:
                self.notebook, data = _notebook_bytes(self.path)
                cells = read_cells(data, self.notes)
            except intake.InvalidSubmission as exc:
                self.notes.append(str(exc))
            except OSError as exc:
                self.notes.append(
                    f"the file could not be read ({exc.strerror or type(exc).__name__})"
                )
        self.read = cells is not None
        return cells


@dataclass(frozen=True)
class QuestionList:
    """The questions to compare, and where their names came from."""

    autograded: list[str]
    written: list[WrittenQuestion]
    source: str


def find_submissions(paths: list[Path]) -> list[Submitted]:
    """Every submission under ``paths`` (files, or folders of them), sorted by name, with its
    time when Gradescope's metadata gives one; nothing is read yet (see ``Submitted.load``)."""
    try:
        found = intake.find_submissions([Path(p) for p in paths])
    except intake.GradingError as exc:
        raise SimilarityError(str(exc)) from None
    return [Submitted(s.name, path=s.path, submitted_at=s.submitted.at or None) for s in found]


def _notebook_bytes(path: Path) -> tuple[str, bytes]:
    """The submitted notebook's name and bytes (``intake.read_notebook``'s rules, without its
    full validation, which costs more than everything else here)."""
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.suffix in (".ipynb", ".zip"))
        if len(candidates) != 1:
            raise intake.InvalidSubmission(
                f"expected one .ipynb or .zip in the folder, found {len(candidates)}"
            )
        return _notebook_bytes(candidates[0])
    if path.suffix == ".zip":
        return intake.notebook_from_zip(path)  # the one notebook otter run would grade
    if path.suffix != ".ipynb":
        raise intake.InvalidSubmission(f"not a notebook (.ipynb) or an exported .zip: {path.name}")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise intake.InvalidSubmission(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: not read")
    return path.name, path.read_bytes()


def read_cells(data: bytes, notes: list[str]) -> list[dict]:
    """A notebook's cells, read as data; raise InvalidSubmission saying why it is not one."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise intake.InvalidSubmission(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: not read")
    if not data.strip():
        raise intake.InvalidSubmission("empty notebook file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        notes.append("the file is not valid UTF-8: bytes that are not were replaced")
    try:
        return notebook_cells(text)
    except Exception as exc:  # JSON and nbformat's reader errors alike
        problem = " ".join(str(exc).split())[:200]
        raise intake.InvalidSubmission(f"not a notebook ({problem})") from None


def read_template(path: Path) -> tuple[list[dict], str]:
    """The handed-out notebook's cells and the sha256 of its file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return read_cells(data, []), hashlib.sha256(data).hexdigest()
    except OSError as exc:
        raise SimilarityError(
            f"{path}: the handed-out notebook cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    except intake.InvalidSubmission as exc:
        raise SimilarityError(f"{path}: the handed-out notebook is {exc}") from None


def questions_from_autograder(path: Path) -> QuestionList:
    """The questions of an autograder zip: ``tests/*.py`` (autograded) and
    ``written_questions.json`` (written)."""
    try:
        grader = intake.Autograder.load(Path(path))
    except intake.GradingError as exc:
        raise SimilarityError(str(exc)) from None
    return QuestionList(sorted(grader.points), grader.written, f"autograder zip {Path(path).name}")


def questions_from_graded(folder: Path) -> QuestionList:
    """The questions of a folder ``labkit grade`` wrote: its gradebook's question columns and
    its ``written_questions.json``."""
    folder = Path(folder)
    gradebook, listing = folder / GRADEBOOK_NAME, folder / QUESTIONS_NAME
    if not gradebook.is_file():
        raise SimilarityError(
            f"{gradebook}: not found; grade into {folder} first (labkit grade), "
            "or name the autograder zip with -a"
        )
    try:
        with open(gradebook, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        written = questions_from_json(listing.read_bytes()) if listing.is_file() else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SimilarityError(f"{gradebook}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise SimilarityError(f"{listing}: {exc}") from None
    if not header or header[0] != "submission":
        raise SimilarityError(f"{gradebook}: not a gradebook written by labkit grade")
    skip = _NOT_QUESTIONS | {q.name for q in written}
    autograded = [column for column in header if column not in skip]
    source = f"{folder.name}/{GRADEBOOK_NAME} and {folder.name}/{QUESTIONS_NAME}"
    return QuestionList(autograded, written, source)
