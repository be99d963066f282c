"""Each question's answer, as the similarity report reads it: blocks, markers, caps."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from both_paths import QUESTIONS as CODE_NAMES

from labkit.gradebook.written import BEGIN_MARKER, MAX_CELLS, MAX_SOURCE_CHARS, WrittenQuestion
from labkit.similarity import extract
from labkit.similarity.extract import CODE, TEXT, Question

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "student_template" / "logreg_digits.ipynb"
WRITTEN = [
    WrittenQuestion("q_confusion", 2.0, ""),
    WrittenQuestion("q_modified_digit", 2.0, ""),
    WrittenQuestion("q_l1_reading", 1.0, ""),
]
QUESTIONS = [Question(n, CODE) for n in CODE_NAMES] + [Question(q.name, TEXT) for q in WRITTEN]


@pytest.fixture(scope="module")
def template_cells() -> list[dict]:
    """The handed-out notebook's cells."""
    return json.loads(TEMPLATE.read_text(encoding="utf-8"))["cells"]


def answers(cells: list[dict], template_cells: list[dict]) -> dict[str, extract.Answer]:
    """Every question's answer in ``cells``, with the handed-out notebook's prompts."""
    prompts = extract.prompts_of(template_cells, CODE_NAMES)
    return extract.extract_answers(cells, QUESTIONS, written=WRITTEN, prompts=prompts)


def index_of(cells: list[dict], text: str) -> int:
    """The index of the first cell whose source holds ``text``."""
    return next(i for i, c in enumerate(cells) if text in "".join(c["source"]))


def code_cell(source: str) -> dict:
    """A new code cell."""
    return {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}


def test_each_block_of_the_handed_out_notebook_is_its_stub_and_check(template_cells):
    """Is each autograded question's block its answer cell and its check cell, without notes?"""
    found = answers(template_cells, template_cells)
    assert found["q_z"].text.startswith("def compute_z(clf, x):")
    assert found["q_z"].text.endswith('grader.check("q_z")')
    assert "center_image" in found["q_center_bonus"].text
    assert "clf_l1 = ..." in found["q_l1"].text and "l1_sweep" not in found["q_l1"].text
    assert all(a.found and not a.notes for a in found.values())
    assert all(found[q.name].text == "" for q in WRITTEN)  # only the placeholder


def test_cells_a_student_added_stay_in_the_block(template_cells):
    """Does a scratch code cell added inside a block count, and an added markdown cell not?"""
    cells = copy.deepcopy(template_cells)
    at = index_of(cells, 'grader.check("q_softmax")')
    cells[at:at] = [
        code_cell("scratch_total = probs.sum()"),
        {"cell_type": "markdown", "metadata": {}, "source": "Question (`q_softmax`): my note"},
    ]
    found = answers(cells, template_cells)["q_softmax"]
    assert "scratch_total = probs.sum()" in found.text and "my note" not in found.text
    assert not found.notes


def test_a_deleted_check_cell_ends_the_block_at_the_next_question(template_cells):
    """Without its check cell, does a block stop where the next question starts, with a note?"""
    cells = copy.deepcopy(template_cells)
    del cells[index_of(cells, 'grader.check("q_predict")')]
    found = answers(cells, template_cells)
    assert "def predict_label" in found["q_predict"].text
    assert "preprocess_image" not in found["q_predict"].text
    assert any('grader.check("q_predict")' in note for note in found["q_predict"].notes)
    assert not found["q_preprocess"].notes


def test_a_deleted_prompt_runs_the_block_back_from_its_check(template_cells):
    """Without its prompt, is a block the code cells back to the previous question's check?"""
    cells = copy.deepcopy(template_cells)
    del cells[index_of(cells, "**Question (`q_softmax`).**")]
    found = answers(cells, template_cells)["q_softmax"]
    assert "def softmax" in found.text and "def compute_z" not in found.text
    assert found.found and any("prompt" in note for note in found.notes)


def test_a_question_with_neither_prompt_nor_check_has_no_answer(template_cells):
    """Is a question whose prompt and check cell are both gone missing, with a note?"""
    cells = copy.deepcopy(template_cells)
    del cells[index_of(cells, 'grader.check("q_z")')]
    del cells[index_of(cells, "**Question (`q_z`).**")]
    found = answers(cells, template_cells)["q_z"]
    assert not found.found and found.text == "" and found.notes


def test_a_moved_prompt_text_is_found_by_its_name(template_cells):
    """Is a prompt whose text a student edited still found by ``Question (`q_z`)``?"""
    cells = copy.deepcopy(template_cells)
    at = index_of(cells, "**Question (`q_z`).**")
    cells[at]["source"] = "**Question (`q_z`).** (I edited this prompt.)"
    assert "def compute_z" in answers(cells, template_cells)["q_z"].text


def test_written_answers_are_the_text_between_the_markers(template_cells):
    """Is a written answer its cells' text, and the untouched placeholder no answer?"""
    cells = copy.deepcopy(template_cells)
    at = index_of(cells, "`q_l1_reading`")
    cells[at + 1]["source"] = "Larger C, fewer zeros."
    found = answers(cells, template_cells)
    assert found["q_l1_reading"].text == "Larger C, fewer zeros."
    assert found["q_confusion"].text == "" and found["q_confusion"].found


def test_a_notebook_without_markers_has_no_written_answers(template_cells):
    """Does a notebook whose markers were deleted give each written question a note?"""
    cells = [c for c in copy.deepcopy(template_cells) if BEGIN_MARKER not in "".join(c["source"])]
    found = answers(cells, template_cells)
    assert all(not found[q.name].found and found[q.name].notes for q in WRITTEN)
    assert found["q_z"].found


def test_huge_cells_and_too_many_cells_are_cut_with_notes(template_cells):
    """Are a cell longer than the limit and cells beyond the limit left out, with notes?"""
    cells = copy.deepcopy(template_cells)
    at = index_of(cells, 'grader.check("q_z")')
    cells[at:at] = [code_cell("x = 1\n" * MAX_SOURCE_CHARS)] + [
        code_cell(f"y{n} = {n}") for n in range(MAX_CELLS + 5)
    ]
    found = answers(cells, template_cells)["q_z"]
    assert len(found.text) <= extract.MAX_ANSWER_CHARS
    assert any("cut" in note for note in found.notes)
    assert any(f"more than {MAX_CELLS} cells" in note for note in found.notes)


@pytest.mark.parametrize(
    "source", [["def f(x):\n", "    return x\n"], None, 7, {"a": 1}, "\ud800 lone surrogate"]
)
def test_a_cell_of_an_odd_shape_is_read_as_text(source):
    """Is a source given as lines, of a wrong type, or with a lone surrogate read safely?"""
    text = extract.cell_source({"cell_type": "code", "source": source})
    assert isinstance(text, str)
    text.encode("utf-8")  # always writable as UTF-8
