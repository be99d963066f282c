"""The lab itself: blanks where the spec puts them, and the solution's measured figures."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "student_template" / "logreg_digits.ipynb"
SOLUTION = ROOT / "solutions" / "logreg_digits.ipynb"

# question -> what students write (the names graders and other tools rely on)
BLANKS = {
    "q_z": ["def compute_z(clf, x):"],
    "q_softmax": ["def softmax(z):"],
    "q_predict": ["def predict_label(probs, classes):"],
    "q_preprocess": ["def preprocess_image(image, pixel_filter=20):"],
    "q_center_bonus": ["def center_image(sample):"],
    "q_l1": ["clf_l1 = ...", "def count_zero_coefs(model):", "n_zero = ...", "n_zero_l1 = ..."],
    "q_l1_sweep": ["def l1_sweep(C_values, X_train, y_train, X_test, y_test):"],
}


def _answer_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "otter_answer_cell" in c.metadata.get("tags", [])
    ]


def _outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        "".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )


@pytest.mark.parametrize("question", BLANKS)
def test_blank_is_where_the_spec_puts_it(question):
    """Does the student notebook hold the question's names as blanks, each followed by a check?"""
    cells = _answer_cells(STUDENT)
    (cell,) = [c for c in cells if BLANKS[question][0] in c]
    for name in BLANKS[question]:
        assert name in cell
    for line in cell.splitlines():
        if line.startswith("def "):
            body = cell.split(line, 1)[1].split("\ndef ", 1)[0]
            code = [ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith('"')]
            assert [ln.strip() for ln in code][:1] == ["..."], f"{line} is not blank: {code}"
    source = "\n".join(c.source for c in nbformat.read(STUDENT, as_version=4).cells)
    assert f'grader.check("{question}")' in source


def test_functions_are_defined_at_the_top_level():
    """Is each graded function defined at the top level of its solution cell?"""
    cells = [c.source for c in nbformat.read(SOLUTION, as_version=4).cells if c.cell_type == "code"]
    for lines in BLANKS.values():
        for name in lines:
            if name.startswith("def "):
                assert any(re.search(rf"^{re.escape(name)}", c, re.M) for c in cells), name


def test_solution_reaches_the_specs_figures():
    """Do the executed solution's printed figures meet the lab's thresholds?"""
    text = _outputs(SOLUTION)
    accuracies = [float(a) for a in re.findall(r"^(0\.\d+)$", text, re.M)]
    assert len(accuracies) == 3 and len(set(accuracies)) == 1 and accuracies[0] >= 0.88
    zeros = re.search(r"zero coefficients: (\d+) without a penalty, (\d+) with L1", text)
    assert zeros and int(zeros[2]) > int(zeros[1]) > 0
    l1_accuracy = float(re.search(r"test accuracy with L1: (0\.\d+)", text)[1])
    assert l1_accuracy >= 0.88
    plain = float(re.search(r"accuracy without centering: (\S+)", text)[1])
    centered = float(re.search(r"accuracy with centering: +(\S+)", text)[1])
    assert centered >= plain, "centering should not hurt on the sample photos"


def test_solution_runs_without_errors():
    """Did every cell of the executed solution run without an error?"""
    nb = nbformat.read(SOLUTION, as_version=4)
    errors = [
        (n, o["ename"])
        for n, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert errors == []
