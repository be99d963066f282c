"""The student's code for each autograded question, read from the submitted notebook as data.

A question's code is the code cells between its prompt (the markdown cell that names it in
backticks as a question: ``**Question (`q_z`).**``) and its check cell (``grader.check("q_z")``),
or the next question's prompt where the check cell was deleted. Nothing is run and no output is
kept; sizes are capped as for the written answers (``labkit.gradebook.written``), since a
submitted notebook is hostile input. The review app shows the code as escaped text.
"""

from __future__ import annotations

import re

from labkit.gradebook.written import (
    MAX_ANSWER_CHARS,
    MAX_CELLS,
    MAX_SOURCE_CHARS,
    _Budget,
    _capped_text,
    _text,
    notebook_cells,
)

_CHECK = re.compile(r"""grader\.check\(\s*["']([A-Za-z0-9_]+)["']\s*\)""")
_PROMPT = re.compile(r"question[^`\n]{0,40}\(`([A-Za-z0-9_]+)`", re.IGNORECASE)


def extract_code(notebook: bytes | str, questions: list[str]) -> dict[str, dict]:
    """Each autograded question's code cells: ``{question: {"cells", "notes"}}``.

    ``cells`` are ``{"cell_type": "code", "source", "outputs": []}``; ``notes`` (for the TA) say
    what was odd. A notebook that cannot be read gives every question no cells and a note.
    """
    try:
        cells = notebook_cells(notebook)
    except Exception as exc:  # any reader error: the code is then simply not found
        note = f"the notebook could not be read ({type(exc).__name__})"
        return {q: {"cells": [], "notes": [note]} for q in questions}
    prompts: dict[str, int] = {}
    checks: dict[str, int] = {}
    for index, cell in enumerate(cells):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            match = _PROMPT.search(source)
            if match and match.group(1) not in prompts:
                prompts[match.group(1)] = index
        elif cell.get("cell_type") == "code":
            for name in _CHECK.findall(source):
                checks.setdefault(name, index)
    starts = sorted(prompts.values())
    found = {}
    for question in questions:
        found[question] = _region(cells, question, prompts, checks, starts)
    return found


def _region(cells, question, prompts, checks, starts) -> dict:
    notes: list[str] = []
    start = prompts.get(question)
    if start is None:
        return {"cells": [], "notes": ["the question's prompt was not found in the notebook"]}
    end = checks.get(question)
    if end is None or end <= start:
        later = [s for s in starts if s > start]
        end = later[0] if later else len(cells)
        notes.append("its grader.check cell was not found: the code up to the next question")
    budget = _Budget(MAX_ANSWER_CHARS)
    kept = []
    for cell in cells[start + 1 : end]:
        if cell.get("cell_type") != "code" or _CHECK.search(_text(cell.get("source", ""))):
            continue
        if len(kept) == MAX_CELLS:
            notes.append(f"more than {MAX_CELLS} code cells: the rest are left out")
            break
        source = _capped_text(
            _text(cell.get("source", "")), MAX_SOURCE_CHARS, "a cell's code", notes
        )
        if not budget.take(source):
            notes.append("the code is too large: a cell is left out")
            continue
        kept.append({"cell_type": "code", "source": source, "outputs": []})
    return {"cells": kept, "notes": notes}
