"""Written (hand-graded) answers: which questions there are, and what a notebook answers to them.

A written question's answer lives between two locked markdown cells, ``<!-- BEGIN QUESTION -->``
(which also holds the prompt) and ``<!-- END QUESTION -->``. Everything here reads the notebook
file as data: no cell is run, no output is interpreted, and every size is capped, because a
submitted notebook is hostile input (markers deleted, duplicated or forged, outputs of gigabytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass, field

import nbformat

# The written questions, as the autograder zip carries them and the graded folder keeps them.
QUESTIONS_NAME = "written_questions.json"
BEGIN_MARKER = "<!-- BEGIN QUESTION -->"
END_MARKER = "<!-- END QUESTION -->"
PLACEHOLDER = "_Type your answer here, replacing this text._"
SOLUTION_TAG = "otter_assign_solution_cell"

# Limits on what is kept of one answer; beyond them the rest is left out and a note says so.
MAX_CELLS = 20
MAX_SOURCE_CHARS = 20_000
MAX_TEXT_CHARS = 20_000
MAX_IMAGE_CHARS = 2_000_000  # base64 characters of one image (about 1.5 MB of PNG)
MAX_OUTPUTS = 20
MAX_ATTACHMENTS = 10
MAX_ANSWER_CHARS = 6_000_000  # everything kept of one question's answer
MAX_NAME_CHARS = 200

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")


@dataclass(frozen=True)
class WrittenQuestion:
    """A hand-graded question: its name, points, prompt (markdown) and reference answer cells."""

    name: str
    points: float
    prompt: str
    reference: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The question as ``written_questions.json`` holds it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> WrittenQuestion:
        """Read one entry of ``written_questions.json``; raise ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a question must be an object")
        name, points = data.get("name"), data.get("points")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a question's name must be a non-empty string, not {name!r}")
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise ValueError(f"{name}: points must be a number >= 0, not {points!r}")
        prompt, reference = data.get("prompt", ""), data.get("reference", [])
        if not isinstance(prompt, str):
            raise ValueError(f"{name}: the prompt must be a string")
        if not isinstance(reference, list) or not all(isinstance(c, dict) for c in reference):
            raise ValueError(f"{name}: the reference must be a list of cells")
        return cls(name=name, points=float(points), prompt=prompt, reference=reference)


def questions_to_json(questions: list[WrittenQuestion]) -> str:
    """``written_questions.json``: the questions in notebook order, same input same bytes."""
    return json.dumps({"questions": [q.to_dict() for q in questions]}, indent=1, sort_keys=True)


def questions_from_json(text: str | bytes) -> list[WrittenQuestion]:
    """Parse ``written_questions.json``; raise ValueError naming the problem."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ValueError('expected an object with a "questions" list')
    questions = [WrittenQuestion.from_dict(entry) for entry in data["questions"]]
    names = [q.name for q in questions]
    if len(set(names)) != len(names):
        raise ValueError(f"a question is listed twice: {names}")
    return questions


def answer_fingerprint(cells: list[dict]) -> str:
    """The sha256 of the canonical JSON of answer cells: equal answers, equal fingerprints."""
    canonical = json.dumps(cells, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_empty(cells: list[dict]) -> bool:
    """Whether answer cells hold nothing but the untouched placeholder or whitespace."""
    for cell in cells:
        if cell["cell_type"] == "markdown":
            if cell["source"].strip() not in ("", PLACEHOLDER) or cell["attachments"]:
                return False
        elif cell["source"].strip() or cell["outputs"]:
            return False
    return True


def prompt_of(marker_source: str) -> str:
    """The question text of a start-marker cell, without the marker."""
    return marker_source.replace(BEGIN_MARKER, "", 1).strip()


# --- finding the answers in a notebook ------------------------------------------------------------


def extract_answers(notebook: bytes | str, questions: list[WrittenQuestion]) -> dict[str, dict]:
    """Each written question's answer in a submitted notebook, read as data.

    Returns ``{question: {"cells", "fingerprint", "empty", "notes"}}`` for every question.
    ``notes`` (for the TA) say what was odd: a start marker missing or repeated, an end marker
    missing, something left out for its size. A notebook that cannot be read at all gives every
    question an empty answer with a note, never an exception.
    """
    try:
        cells = notebook_cells(notebook)
        return {
            q.name: answer for q, answer in zip(questions, _answers(cells, questions), strict=True)
        }
    except Exception as exc:  # any reader error: the answers are then simply not found
        note = f"the notebook could not be read ({type(exc).__name__})"
        return {q.name: _answer([], [note]) for q in questions}


def _answers(cells: list, questions: list[WrittenQuestion]) -> list[dict]:
    regions = find_regions(cells, questions)
    answers = []
    for question in questions:
        found = regions.get(question.name, [])
        notes = marker_notes(found)
        budget = _Budget(MAX_ANSWER_CHARS)
        kept: list[dict] = []
        for region in found:
            for cell in region.cells:
                if len(kept) == MAX_CELLS:
                    notes.append(f"more than {MAX_CELLS} cells: the rest are left out")
                    break
                kept.append(answer_cell(cell, budget, notes))
        answers.append(_answer(kept, notes))
    return answers


def marker_notes(regions: list[Region]) -> list[str]:
    """Notes for the TA on a question's regions: a start marker missing or repeated (all the
    regions' cells are kept, in order), and each region's own notes."""
    notes = []
    if not regions:
        notes.append("no start marker for this question was found in the notebook")
    elif len(regions) > 1:
        notes.append(
            f"the question's start marker appears {len(regions)} times; "
            "the answers under each are kept, in order"
        )
    return notes + [note for region in regions for note in region.notes]


def notebook_cells(notebook: bytes | str) -> list[dict]:
    """The cells of a notebook file, as plain dicts (raises if it is not a notebook).

    A version 4 notebook is read as JSON, not through nbformat, so that a cell of a broken
    shape costs only that cell; older versions are converted by nbformat.
    """
    text = notebook if isinstance(notebook, str) else notebook.decode("utf-8")
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("cells"), list):
        return [cell for cell in data["cells"] if isinstance(cell, dict)]
    return list(nbformat.reads(text, as_version=4).cells)


def reference_cells(notebook: bytes | str, question: WrittenQuestion) -> list[dict]:
    """The reference answer of a question in the solutions notebook: its solution cells."""
    regions = find_regions(notebook_cells(notebook), [question]).get(question.name, [])
    cells = [c for region in regions for c in region.cells]
    solutions = [c for c in cells if SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]
    budget = _Budget(MAX_ANSWER_CHARS)
    return [answer_cell(c, budget, []) for c in solutions or cells]


@dataclass
class Region:
    """The cells between one start marker of a question and its end."""

    cells: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_regions(cells: list, questions: list[WrittenQuestion]) -> dict[str, list[Region]]:
    """The regions of each question, in notebook order.

    A start marker belongs to the question whose prompt it holds, or else to the first question
    it names in backticks; a marker that names none is ignored (a student may type the marker's
    text). A region ends at the next end marker, at the next question's start, or after
    ``MAX_CELLS`` cells.
    """
    regions: dict[str, list[Region]] = {}
    current: Region | None = None
    for cell in cells:
        source = _text(cell.get("source", ""))
        owner = _question_of_marker(source, questions) if BEGIN_MARKER in source else None
        if current is not None and (owner is not None or END_MARKER in source):
            current = None
        if owner is not None:
            current = Region()
            regions.setdefault(owner, []).append(current)
            continue
        if current is None or END_MARKER in source:
            continue
        if len(current.cells) == MAX_CELLS:
            current.notes.append(
                f"the question's end marker was not found within {MAX_CELLS} cells of its start"
            )
            current = None
            continue
        current.cells.append(cell)
    return regions


def _question_of_marker(source: str, questions: list[WrittenQuestion]) -> str | None:
    prompt = prompt_of(source)
    for question in questions:
        if question.prompt and prompt == question.prompt:
            return question.name
    named = [(source.find(f"`{q.name}`"), q.name) for q in questions]
    named = [(at, name) for at, name in named if at >= 0]
    return min(named)[1] if named else None


def _answer(cells: list[dict], notes: list[str]) -> dict:
    return {
        "cells": cells,
        "fingerprint": answer_fingerprint(cells),
        "empty": is_empty(cells),
        "notes": notes,
    }


class _Budget:
    """Characters an answer may still keep, shared by all its cells."""

    def __init__(self, chars: int):
        self.left = chars

    def take(self, text: str) -> bool:
        if len(text) > self.left:
            return False
        self.left -= len(text)
        return True


def answer_cell(cell, budget: _Budget, notes: list[str]) -> dict:
    """One notebook cell as an answer cell (see the review contract), sizes capped."""
    source = _capped_text(_text(cell.get("source", "")), MAX_SOURCE_CHARS, "a cell's text", notes)
    if not budget.take(source):
        notes.append("the answer is too large: a cell's text is left out")
        source = ""
    if cell.get("cell_type") == "code":
        return {"cell_type": "code", "source": source, "outputs": _outputs(cell, budget, notes)}
    return {
        "cell_type": "markdown",
        "source": source,
        "attachments": _attachments(cell, budget, notes),
    }


def _attachments(cell, budget: _Budget, notes: list[str]) -> dict:
    attachments = cell.get("attachments") if cell.get("cell_type") == "markdown" else None
    if not isinstance(attachments, dict):
        return {}
    kept = {}
    for filename, bundle in list(attachments.items())[:MAX_ATTACHMENTS]:
        if not isinstance(filename, str) or not isinstance(bundle, dict):
            continue
        images = {
            mime: value
            for mime, value in bundle.items()
            if mime in _IMAGE_MIMES and _image_ok(value, budget, notes)
        }
        if images:
            kept[filename[:MAX_NAME_CHARS]] = images
    if len(attachments) > MAX_ATTACHMENTS:
        notes.append(f"more than {MAX_ATTACHMENTS} attachments in a cell: the rest are left out")
    return kept


def _outputs(cell, budget: _Budget, notes: list[str]) -> list[dict]:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return []
    if len(outputs) > MAX_OUTPUTS:
        notes.append(f"more than {MAX_OUTPUTS} outputs in a cell: the rest are left out")
    kept = []
    for output in outputs[:MAX_OUTPUTS]:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream":
            text = _capped_text(_text(output.get("text", "")), MAX_TEXT_CHARS, "an output", notes)
            if budget.take(text):
                name = "stderr" if output.get("name") == "stderr" else "stdout"
                kept.append({"output_type": "stream", "name": name, "text": text})
        elif kind in ("display_data", "execute_result"):
            data = _mime_bundle(output.get("data"), budget, notes)
            if data:
                kept.append({"output_type": kind, "data": data})
        elif kind == "error":
            lines = output.get("traceback")
            text = "\n".join(_text(line) for line in lines) if isinstance(lines, list) else ""
            kept.append(
                {
                    "output_type": "error",
                    "ename": _text(output.get("ename", ""))[:MAX_NAME_CHARS],
                    "evalue": _capped_text(_text(output.get("evalue", "")), 2000, "", []),
                    "traceback": [_capped_text(text, MAX_TEXT_CHARS, "a traceback", notes)],
                }
            )
    return kept


def _mime_bundle(data, budget: _Budget, notes: list[str]) -> dict:
    if not isinstance(data, dict):
        return {}
    kept = {}
    for mime, value in data.items():
        if not isinstance(mime, str) or len(mime) > MAX_NAME_CHARS:
            continue
        if mime in _IMAGE_MIMES:
            if _image_ok(value, budget, notes):
                kept[mime] = value
            continue
        text = value if isinstance(value, str) else _text(value)
        if not isinstance(value, str | list):
            text = json.dumps(value, sort_keys=True)[: MAX_TEXT_CHARS + 1]
        text = _capped_text(text, MAX_TEXT_CHARS, f"an output ({mime[:40]})", notes)
        if budget.take(text):
            kept[mime] = text
    return kept


def _image_ok(value, budget: _Budget, notes: list[str]) -> bool:
    """Whether an image is kept: base64 text within the limits."""
    if not isinstance(value, str):
        return False
    if len(value) > MAX_IMAGE_CHARS:
        notes.append(f"an image of {len(value) * 3 // 4 // 1000} kB is left out (over the limit)")
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        notes.append("an image that is not valid base64 is left out")
        return False
    if not budget.take(value):
        notes.append("the answer is too large: an image is left out")
        return False
    return True


def _capped_text(text: str, limit: int, what: str, notes: list[str]) -> str:
    if len(text) <= limit:
        return text
    if what:
        notes.append(f"{what} of {len(text)} characters is cut to its first {limit}")
    return text[:limit] + "\n[... cut]"


def _text(value) -> str:
    """A notebook string field, which nbformat allows as a list of lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""
