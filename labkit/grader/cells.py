"""What the grader runs in the student's process, cell by cell, and in what order.

1. the prelude (otter's grading mode, ``grader.check`` a no-op, ``exit()`` ending the process the
   same way in a Jupyter kernel and in ``labkit grade``'s child);
2. the submission's code cells, except those tagged ``otter_ignore``;
3. the recorder's setup (``labkit.grader.answers``, run from its source text);
4. one cell per test case, each carrying that test's source: the student's process sees a
   hidden test only when its turn comes, after every cell of the notebook has run.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import nbformat

from labkit.grader import syntax

IGNORE_TAG = "otter_ignore"

PRELUDE = """\
import otter as _labkit_otter
_labkit_otter.Notebook.init_grading_mode("tests")
_labkit_otter.Notebook.check = lambda self, question, global_env=None: None
del _labkit_otter
get_ipython().ask_exit = lambda: __import__("os")._exit(0)
"""

RECORDER_SETUP = """\
_labkit_answers = {{"__name__": "labkit_answers"}}
exec(compile({source!r}, "labkit-answers", "exec"), _labkit_answers)
_labkit_answers["start"](out_path={out_path!r})
"""

RECORD_CASE = """\
_labkit_answers["record_case"](
    globals(), source={source!r}, filename={filename!r}, function={function!r}, seconds={seconds:g}
)
"""


class CellKind(Enum):
    """What a cell is, which decides its limit and whether it may be skipped."""

    SETUP = "setup"  # the grader's own cells: never skipped
    NOTEBOOK = "notebook"  # a code cell of the submission
    TEST = "test"  # records one test case's answer


@dataclass(frozen=True)
class Cell:
    """A cell to run: how reports name it, its source and its kind."""

    label: str
    source: str
    kind: CellKind = CellKind.NOTEBOOK


def prelude() -> Cell:
    """The first cell: otter's grading mode, with checks and ``exit()`` made harmless."""
    return Cell("the grader's setup", PRELUDE, CellKind.SETUP)


def graded_cells(notebook: nbformat.NotebookNode) -> list[Cell]:
    """The submission's code cells that are graded, in order (``otter_ignore`` ones left out).

    Each is labelled with its number among the notebook's code cells, as a student counts them.
    """
    cells = []
    number = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        metadata = cell.get("metadata", {})
        if IGNORE_TAG in metadata.get("tags", []) or metadata.get("otter", {}).get("ignore"):
            continue
        cells.append(Cell(f"code cell {number}", str(cell.get("source", ""))))
    return cells


def test_functions(source: str) -> list[str]:
    """The names of a test file's test cases (functions decorated with ``test_case``), in order."""
    names = []
    for node in syntax.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if getattr(call, "id", getattr(call, "attr", None)) == "test_case":
                    names.append(node.name)
    return names


def question_of(filename: str, source: str) -> str:
    """The question a test file grades: its ``name = ...``, or the file's stem."""
    for node in syntax.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "name"
        ):
            return str(ast.literal_eval(node.value))
    return Path(filename).stem


def recorder_cells(tests: dict[str, str], *, answers_path: str, seconds_per_test: float):
    """The recorder's setup cell, then one cell per test case of ``tests`` (file name -> source)."""
    cells = [
        Cell(
            "the grader's setup",
            RECORDER_SETUP.format(source=_recorder_source(), out_path=answers_path),
            CellKind.SETUP,
        )
    ]
    for filename, source, question, function in _test_cases(tuple(sorted(tests.items()))):
        text = RECORD_CASE.format(
            source=source, filename=filename, function=function, seconds=seconds_per_test
        )
        cells.append(Cell(f"the grading of {question}", text, CellKind.TEST))
    return cells


@functools.cache
def _recorder_source() -> str:
    return Path(__file__).with_name("answers.py").read_text()


@functools.lru_cache(maxsize=8)
def _test_cases(tests: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str, str], ...]:
    """Each test case of the test files ``tests`` (file name, source) as (file name, source,
    question, function), in order: parsed once per set of tests, not once per submission."""
    return tuple(
        (filename, source, question_of(filename, source), function)
        for filename, source in tests
        for function in test_functions(source)
    )
