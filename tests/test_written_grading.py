"""End to end: ``labkit grade`` collects the written answers, a TA's score reaches the reports."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from labkit.cli import main
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
WRITTEN = ["q_confusion", "q_modified_digit", "q_l1_reading"]
METADATA = """\
submission_7:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@example.edu
"""


def read_gradebook(path: Path) -> dict[str, dict]:
    with path.open(newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


@pytest.mark.graded
def test_written_answers_are_collected_and_graded(tmp_path, autograder_zip):
    """Does labkit grade store the written answers, and a saved score reach the reports?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SUBMISSIONS / "blank.ipynb", inbox / "blank.ipynb")
    shutil.copy(SUBMISSIONS / "softmax_scipy.ipynb", inbox / "hostile.ipynb")
    export = tmp_path / "export"
    (export / "submission_7").mkdir(parents=True)
    shutil.copy(SUBMISSIONS / "predict_argmin.ipynb", export / "submission_7" / "lab.ipynb")
    (export / "submission_metadata.yml").write_text(METADATA)
    out = tmp_path / "out"
    args = ["grade", str(inbox), str(export), "-a", str(autograder_zip), "-o", str(out), "-j", "1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    # The batch's similarity report is written beside the gradebook, and said to be no verdict.
    assert "never a verdict" in first.output
    report = json.loads((out / "similarity.json").read_text())
    assert sorted(report["submissions"]) == ["blank.ipynb", "hostile.ipynb", "submission_7"]

    assert json.loads((out / "written_questions.json").read_text())["questions"][0]["name"] == (
        "q_confusion"
    )
    results = {
        name: json.loads((out / name / "results.json").read_text())
        for name in ("blank.ipynb", "hostile.ipynb", "submission_7")
    }
    assert all(list(r["written"]) == WRITTEN for r in results.values())
    assert all(a["empty"] for a in results["blank.ipynb"]["written"].values())
    assert "<script>" in results["hostile.ipynb"]["written"]["q_confusion"]["cells"][0]["source"]
    argmin = results["submission_7"]
    assert len(argmin["written"]["q_l1_reading"]["cells"]) == 2
    assert argmin["students"] == [
        {"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "1815"}
    ]

    rows = read_gradebook(out / "gradebook.csv")
    header = list(rows["blank.ipynb"])
    assert header[:4] == ["submission", "name", "email", "sid"]
    assert [h for h in header if h in WRITTEN] == WRITTEN
    assert header[-7:] == [
        "written_graded",
        "written_stale",
        "bonus",
        "total",
        "max_total",
        "status",
        "message",
    ]
    assert rows["submission_7"]["name"] == "Ada Lovelace"
    assert (rows["submission_7"]["written_graded"], rows["submission_7"]["max_total"]) == (
        "0",
        "19",
    )
    autograded = float(rows["submission_7"]["total"])
    # Written answers leave the autograded scores of the corpus as its table has them.
    with (SUBMISSIONS / "expected_scores.csv").open(newline="") as handle:
        expected = {r.pop("submission"): r for r in csv.DictReader(handle)}
    for name, row in (("predict_argmin", "submission_7"), ("softmax_scipy", "hostile.ipynb")):
        assert {q: float(rows[row][q]) for q in expected[name]} == {
            q: float(v) for q, v in expected[name].items()
        }

    with ReviewStore.open(out) as store:
        store.set_score("submission_7", "q_confusion", 1.5)
        store.set_comment("submission_7", "q_confusion", "Name a second pair.")
    refresh_reports(GradedFolder(out), submissions=["submission_7"])
    row = read_gradebook(out / "gradebook.csv")["submission_7"]
    assert (row["q_confusion"], row["written_graded"]) == ("1.5", "1")
    assert float(row["total"]) == autograded + 1.5
    feedback = (out / "submission_7" / "feedback.txt").read_text()
    assert "1.5 / 2" in feedback and "Name a second pair." in feedback

    # The student resubmits with a changed answer: the score stays, marked stale, and does not
    # count until a TA confirms or rescores it.
    notebook = json.loads((export / "submission_7" / "lab.ipynb").read_text())
    for cell in notebook["cells"]:
        if "".join(cell["source"]).startswith("I think 1 is easy"):
            cell["source"] = ["I now think 7 is the hardest."]
    (export / "submission_7" / "lab.ipynb").write_text(json.dumps(notebook, indent=1))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "2 already graded" in again.output
    with ReviewStore.open(out) as store:
        grade = store.grade("submission_7", "q_confusion")
        assert (grade.score, grade.stale) == (1.5, True)
        assert not store.grade("blank.ipynb", "q_confusion").stale
    row = read_gradebook(out / "gradebook.csv")["submission_7"]
    assert (row["q_confusion"], row["written_stale"], row["written_graded"]) == (
        "1.5",
        "q_confusion",
        "0",
    )
    assert float(row["total"]) == autograded
    feedback = (out / "submission_7" / "feedback.txt").read_text()
    assert "being regraded" in feedback and "Name a second pair." not in feedback
