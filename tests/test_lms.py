"""Grades into the LMS: the files Canvas, Gradescope and Moodle import, checked against their
column rules, from a graded folder and a roster; who is left out is listed, with why."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from lastmile_helpers import FULL, MANIFEST, answers, make_folder, outcome_data

from labkit.cli import main
from labkit.gradebook.store import ReviewStore

ROSTER = """name,email,sid,section,canvas_id,login
"Lovelace, Ada",ada@uni.example,1815,A1,4242,alovelace
"Turing, Alan",alan@uni.example,1912,A2,5151,aturing
"Hopper, Grace",grace@uni.example,1906,A1,6363,ghopper
"=HYPERLINK(""http://evil.example"")",mallory@uni.example,@666,B1,7373,mallory
"""


@pytest.fixture
def out(tmp_path):
    """Ada (Gradescope export, graded to the end, bonus earned), Alan (Canvas download name,
    a written answer still to grade), Mallory (a name that is a formula, graded), a stranger's
    file; Grace handed in nothing."""
    ada = outcome_data(
        "submission_1",
        FULL,
        answers=answers(),
        students=[{"name": "Ada L", "email": "ada@uni.example", "sid": "1815"}],
    )
    alan = outcome_data(
        "turingalan_5151_9_lab.ipynb", {**FULL, "q_center_bonus": 0}, answers=answers()
    )
    mallory = outcome_data("mallory_lab.ipynb", {**FULL, "q_z": 0}, answers=answers())
    stranger = outcome_data("stranger.ipynb", FULL, answers=answers())
    out = make_folder(tmp_path / "out", [ada, alan, mallory, stranger])
    with ReviewStore.open(out) as store:
        for name in ("submission_1", "mallory_lab.ipynb", "turingalan_5151_9_lab.ipynb"):
            store.set_score(name, "q_confusion", 2)
        store.set_score("submission_1", "q_reading", 1)
        store.set_score("mallory_lab.ipynb", "q_reading", 0.5)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    return out, roster


def _export(out, roster, lms, path, *extra):
    args = ["review", str(out), "--export-lms", lms, str(path), "--roster", str(roster)]
    args += ["--name-pattern", "{login}_*", *extra]
    return CliRunner().invoke(main, args)


def _table(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_canvas_file_follows_canvas_import_rules(out, tmp_path):
    """Is the Canvas file Student, ID, SIS User ID, SIS Login ID, Section, then
    '<title> (<id>)', a Points Possible row of the regular maximum, and one row per final
    student with their Canvas id, SID and login?"""
    folder, roster = out
    path = tmp_path / "canvas.csv"
    result = _export(folder, roster, "canvas", path, "--canvas-assignment-id", "98765",
                     "--assignment-title", "Lab 3: digits")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = _table(path)
    assert table[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "Lab 3: digits (98765)",
    ]
    assert table[1] == ["    Points Possible", "", "", "", "", "8"]
    rows = {row[0]: row for row in table[2:]}
    assert rows["Lovelace, Ada"] == ["Lovelace, Ada", "4242", "1815", "alovelace", "A1", "9"]
    mallory = rows['\'=HYPERLINK("http://evil.example")']
    assert mallory[2:] == ["'@666", "mallory", "B1", "6.5"]
    assert len(table) == 4  # Alan is not final, Grace has nothing
    assert "Turing, Alan (turingalan_5151_9_lab.ipynb): still to grade: q_reading" in result.output
    assert "stranger.ipynb" in result.output and "Hopper, Grace" in result.output


def test_without_an_assignment_id_canvas_gets_a_new_column(out, tmp_path):
    """Without --canvas-assignment-id, is the column named by the title alone (a new one)?"""
    folder, roster = out
    path = tmp_path / "canvas.csv"
    assert _export(folder, roster, "canvas", path).exit_code == 0
    assert _table(path)[0][-1] == "logreg_digits"


@pytest.mark.parametrize(
    ("lms", "first", "last"),
    [
        ("gradescope", ["Name", "SID", "Email"], "Total Score"),
        ("moodle", ["Full name", "ID number", "Email address"], "Total"),
    ],
)
def test_gradescope_and_moodle_get_per_question_columns(out, tmp_path, lms, first, last):
    """Are the Gradescope and Moodle files keyed by name, SID and email, with every question's
    score in notebook order (the bonus marked) and the total last?"""
    folder, roster = out
    path = tmp_path / f"{lms}.csv"
    assert _export(folder, roster, lms, path).exit_code == 0, path
    table = _table(path)
    labels = [f"{name} (bonus)" if bonus else name for name, _, _, bonus in MANIFEST]
    assert table[0] == [*first, *labels, last]
    ada = next(row for row in table if row[1] == "1815")
    assert ada == ["Lovelace, Ada", "1815", "ada@uni.example", "2", "2", "3", "1", "1", "9"]


def test_missing_as_zero_gives_students_without_a_submission_a_zero(out, tmp_path):
    """With --missing-as-zero, does Grace, who handed in nothing, get a 0 row?"""
    folder, roster = out
    path = tmp_path / "canvas.csv"
    result = _export(folder, roster, "canvas", path, "--missing-as-zero")
    assert result.exit_code == 0
    grace = next(row for row in _table(path) if row[0] == "Hopper, Grace")
    assert grace[1:] == ["6363", "1906", "ghopper", "A1", "0"]
    assert "1 of them 0 for no submission" in result.output


def test_the_roster_is_kept_and_the_gradebook_names_students(out, tmp_path):
    """After an export with a roster, does the gradebook list each submission's student from
    the roster?"""
    folder, roster = out
    assert _export(folder, roster, "moodle", tmp_path / "m.csv").exit_code == 0
    with (folder / "gradebook.csv").open(newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert rows["turingalan_5151_9_lab.ipynb"]["email"] == "alan@uni.example"
    assert rows["stranger.ipynb"]["name"] == ""


def test_an_unknown_lms_or_bad_roster_writes_nothing(out, tmp_path):
    """Are an unknown LMS, a roster without a column and a non-numeric Canvas id refused with a
    non-zero exit, and no file written?"""
    folder, roster = out
    path = tmp_path / "x.csv"
    unknown = _export(folder, roster, "blackboard", path)
    assert unknown.exit_code != 0 and "blackboard" in unknown.output
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nA,a@x\n")
    result = _export(folder, bad, "canvas", path)
    assert result.exit_code == 1 and "bad.csv: row 1 lacks the column(s) sid" in result.output
    wrong_id = _export(folder, roster, "canvas", path, "--canvas-assignment-id", "abc")
    assert wrong_id.exit_code == 1 and "must be a number" in wrong_id.output
    assert not path.exists()


def test_two_submissions_for_one_student_refuse_the_export(out, tmp_path):
    """Does a student matched by two submissions stop the export, naming both?"""
    folder, roster = out
    from lastmile_helpers import write_results

    write_results(folder, outcome_data("alovelace_again.ipynb", FULL, answers=answers()))
    path = tmp_path / "canvas.csv"
    result = _export(folder, roster, "canvas", path)
    assert result.exit_code == 1
    assert "Lovelace, Ada: alovelace_again.ipynb, submission_1" in result.output
    assert not path.exists()


def test_without_a_roster_the_metadata_students_are_exported(out, tmp_path):
    """Without a roster, are the students the metadata and Canvas names give exported, and the
    rest listed as unknown?"""
    folder, _ = out
    path = tmp_path / "gs.csv"
    result = CliRunner().invoke(
        main, ["review", str(folder), "--export-lms", "gradescope", str(path)]
    )
    assert result.exit_code == 0, result.output
    table = _table(path)
    assert [row[:3] for row in table[1:]] == [["Ada L", "1815", "ada@uni.example"]]
    assert "stranger.ipynb: no student is known (give --roster)" in result.output
