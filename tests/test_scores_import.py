"""Importing written scores from a spreadsheet: an imported score replaces the rubric's, a blank
comment keeps the stored one, rubric items are exported, European files are read."""

from __future__ import annotations

import csv
import re

import pytest
from click.testing import CliRunner
from lastmile_helpers import FULL, answers, make_folder, outcome_data, read_gradebook

from labkit.cli import main
from labkit.gradebook.store import ReviewStore
from labkit.review import app as review_app


@pytest.fixture
def out(tmp_path):
    """Two submissions; alice's q_confusion has the rubric item +1.5 applied and a comment."""
    out = make_folder(
        tmp_path / "out",
        [outcome_data(n, FULL, answers=answers()) for n in ("alice.ipynb", "bob.ipynb")],
    )
    with ReviewStore.open(out) as store:
        item = store.add_rubric_item("q_confusion", points=1.5, text="names the confused digits")
        store.apply_rubric_item("alice.ipynb", "q_confusion", item.id, applied=True)
        store.set_comment("alice.ipynb", "q_confusion", "Good pair.")
        store.set_score("bob.ipynb", "q_reading", 1)
        store.set_comment("bob.ipynb", "q_reading", "Kept comment.")
    return out


def _import(out, path):
    return CliRunner().invoke(main, ["review", str(out), "--import", str(path)])


def _export(out, path):
    result = CliRunner().invoke(main, ["review", str(out), "--export", str(path)])
    assert result.exit_code == 0, result.output
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_an_imported_score_replaces_the_rubric_items(out, tmp_path):
    """Importing 1 for an answer with +1.5 applied: is the item removed (not lit on the page,
    not in the feedback), the replacement recorded and shown, and the score 1?"""
    path = tmp_path / "scores.csv"
    path.write_text("submission,question,score,comment\nalice.ipynb,q_confusion,1,\n")
    result = _import(out, path)
    assert result.exit_code == 0, result.output
    with ReviewStore.open(out) as store:
        grade = store.grade("alice.ipynb", "q_confusion")
    assert (grade.score, grade.rubric_ids) == (1.0, ())
    assert grade.replaced_rubric == ("names the confused digits (+1.5)",)
    page = review_app.create_app(out).test_client().get("/questions/q_confusion")
    alice = page.get_data(as_text=True).split('data-submission="alice.ipynb"')[1]
    alice = alice.split("</section>")[0]
    assert 'aria-pressed="true"' not in alice
    assert re.search(r'class="muted replaced-rubric">An imported score replaced', alice)
    feedback = (out / "alice.ipynb" / "feedback.txt").read_text()
    assert "names the confused digits" not in feedback
    assert "  q_confusion       1 / 2" in feedback.splitlines()
    assert read_gradebook(out)["alice.ipynb"]["q_confusion"] == "1"


def test_reimporting_an_export_unchanged_changes_nothing(out, tmp_path):
    """Does a round trip of an untouched export keep the rubric items and comments?"""
    exported = _export(out, tmp_path / "scores.csv")
    assert _import(out, tmp_path / "scores.csv").exit_code == 0
    with ReviewStore.open(out) as store:
        grade = store.grade("alice.ipynb", "q_confusion")
        assert (grade.score, len(grade.rubric_ids), grade.comment) == (1.5, 1, "Good pair.")
    assert _export(out, tmp_path / "again.csv") == exported


def test_a_blank_comment_keeps_the_stored_comment(out, tmp_path):
    """Does a row with a score and an empty comment cell keep the comment a TA wrote?"""
    path = tmp_path / "scores.csv"
    path.write_text("submission,question,score,comment\nbob.ipynb,q_reading,0.5,\n")
    assert _import(out, path).exit_code == 0
    with ReviewStore.open(out) as store:
        grade = store.grade("bob.ipynb", "q_reading")
    assert (grade.score, grade.comment) == (0.5, "Kept comment.")


def test_the_export_lists_the_rubric_items_applied(out, tmp_path):
    """Does the export have a rubric column with each answer's items as the student reads them?"""
    table = _export(out, tmp_path / "scores.csv")
    assert table[0] == ["submission", "question", "score", "comment", "rubric"]
    alice = next(r for r in table if r[:2] == ["alice.ipynb", "q_confusion"])
    assert alice[2:] == ["1.5", "Good pair.", "names the confused digits (+1.5)"]


def test_a_european_spreadsheet_is_read(out, tmp_path):
    """Is a file saved by a European spreadsheet (';' between cells, '1,5' for a score,
    a byte-order mark) imported as meant?"""
    path = tmp_path / "scores.csv"
    path.write_bytes(
        "\ufeffsubmission;question;score;comment\n"
        "bob.ipynb;q_confusion;1,5;Gut, aber kurz\n".encode()
    )
    result = _import(out, path)
    assert result.exit_code == 0, result.output
    with ReviewStore.open(out) as store:
        grade = store.grade("bob.ipynb", "q_confusion")
    assert (grade.score, grade.comment) == (1.5, "Gut, aber kurz")


def test_a_comment_that_looks_like_a_formula_is_exported_as_text(out, tmp_path):
    """Is a comment starting with '=' written so that a spreadsheet shows it as text, and
    read back as it was?"""
    with ReviewStore.open(out) as store:
        store.set_comment("bob.ipynb", "q_reading", "=1+1 is what you wrote")
    table = _export(out, tmp_path / "scores.csv")
    bob = next(r for r in table if r[:2] == ["bob.ipynb", "q_reading"])
    assert bob[3] == "'=1+1 is what you wrote"
    assert _import(out, tmp_path / "scores.csv").exit_code == 0
    with ReviewStore.open(out) as store:
        assert store.grade("bob.ipynb", "q_reading").comment == "=1+1 is what you wrote"
