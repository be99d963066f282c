"""Each question's answer in a notebook, read as data: the text that is compared, with notes.

**Autograded questions** (kind ``code``). A question's block is the code cells after its prompt
and up to its check cell: the prompt is the markdown cell that names it in backticks, as the
handed-out notebook does (``**Question (`q_z`).**``), and the check cell is the code cell that
calls ``grader.check("q_z")``. So that a student who added, deleted or moved cells still gets
the right block:

- the prompt is the cell whose text is the handed-out prompt's, else the first markdown cell
  matching ``Question (`q_z`)``; the block ends at the first check cell of the question after
  it, or else before the next cell that starts or checks another question (or holds a written
  question's marker), with a note;
- without a prompt, the block runs back from the check cell to the previous such cell, with a
  note; with neither, there is no answer, and a note says so.

Every code cell of the block counts, whatever its tags (a student may add cells); the
handed-out code in it is left out later, k-gram by k-gram. Markdown cells in the block do not.

**Written questions** (kind ``text``). The answer is the text of the cells between the
question's ``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` markers, as
:func:`labkit.gradebook.written.find_regions` finds them; the untouched placeholder is no answer.

Nothing is run. Every size is capped (cells per block, characters per cell and per answer), and
text that is not valid Unicode (lone surrogates) is replaced, so that it can be written out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from labkit.gradebook.written import (
    BEGIN_MARKER,
    END_MARKER,
    MAX_CELLS,
    MAX_SOURCE_CHARS,
    PLACEHOLDER,
    WrittenQuestion,
    find_regions,
    marker_notes,
)
from labkit.similarity.tokens import inline_code

CODE, TEXT = "code", "text"
MAX_ANSWER_CHARS = 50_000  # of one question's answer, all its cells together
CELL_SEPARATOR = "\n\n"
_CHECK = re.compile(r"""grader\s*\.\s*check\s*\(\s*(['"])([^'"\n]{1,200})\1\s*\)""")


@dataclass(frozen=True)
class Question:
    """A question to compare: its name and kind (``code`` or ``text``)."""

    name: str
    kind: str


@dataclass
class Answer:
    """One submission's answer to one question, as compared, and what was odd about it."""

    text: str = ""
    notes: list[str] = field(default_factory=list)
    found: bool = True  # False: no block (no prompt nor check cell) or no marker in the notebook


def cell_source(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a list of lines), valid Unicode.

    At most one character more than ``MAX_SOURCE_CHARS`` is kept, so that a cut can be noted.
    """
    value = cell.get("source", "")
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    return value[: MAX_SOURCE_CHARS + 1].encode("utf-8", "replace").decode("utf-8")


def _prompt_pattern(name: str) -> re.Pattern:
    return re.compile(r"question\s*\(\s*`" + re.escape(name) + "`", re.IGNORECASE)


def prompts_of(cells: list[dict], names: list[str]) -> dict[str, str]:
    """The prompt cell's text of each autograded question in a (handed-out) notebook."""
    found = {}
    for name in names:
        pattern = _prompt_pattern(name)
        for cell in cells:
            source = cell_source(cell)
            if cell.get("cell_type") == "markdown" and pattern.search(source):
                found[name] = source.strip()
                break
    return found


def extract_answers(
    cells: list[dict],
    questions: list[Question],
    *,
    written: list[WrittenQuestion],
    prompts: dict[str, str],
) -> dict[str, Answer]:
    """Every question's answer in a notebook's cells (see the module docstring)."""
    code_names = [q.name for q in questions if q.kind == CODE]
    layout = _Layout(cells, code_names, prompts)
    answers = {}
    for question in questions:
        if question.kind == CODE:
            answers[question.name] = layout.block(question.name)
    regions = find_regions(cells, written)
    for question in questions:
        if question.kind == TEXT:
            answers[question.name] = _written_answer(question.name, regions.get(question.name, []))
    return answers


class _Layout:
    """Where each autograded question's prompt and check cells are in one notebook."""

    def __init__(self, cells: list[dict], names: list[str], prompts: dict[str, str]):
        self.cells = cells
        self.sources = [cell_source(c) for c in cells]
        kinds = [c.get("cell_type") for c in cells]
        self.checks = [
            {m.group(2) for m in _CHECK.finditer(s)} if kind == "code" else set()
            for s, kind in zip(self.sources, kinds, strict=True)
        ]
        self.prompts: list[set[str]] = [set() for _ in cells]
        for name in names:
            for index in self._prompt_cells(name, prompts.get(name), kinds):
                self.prompts[index].add(name)
        self.markers = [BEGIN_MARKER in s or END_MARKER in s for s in self.sources]

    def _prompt_cells(self, name: str, given: str | None, kinds: list) -> list[int]:
        markdown = [i for i, kind in enumerate(kinds) if kind == "markdown"]
        exact = [i for i in markdown if given and self.sources[i].strip() == given]
        pattern = _prompt_pattern(name)
        return exact[:1] or [i for i in markdown if pattern.search(self.sources[i])][:1]

    def _boundary(self, index: int, name: str) -> bool:
        """Whether a cell starts or checks a question other than ``name``."""
        others = (self.prompts[index] | self.checks[index]) - {name}
        return bool(others) or self.markers[index]

    def block(self, name: str) -> Answer:
        notes: list[str] = []
        start = next((i for i, names in enumerate(self.prompts) if name in names), None)
        if start is not None:
            end, included = self._forward(start, name, notes)
        else:
            check = next((i for i, names in enumerate(self.checks) if name in names), None)
            if check is None:
                notes.append(f'neither the prompt nor grader.check("{name}") was found')
                return Answer("", notes, found=False)
            notes.append(
                "the question's prompt cell was not found: the block runs back from "
                "its grader.check cell"
            )
            start = check - 1
            while start >= 0 and not self._boundary(start, name):
                start -= 1
            end, included = check, True
        indices = [i for i in range(start + 1, end + (1 if included else 0))]
        return _joined([self.sources[i] for i in indices if self._is_code(i)], notes)

    def _forward(self, start: int, name: str, notes: list[str]) -> tuple[int, bool]:
        for index in range(start + 1, len(self.cells)):
            if name in self.checks[index]:
                return index, True
            if self._boundary(index, name):
                notes.append(
                    f'no grader.check("{name}") cell after the prompt: the block '
                    "ends where the next question starts"
                )
                return index, False
        notes.append(
            f'no grader.check("{name}") cell after the prompt: the block runs to the '
            "end of the notebook"
        )
        return len(self.cells), False

    def _is_code(self, index: int) -> bool:
        return self.cells[index].get("cell_type") == "code"


def _joined(sources: list[str], notes: list[str]) -> Answer:
    if len(sources) > MAX_CELLS:
        notes.append(f"more than {MAX_CELLS} cells: the rest are left out")
        sources = sources[:MAX_CELLS]
    if any(len(s) > MAX_SOURCE_CHARS for s in sources):
        notes.append(f"a cell is cut to its first {MAX_SOURCE_CHARS} characters")
        sources = [s[:MAX_SOURCE_CHARS] for s in sources]
    text = CELL_SEPARATOR.join(s for s in sources if s.strip())
    if len(text) > MAX_ANSWER_CHARS:
        notes.append(f"the answer is cut to its first {MAX_ANSWER_CHARS} characters")
        text = text[:MAX_ANSWER_CHARS]
    return Answer(text, notes)


def _written_answer(name: str, regions: list) -> Answer:
    notes = marker_notes(regions)
    sources = [cell_source(c) for region in regions for c in region.cells]
    sources = [s for s in sources if s.strip() not in ("", PLACEHOLDER)]
    answer = _joined(sources, notes)
    answer.found = bool(regions)
    return answer


@dataclass
class HandedOut:
    """What the lab handed out, as snippets: code (cells, code in prompts) and prose."""

    code: list[str]
    text: list[str]
    prompts: dict[str, str]


def handed_out(cells: list[dict], code_names: list[str]) -> HandedOut:
    """The handed-out notebook's code (its code cells, each question's block as a student's
    untouched one reads, the code its markdown shows) and its markdown."""
    code, text = [], [PLACEHOLDER]
    for cell in cells:
        source = cell_source(cell)
        if cell.get("cell_type") == "code":
            code.append(source)
        elif cell.get("cell_type") == "markdown":
            text.append(source)
            code += inline_code(source)
    prompts = prompts_of(cells, code_names)
    layout = _Layout(cells, code_names, prompts)
    code += [layout.block(name).text for name in code_names]
    return HandedOut(code=code, text=text, prompts=prompts)
