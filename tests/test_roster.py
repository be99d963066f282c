"""The roster: read and checked, and joined to submissions by email/SID, Canvas download names
or a file-name pattern; whoever matches no one is listed, never guessed."""

from __future__ import annotations

import pytest

from labkit import intake
from labkit.gradebook.roster import (
    RosterError,
    clean_text,
    join,
    parse_canvas_name,
    read_roster,
)

ROSTER = """name,email,sid,section,canvas_id,login,extension
"Lovelace, Ada",ada@uni.example,1815,A1,4242,alovelace,
Alan Turing,alan@uni.example,1912,A2,5151,aturing,2d
Grace Hopper,grace@uni.example,1906,A1,6363,ghopper,
"""


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    return read_roster(path)


def test_a_roster_is_read_with_its_optional_columns(roster):
    """Are every student's columns read, optional ones included?"""
    ada = roster.students[0]
    assert (ada.name, ada.email, ada.sid, ada.section, ada.canvas_id, ada.login) == (
        "Lovelace, Ada",
        "ada@uni.example",
        "1815",
        "A1",
        "4242",
        "alovelace",
    )
    assert roster.students[1].extension == "2d"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name,mail,sid\nA,a@x,1\n", "row 1 lacks the column\\(s\\) email"),
        ("", "empty; row 1 must name the columns"),
        ("name,email,sid\nA,,\n", "row 2: a student needs an email or an sid"),
        ("name,email,sid\nA,a@x,1\nB,A@X,2\n", "row 3: email 'A@X' is on row 2 too"),
        ("name,email,sid,extension\nA,a@x,1,soon\n", "row 2: the extension must be"),
    ],
)
def test_a_bad_roster_names_the_file_and_the_problem(tmp_path, text, problem):
    """Is a roster with a missing column, an empty file, a student without a key, a duplicate
    or a bad extension refused, naming the file and the row?"""
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=f"roster.csv: {problem}"):
        read_roster(path)


def test_a_semicolon_roster_from_a_european_spreadsheet_is_read(tmp_path):
    """Is a roster saved with ';' between cells (and a byte-order mark) read the same?"""
    path = tmp_path / "roster.csv"
    path.write_bytes("\ufeffName;Email;SID\nJürgen Groß;jg@uni.example;42\n".encode())
    (student,) = read_roster(path).students
    assert (student.name, student.email, student.sid) == ("Jürgen Groß", "jg@uni.example", "42")


def test_canvas_download_names_are_understood():
    """Are Canvas's download names read: student, user id, submission id, late marker, file?"""
    plain = parse_canvas_name("lovelaceada_4242_777001_logreg_digits.ipynb")
    assert (plain.name, plain.user_id, plain.submission_id, plain.late, plain.file) == (
        "lovelaceada",
        "4242",
        "777001",
        False,
        "logreg_digits.ipynb",
    )
    late = parse_canvas_name("turingalan_late_5151_777002_logreg_digits-1.zip")
    assert (late.user_id, late.late, late.file) == ("5151", True, "logreg_digits-1.zip")
    assert parse_canvas_name("alice_solution.zip") is None
    assert parse_canvas_name("submission_7") is None


def test_submissions_are_joined_by_metadata_canvas_names_and_a_pattern(roster):
    """Is each submission matched by its metadata's email or SID, its Canvas user id, or the
    file-name pattern, and are the unmatched submissions and the students without one listed?"""
    submissions = {
        "submission_1": [{"name": "A L", "email": "ADA@uni.example", "sid": ""}],
        "turingalan_late_5151_9_lab.ipynb": [],
        "stranger_solution.zip": [],
        "ghopper_solution.zip": [],
    }
    joined = join(roster, submissions, pattern="{login}_*")
    by_name = {name: [s.name for s in people] for name, people in joined.students.items()}
    assert by_name == {
        "submission_1": ["Lovelace, Ada"],
        "turingalan_late_5151_9_lab.ipynb": ["Alan Turing"],
        "ghopper_solution.zip": ["Grace Hopper"],
    }
    assert joined.unmatched == ["stranger_solution.zip"]
    assert joined.missing == []
    without_pattern = join(roster, submissions)
    assert without_pattern.unmatched == ["ghopper_solution.zip", "stranger_solution.zip"]
    assert [s.name for s in without_pattern.missing] == ["Grace Hopper"]


def test_two_submissions_of_one_student_are_a_conflict(roster):
    """Are two submissions claiming one student reported, not silently picked between?"""
    joined = join(roster, {"alovelace_a.zip": [], "alovelace_b.zip": []}, pattern="{login}_*")
    assert joined.conflicts == {"Lovelace, Ada": ["alovelace_a.zip", "alovelace_b.zip"]}


@pytest.mark.parametrize("pattern", ["{name}_*", "*", "{login}_{sid}"])
def test_a_bad_pattern_is_refused(roster, pattern):
    """Is a pattern without exactly one roster key in braces refused, saying how to write one?"""
    with pytest.raises(RosterError, match="must name one roster field"):
        join(roster, {"a.zip": []}, pattern=pattern)


def test_names_from_file_names_are_hostile_text():
    """Is a name taken from a file name cut, with control characters dropped?"""
    assert clean_text("bad\x1b[31mname\nhere\t" + "x" * 500)[:18] == "bad[31mnamehere xx"
    assert len(clean_text("x" * 500)) == 200


def test_intake_reads_canvas_students_and_gradescope_times(tmp_path):
    """Does the intake take a Canvas name's student and late marker, Gradescope's
    :created_at:, and a file's time only when asked?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "turingalan_late_5151_9_lab.ipynb").write_text("{}")
    (inbox / "plain.ipynb").write_text("{}")
    (inbox / "course.toml").write_text('due = "2026-12-10T23:59-08:00"\n')
    found = {s.name: s for s in intake.find_submissions([inbox])}
    assert sorted(found) == ["plain.ipynb", "turingalan_late_5151_9_lab.ipynb"]
    canvas = found["turingalan_late_5151_9_lab.ipynb"]
    assert canvas.students == [{"name": "turingalan", "canvas_id": "5151"}]
    assert (canvas.submitted.source, canvas.submitted.late_marker, canvas.submitted.at) == (
        "canvas",
        True,
        "",
    )
    assert found["plain.ipynb"].submitted.at == ""
    stamped = {s.name: s for s in intake.find_submissions([inbox], time_from_mtime=True)}
    assert stamped["plain.ipynb"].submitted.source == "mtime"
    assert stamped["plain.ipynb"].submitted.at.endswith("+00:00")
    export = tmp_path / "export"
    (export / "submission_7").mkdir(parents=True)
    (export / "submission_7" / "lab.ipynb").write_text("{}")
    (export / "submission_metadata.yml").write_text(
        "submission_7:\n"
        "  :created_at: 2026-12-11 08:30:00.123456000 -08:00\n"
        "  :submitters:\n  - :name: Ada\n    :email: ada@uni.example\n    :sid: '1815'\n"
    )
    (gradescope,) = intake.find_submissions([export])
    assert (gradescope.submitted.at, gradescope.submitted.source) == (
        "2026-12-11T08:30:00.123456-08:00",
        "gradescope",
    )


def test_canvas_download_zip_is_recognised_and_refused_whole(tmp_path):
    """Is Canvas's Download Submissions zip, given as one file, refused with a message to
    unzip it (not graded as one student's invalid submission)?"""
    import zipfile

    bulk = tmp_path / "submissions.zip"
    with zipfile.ZipFile(bulk, "w") as archive:
        archive.writestr("lovelaceada_4242_1_lab.ipynb", "{}")
        archive.writestr("turingalan_late_5151_2_lab.zip", b"PK")
    with pytest.raises(intake.GradingError, match="unzip it and grade the folder"):
        intake.find_submissions([bulk])
    student = tmp_path / "export.zip"
    with zipfile.ZipFile(student, "w") as archive:
        archive.writestr("logreg_digits.ipynb", "{}")
    assert [s.name for s in intake.find_submissions([student])] == ["export.zip"]
