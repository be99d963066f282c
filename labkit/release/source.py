"""The release's source: ``assignment/``, its notebook's questions and tests, checked.

The source notebook is otter-assign's format: an ``ASSIGNMENT CONFIG`` cell, then ``BEGIN
QUESTION`` blocks with solutions and tests. ``read_source`` parses and checks it before anything
is built; ``check_hidden_tests`` is the first gate, on the source itself.
"""

from __future__ import annotations

import ast
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ASSIGNMENT_NAME = "logreg_digits"
SOURCE_NOTEBOOK = Path("assignment") / f"{ASSIGNMENT_NAME}.ipynb"
NOTEBOOK_NAME = f"{ASSIGNMENT_NAME}.ipynb"
ZIP_NAME = f"{ASSIGNMENT_NAME}-autograder.zip"
STUDENT_ZIP_NAME = f"{ASSIGNMENT_NAME}-student.zip"
RELEASE_DIRS = ("student_template", "student_download", "solutions", "autograder")
# The keys of a BEGIN QUESTION block: otter assign's own, and labkit's ``bonus`` (otter assign
# ignores keys it does not know, so a misspelt one would pass silently; here it is an error).
OTTER_QUESTION_KEYS = ("name", "manual", "points", "check_cell", "export", "all_or_nothing")
QUESTION_KEYS = (*OTTER_QUESTION_KEYS, "bonus")


class ReleaseError(Exception):
    """The source or the built release is wrong; the message names the cell, question or file."""


@dataclass
class SourceQuestion:
    """One question of the source notebook, as the build, the gates and the summary need it."""

    name: str
    points: float
    manual: bool
    bonus: bool = False
    hidden_tests: list[str] = field(default_factory=list)
    public_tests: list[str] = field(default_factory=list)


def read_source(source_dir: Path) -> list[SourceQuestion]:
    """Parse and check the source notebook; return its questions.

    Raises ReleaseError naming the cell for a broken config, a test with a syntax error, an
    autograded question without tests, and naming the file for a missing data file.
    """
    path = source_dir / NOTEBOOK_NAME
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ReleaseError(f"{path}: source notebook not found") from None
    except Exception as exc:
        raise ReleaseError(f"{path}: not a valid notebook ({exc})") from exc

    config = None
    questions: list[SourceQuestion] = []
    question, in_tests = None, False
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.source.strip()
        where = f"{path}, cell {number}"
        if cell.cell_type == "raw" and source.startswith("# ASSIGNMENT CONFIG"):
            config = _parse_yaml(source, where=f"{where} (ASSIGNMENT CONFIG)")
        elif cell.cell_type == "raw" and source.startswith("# BEGIN QUESTION"):
            settings = _parse_yaml(source, where=f"{where} (BEGIN QUESTION)")
            question = _question(settings, where=f"{where} (BEGIN QUESTION)")
            questions.append(question)
        elif cell.cell_type == "raw" and source == "# BEGIN TESTS":
            in_tests = True
        elif cell.cell_type == "raw" and source == "# END TESTS":
            in_tests = False
        elif cell.cell_type == "raw" and source == "# END QUESTION":
            question = None
        elif in_tests and cell.cell_type == "code" and question is not None:
            _read_test_cell(cell.source, question, where=where)
    if config is None:
        raise ReleaseError(f"{path}: no raw '# ASSIGNMENT CONFIG' cell")
    for question in questions:
        if not question.manual and not (question.hidden_tests or question.public_tests):
            raise ReleaseError(f"{path}: question {question.name} is autograded but has no tests")
    for key in ("files", "autograder_files"):
        for name in config.get(key) or []:
            if not (source_dir / name).exists():
                raise ReleaseError(
                    f"{source_dir / name}: missing (listed in ASSIGNMENT CONFIG '{key}')"
                )
    return questions


def _question(settings: dict, *, where: str) -> SourceQuestion:
    """A BEGIN QUESTION block's settings, checked: a name, known keys, a boolean ``bonus``."""
    if "name" not in settings:
        raise ReleaseError(f"{where}: BEGIN QUESTION has no 'name'")
    unknown = sorted(str(key) for key in settings if key not in QUESTION_KEYS)
    if unknown:
        raise ReleaseError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(QUESTION_KEYS)}"
        )
    bonus = settings.get("bonus", False)
    if not isinstance(bonus, bool):
        raise ReleaseError(f"{where}: bonus must be true or false, not {bonus!r}")
    try:
        points = float(settings.get("points", 1))
    except (TypeError, ValueError):
        raise ReleaseError(
            f"{where}: points must be a number, not {settings['points']!r}"
        ) from None
    return SourceQuestion(
        name=str(settings["name"]),
        points=points,
        manual=bool(settings.get("manual", False)),
        bonus=bonus,
    )


def _parse_yaml(source: str, *, where: str) -> dict:
    try:
        parsed = yaml.safe_load(source.split("\n", 1)[1] if "\n" in source else "")
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{where}: broken YAML: {exc}") from exc
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ReleaseError(f"{where}: expected 'key: value' lines, got {type(parsed).__name__}")
    return parsed


_TEST_CONFIG = re.compile(r'^\s*"""\s*#\s*BEGIN TEST CONFIG(.*?)"""\s*#\s*END TEST CONFIG', re.S)


def _read_test_cell(source: str, question: SourceQuestion, *, where: str) -> None:
    hidden = False
    match = _TEST_CONFIG.match(source)
    if match:
        settings = _parse_yaml("config\n" + match.group(1), where=f"{where} (TEST CONFIG)")
        hidden = bool(settings.get("hidden", False))
    elif source.lstrip().startswith("#"):
        hidden = "hidden" in source.lstrip().splitlines()[0].lower()
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise ReleaseError(
            f"{where} (a test of {question.name}): syntax error at line {exc.lineno}: {exc.msg}"
        ) from None
    (question.hidden_tests if hidden else question.public_tests).append(source)


def check_hidden_tests(questions: list[SourceQuestion]) -> None:
    """Gate: every autograded question has a hidden test, each calling ``answer()`` once.

    The student's work reaches a hidden test only through ``answer(lambda: ...)`` (see
    ``labkit.grader.judging``): a test without it could not see the work, one with two calls
    would be stopped in the student's process after the first.
    """
    missing = [q.name for q in questions if not q.manual and not q.hidden_tests]
    if missing:
        raise ReleaseError(f"no hidden test for question(s) {', '.join(missing)}")
    for q in questions:
        for test in q.hidden_tests:
            tree = ast.parse(_TEST_CONFIG.sub("", test))
            name = next((n.name for n in tree.body if isinstance(n, ast.FunctionDef)), "?")
            calls = sum(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "answer"
                for n in ast.walk(tree)
            )
            if calls != 1:
                raise ReleaseError(
                    f"hidden test {name} of {q.name} calls answer() {calls} times: it must pass "
                    "the student's work through exactly one answer(lambda: ...)"
                )


def is_import(line: str) -> bool:
    """Whether a line of a test is an import (which says nothing of the test)."""
    return line.startswith("import ") or (line.startswith("from ") and " import " in line)


def lines_of_test(test_source: str) -> list[str]:
    """A test's lines, as written and as otter re-prints them (``ast.unparse``)."""
    body = _TEST_CONFIG.sub("", test_source)
    lines = body.splitlines()
    with contextlib.suppress(SyntaxError):
        lines += ast.unparse(ast.parse(body)).splitlines()
    return lines
