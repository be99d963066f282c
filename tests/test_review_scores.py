"""Written scores in the reports (gradebook, feedback) and their export and import as CSV."""

from __future__ import annotations

import csv

import pytest
from review_helpers import POINTS, QUESTIONS, graded_folder, outcome, rows_for, write_gradebook

from labkit.gradebook import reports
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.scores_csv import export_scores, import_scores
from labkit.gradebook.store import ReviewStore

WRITTEN_POINTS = {q.name: q.points for q in QUESTIONS}


def read_gradebook(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_gradebook_has_written_columns_and_counts_graded_scores(tmp_path):
    """Does the gradebook show each written score, how many are graded, and totals with them?"""
    grades = {("a.ipynb", "q_essay"): reports.WrittenScore(1.5, "good")}
    outcomes = [
        outcome("a.ipynb", {}),
        outcome("b.ipynb", {}),
        Outcome("c.zip", Status.INVALID, reason="broken", max_total=3.0),
    ]
    path = tmp_path / "gradebook.csv"
    write_gradebook(path, outcomes, POINTS, written_points=WRITTEN_POINTS, written=grades)
    rows = read_gradebook(path)
    assert list(rows[0]) == [
        "submission",
        "q_auto",
        "q_essay",
        "q_short",
        "written_graded",
        "written_stale",
        "total",
        "max_total",
        "status",
        "message",
    ]
    a, b, c = rows
    assert (a["q_essay"], a["q_short"], a["written_graded"], a["total"]) == ("1.5", "", "1", "3.5")
    assert (b["q_essay"], b["written_graded"], b["total"], b["max_total"]) == ("", "0", "2", "6")
    assert (c["total"], c["max_total"], c["status"]) == ("", "6", "invalid")


def test_gradebook_without_written_questions_is_as_before(tmp_path):
    """Does a zip without written questions give the gradebook's old columns?"""
    path = tmp_path / "gradebook.csv"
    write_gradebook(path, [outcome("a.ipynb", {})], POINTS)
    assert path.read_text().splitlines()[0] == "submission,q_auto,total,max_total,status,message"


def test_student_columns_appear_with_metadata(tmp_path):
    """Do name, email and sid columns appear once any submission has submitters?"""
    people = [
        {"name": "Ada L", "email": "ada@x.edu", "sid": "1"},
        {"name": "Bob", "email": "bob@x.edu", "sid": "2"},
    ]
    outcomes = [outcome("s1", {}, students=people), outcome("s2", {})]
    path = tmp_path / "gradebook.csv"
    write_gradebook(path, outcomes, POINTS)
    rows = read_gradebook(path)
    assert list(rows[0])[:4] == ["submission", "name", "email", "sid"]
    assert (rows[0]["name"], rows[0]["email"], rows[0]["sid"]) == (
        "Ada L; Bob",
        "ada@x.edu; bob@x.edu",
        "1; 2",
    )
    assert (rows[1]["name"], rows[1]["sid"]) == ("", "")


def test_feedback_shows_written_scores_comments_and_rubric_items():
    """Does the student read each written score, its comment and the rubric items applied?"""
    grades = {
        ("a.ipynb", "q_essay"): reports.WrittenScore(
            1.5, "Good pairs.\nSay why.", ("names both pairs (+2)", "no reason (-0.5)")
        )
    }
    _, (row,) = rows_for([outcome("a.ipynb", {})], POINTS, WRITTEN_POINTS, written=grades)
    text = reports.feedback_text(row)
    assert "Points so far: 3.5 of 6." in text
    essay = text.index("q_essay")
    assert "1.5 / 2" in text[essay:]
    assert (
        "    - names both pairs (+2)\n    - no reason (-0.5)\n    Good pairs.\n    Say why." in text
    )
    assert "q_short" in text and "not graded yet / 1" in text


@pytest.fixture
def out(tmp_path):
    return graded_folder(tmp_path / "out")


def test_refresh_rewrites_gradebook_and_feedback_from_the_store(out):
    """After a score is saved, does refresh_reports put it in the gradebook and the feedback?"""
    with ReviewStore.open(out) as store:
        item = store.add_rubric_item("q_essay", points=2, text="both pairs named")
        store.apply_rubric_item("alice.ipynb", "q_essay", item.id, applied=True)
        store.set_comment("alice.ipynb", "q_essay", "Well argued.")
        store.set_score("bob.ipynb", "q_short", 1)
    refresh_reports(GradedFolder(out), submissions=["alice.ipynb"])
    rows = {r["submission"]: r for r in read_gradebook(out / "gradebook.csv")}
    assert (rows["alice.ipynb"]["q_essay"], rows["alice.ipynb"]["total"]) == ("2", "4")
    assert (rows["bob.ipynb"]["q_short"], rows["bob.ipynb"]["written_graded"]) == ("1", "1")
    assert rows["carol.ipynb"]["max_total"] == "6"
    feedback = (out / "alice.ipynb" / "feedback.txt").read_text()
    assert "both pairs named (+2)" in feedback and "Well argued." in feedback
    assert not (out / "bob.ipynb" / "feedback.txt").exists()
    refresh_reports(GradedFolder(out))
    assert "1 / 1" in (out / "bob.ipynb" / "feedback.txt").read_text()
    before = (out / "gradebook.csv").read_bytes()
    refresh_reports(GradedFolder(out))
    assert (out / "gradebook.csv").read_bytes() == before


def test_refresh_keeps_pending_rows(out):
    """Does a submission listed as pending (a stopped batch) stay in the gradebook?"""
    write_gradebook(out / "gradebook.csv", [Outcome("zed.ipynb", Status.PENDING)], POINTS)
    refresh_reports(GradedFolder(out))
    rows = {r["submission"]: r["status"] for r in read_gradebook(out / "gradebook.csv")}
    assert rows == {
        "alice.ipynb": "ok",
        "bob.ipynb": "ok",
        "carol.ipynb": "ok",
        "zed.ipynb": "pending",
    }


def test_export_then_import_is_a_round_trip(out, tmp_path):
    """Does importing an export into a fresh store give the same grades back?"""
    with ReviewStore.open(out) as store:
        store.set_score("alice.ipynb", "q_essay", 1.5)
        store.set_comment("alice.ipynb", "q_essay", 'Say "why", please,\nwith pairs.')
        store.set_score("carol.ipynb", "q_short", 0)
    exported = tmp_path / "scores.csv"
    assert export_scores(out, exported) == 6
    rows = read_gradebook(exported)
    assert list(rows[0]) == ["submission", "question", "score", "comment", "rubric"]
    fresh = graded_folder(tmp_path / "fresh")
    assert import_scores(fresh, exported) == 6
    again = tmp_path / "again.csv"
    export_scores(fresh, again)
    assert again.read_bytes() == exported.read_bytes()
    with ReviewStore.open(fresh) as store:
        grade = store.grade("alice.ipynb", "q_essay")
        assert (grade.score, grade.comment) == (1.5, 'Say "why", please,\nwith pairs.')
        assert store.grade("bob.ipynb", "q_essay").score is None
    assert read_gradebook(fresh / "gradebook.csv")[0]["q_essay"] == "1.5"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([["dave.ipynb", "q_essay", "1", ""]], "row 3: unknown submission 'dave.ipynb'"),
        ([["bob.ipynb", "q_nope", "1", ""]], "row 3: unknown written question 'q_nope'"),
        ([["bob.ipynb", "q_essay", "2.5", ""]], "row 3: the score must be between 0 and 2"),
        ([["bob.ipynb", "q_essay", "0.7", ""]], "row 3: the score must be a multiple of 0.5"),
        ([["bob.ipynb", "q_essay", "lots", ""]], "row 3: the score 'lots' is not a number"),
        ([["bob.ipynb", "q_essay", "1"]], "row 3: expected 4 values, found 3"),
        ([["bob.ipynb", "q_short", "1", "again"]], "row 3: bob.ipynb q_short is on row 2 too"),
    ],
)
def test_a_bad_row_imports_nothing(out, tmp_path, rows, problem):
    """Does any bad row refuse the whole file, naming the row and the problem?"""
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "question", "score", "comment"])
        writer.writerow(["bob.ipynb", "q_short", "1", "fine"])
        writer.writerows(rows)
    with pytest.raises(GradebookError, match=problem):
        import_scores(out, path)
    with ReviewStore.open(out) as store:
        grade = store.grade("bob.ipynb", "q_short")
        assert (grade.score, grade.comment) == (None, "")


@pytest.mark.parametrize("text", ["", "sub,q,score,comment\n", b"\xff\xfe".decode("latin-1")])
def test_a_file_without_the_header_is_refused(out, tmp_path, text):
    """Is a file without the expected header refused, naming row 1?"""
    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(GradebookError, match="row 1 must be the header"):
        import_scores(out, path)


def test_the_review_command_exports_and_imports(out, tmp_path):
    """Do 'labkit review --export/--import' round-trip, and a bad file exit non-zero?"""
    from click.testing import CliRunner

    from labkit.cli import main

    path = tmp_path / "scores.csv"
    exported = CliRunner().invoke(main, ["review", str(out), "--export", str(path)])
    assert exported.exit_code == 0, exported.output
    path.write_text(path.read_text().replace("bob.ipynb,q_essay,,", "bob.ipynb,q_essay,2,ok"))
    imported = CliRunner().invoke(main, ["review", str(out), "--import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert read_gradebook(out / "gradebook.csv")[1]["q_essay"] == "2"
    path.write_text(path.read_text().replace("bob.ipynb,q_essay,2,ok", "bob.ipynb,q_essay,3,no"))
    refused = CliRunner().invoke(main, ["review", str(out), "--import", str(path)])
    assert refused.exit_code == 1 and "row 4: the score must be between 0 and 2" in refused.output
    assert read_gradebook(out / "gradebook.csv")[1]["q_essay"] == "2"
