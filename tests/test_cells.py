"""The cells the grader runs, and the grading settings it reads from the assignment config."""

from __future__ import annotations

import ast

import nbformat
import pytest

from labkit.grader import cells as cells_module
from labkit.grader.cells import Cell, CellKind, graded_cells, prelude, question_of, recorder_cells
from labkit.grader.config import (
    RECORDER_GRACE,
    SETTINGS,
    ConfigError,
    GradingConfig,
    Limits,
)

TEST_X = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_x"
points = 2

@test_case(points=1, hidden=True)
def test_a(f):
    assert f(1) == 2

def helper(f):
    return f

@test_case(points=1, hidden=False)
def test_b(f):
    assert f(2) == 4
"""

TEST_NO_NAME = """\
import otter.test_files

@otter.test_files.test_case
def test_only(g):
    assert g
"""


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def code(source: str, **metadata) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata=metadata)


def test_graded_cells_skip_markdown_and_ignored_cells():
    """Are markdown and otter_ignore cells left out, and cells numbered among all code cells?"""
    nb = notebook(
        nbformat.v4.new_markdown_cell("# Lab"),
        code("a = 1"),
        code("import secret", tags=["otter_ignore"]),
        nbformat.v4.new_markdown_cell("text"),
        code("b = 2", tags=["other"]),
        code("c = 3", otter={"ignore": True}),
        nbformat.v4.new_raw_cell("raw"),
        code("d = 4"),
    )
    assert graded_cells(nb) == [
        Cell("code cell 1", "a = 1", CellKind.NOTEBOOK),
        Cell("code cell 3", "b = 2", CellKind.NOTEBOOK),
        Cell("code cell 5", "d = 4", CellKind.NOTEBOOK),
    ]


def test_graded_cells_of_a_notebook_read_from_json():
    """Is a multi-line source stored as a list in the file joined into one string?"""
    text = nbformat.writes(notebook(code("x = 1\ny = 2\n")))
    cells = graded_cells(nbformat.reads(text, as_version=4))
    assert cells == [Cell("code cell 1", "x = 1\ny = 2\n")]


def test_prelude_is_a_setup_cell():
    """Is the prelude one of the grader's own (never skipped) cells?"""
    cell = prelude()
    assert cell.kind is CellKind.SETUP and cell.label == "the grader's setup"
    ast.parse(cell.source)


def test_test_functions_finds_decorated_cases_in_order():
    """Are the test_case-decorated functions found in order, and undecorated ones left out?"""
    # imported through the module: a bare test_functions name would be collected by pytest
    find = cells_module.test_functions
    assert find(TEST_X) == ["test_a", "test_b"]
    assert find(TEST_NO_NAME) == ["test_only"]
    assert find("def test_plain():\n    pass\n") == []


def test_question_of_reads_name_else_the_file_stem():
    """Is the question the file's ``name =``, or else its file name's stem?"""
    assert question_of("tests/whatever.py", TEST_X) == "q_x"
    assert question_of("tests/q7.py", TEST_NO_NAME) == "q7"


def _record_call_keywords(cell: Cell) -> dict[str, object]:
    """The literal keyword arguments of the record_case call in a TEST cell."""
    tree = ast.parse(cell.source)
    [statement] = tree.body
    call = statement.value
    assert isinstance(call, ast.Call)
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_recorder_cells_one_setup_then_one_test_cell_per_case():
    """Is there one SETUP cell, then one TEST cell per test case carrying that test's source?"""
    tests = {"q_x.py": TEST_X, "q7.py": TEST_NO_NAME}
    cells = recorder_cells(tests, answers_path="/tmp/ws/answers.json", seconds_per_test=45.0)
    setup, *rest = cells
    assert setup.kind is CellKind.SETUP and setup.label == "the grader's setup"
    assert repr("/tmp/ws/answers.json") in setup.source
    ast.parse(setup.source)
    # test files in sorted order of their names: q7.py, then q_x.py
    assert [(c.label, c.kind) for c in rest] == [
        ("the grading of q7", CellKind.TEST),
        ("the grading of q_x", CellKind.TEST),
        ("the grading of q_x", CellKind.TEST),
    ]
    expected = [
        ("q7.py", TEST_NO_NAME, "test_only"),
        ("q_x.py", TEST_X, "test_a"),
        ("q_x.py", TEST_X, "test_b"),
    ]
    for cell, (filename, source, function) in zip(rest, expected, strict=True):
        keywords = _record_call_keywords(cell)
        assert keywords == {
            "source": source,
            "filename": filename,
            "function": function,
            "seconds": 45,
        }


def test_recorder_cells_without_tests():
    """With no test files, is the recorder's setup the only cell?"""
    cells = recorder_cells({}, answers_path="a.json", seconds_per_test=1)
    assert [c.kind for c in cells] == [CellKind.SETUP]


# --- GradingConfig ------------------------------------------------------------------------------


def test_config_defaults():
    """Does no configuration (None or {}) give every setting's documented default?"""
    for given in (None, {}):
        config = GradingConfig.from_dict(given)
        assert config == GradingConfig()
        assert config.limits == Limits(cell=60.0, test=60.0, total=480.0)
        assert config.judge_only_files == () and config.student_uid == 62000
        assert config.hidden_test_feedback is False
        assert config.memory_mb == 2048
    defaults = {s.key: s.default for s in SETTINGS}
    assert defaults["cell_timeout"] == GradingConfig().limits.cell
    assert defaults["student_uid"] == GradingConfig().student_uid
    assert defaults["hidden_test_feedback"] is GradingConfig().hidden_test_feedback is False


def test_config_full_valid_dict():
    """Is a full valid configuration read into floats and a tuple of paths?"""
    config = GradingConfig.from_dict(
        {
            "cell_timeout": 30,
            "test_timeout": 12.5,
            "total_timeout": 300,
            "judge_only_files": ["hidden_photos/labels.csv", "keys.json"],
            "memory_mb": 1024,
            "student_uid": 5000,
            "hidden_test_feedback": True,
        }
    )
    assert config.limits == Limits(cell=30.0, test=12.5, total=300.0)
    assert isinstance(config.limits.cell, float) and isinstance(config.limits.total, float)
    assert config.limits.test_cell == 12.5 + RECORDER_GRACE
    assert config.judge_only_files == ("hidden_photos/labels.csv", "keys.json")
    assert config.student_uid == 5000
    assert config.hidden_test_feedback is True
    assert config.memory_mb == 1024


@pytest.mark.parametrize(
    "given",
    [
        {"cell_timeot": 30},
        {"cell_timeout": -1},
        {"test_timeout": 0},
        {"total_timeout": True},
        {"cell_timeout": "60"},
        {"judge_only_files": "hidden_photos/labels.csv"},
        {"judge_only_files": ["ok.csv", 3]},
        {"student_uid": 999},
        {"student_uid": 0},
        {"student_uid": True},
        {"student_uid": 5000.0},
        {"hidden_test_feedback": "yes"},
        {"hidden_test_feedback": 1},
        {"hidden_test_feedback": None},
        {"memory_mb": 10},
        {"memory_mb": 2048.0},
        {"memory_mb": True},
    ],
)
def test_config_errors(given):
    """Is an unknown key or a value of the wrong kind refused with ConfigError?"""
    with pytest.raises(ConfigError):
        GradingConfig.from_dict(given)


def test_config_error_names_the_unknown_key():
    """Does the error for an unknown key name it and the known keys?"""
    with pytest.raises(ConfigError, match="cell_timeot.*known: cell_timeout"):
        GradingConfig.from_dict({"cell_timeot": 30})
