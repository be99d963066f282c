"""The review store: scores, rubrics, staleness, concurrent writers, refusals."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from review_helpers import graded_folder, outcome, write_outcome

from labkit.gradebook.folder import GradebookError
from labkit.gradebook.refresh import load_rows
from labkit.gradebook.store import ReviewStore


@pytest.fixture
def out(tmp_path):
    return graded_folder(tmp_path / "out")


@pytest.fixture
def store(out):
    with ReviewStore.open(out) as opened:
        yield opened


def test_open_copies_questions_and_answers(store):
    """Are the questions, answers and autograded results read from the output folder?"""
    assert [q.name for q in store.questions()] == ["q_essay", "q_short"]
    assert store.question("q_essay").points == 2.0
    answers = store.answers("q_essay")
    assert [a.submission for a in answers] == ["alice.ipynb", "bob.ipynb", "carol.ipynb"]
    assert answers[0].cells[0]["source"] == "Because."
    assert [a.empty for a in answers] == [False, False, True]
    assert all(a.grade.score is None and not a.grade.stale for a in answers)
    row = store.submission("alice.ipynb")
    assert (row.status, row.scores) == ("ok", {"q_auto": 2.0})
    assert row.tests[0]["test"] == "test_h" and row.tests[0]["passed"] is True
    assert store.progress("q_essay") == (0, 3, 0)


def test_unknown_names_are_refused(store):
    """Does the store name what it does not know?"""
    with pytest.raises(GradebookError, match="q_nope"):
        store.question("q_nope")
    with pytest.raises(GradebookError, match="dave"):
        store.submission("dave.ipynb")
    with pytest.raises(GradebookError, match="dave"):
        store.set_score("dave.ipynb", "q_essay", 1)
    with pytest.raises(GradebookError, match="q_nope"):
        store.set_score("alice.ipynb", "q_nope", 1)


def test_typed_scores_count_in_the_total(store):
    """Does a typed score count in the total, and progress, once set?"""
    grade = store.set_score("alice.ipynb", "q_essay", 1.5)
    assert grade.score == 1.5 and grade.updated_at
    assert _total(store, "alice.ipynb") == 3.5
    assert store.progress("q_essay") == (1, 3, 0)
    assert store.set_score("alice.ipynb", "q_essay", None).score is None
    assert _total(store, "alice.ipynb") == 2.0


def _total(store, submission: str) -> float:
    """The submission's total, as every report counts it."""
    _, rows, _ = load_rows(store)
    return next(row.totals.total for row in rows if row.submission == submission)


@pytest.mark.parametrize("score", [-0.5, 2.5, 0.3, float("nan"), "1", True])
def test_out_of_range_scores_are_refused(store, score):
    """Is a score outside [0, points], not a half point or not a number refused, unsaved?"""
    store.set_score("alice.ipynb", "q_essay", 1)
    with pytest.raises(GradebookError, match="score"):
        store.set_score("alice.ipynb", "q_essay", score)
    assert store.grade("alice.ipynb", "q_essay").score == 1


def test_comments_keep_the_score(store):
    """Does a comment leave the score alone, ungraded included?"""
    assert store.set_comment("bob.ipynb", "q_short", "see me").score is None
    store.set_score("bob.ipynb", "q_short", 1)
    grade = store.set_comment("bob.ipynb", "q_short", "well done")
    assert (grade.score, grade.comment) == (1, "well done")


def test_rubric_items_make_the_score(store):
    """Do applied items add up, start from 0, clamp to [0, points] and follow typed scores?"""
    good = store.add_rubric_item("q_essay", points=1.5, text="names the pairs")
    bad = store.add_rubric_item("q_essay", points=-1, text="no reason given")
    assert [i.text for i in store.rubric("q_essay")] == ["names the pairs", "no reason given"]
    assert store.apply_rubric_item("alice.ipynb", "q_essay", bad.id, applied=True).score == 0
    grade = store.apply_rubric_item("alice.ipynb", "q_essay", good.id, applied=True)
    assert (grade.score, grade.rubric_ids) == (0.5, (good.id, bad.id))
    # A typed score keeps the items: the adjustment takes up the difference.
    assert store.set_score("alice.ipynb", "q_essay", 2).score == 2
    assert store.apply_rubric_item("alice.ipynb", "q_essay", bad.id, applied=False).score == 2
    assert store.grade("alice.ipynb", "q_essay").rubric_ids == (good.id,)


def test_editing_an_item_moves_every_score_it_is_applied_to(store):
    """Does a rubric edit propagate to every answer, and a deletion take its points away?"""
    item = store.add_rubric_item("q_essay", points=1, text="right pairs")
    store.apply_rubric_item("alice.ipynb", "q_essay", item.id, applied=True)
    store.apply_rubric_item("bob.ipynb", "q_essay", item.id, applied=True)
    store.set_score("carol.ipynb", "q_essay", 0.5)
    updated = store.update_rubric_item(item.id, points=2, text="both right pairs")
    assert (updated.points, updated.text) == (2, "both right pairs")
    scores = {a.submission: a.grade.score for a in store.answers("q_essay")}
    assert scores == {"alice.ipynb": 2, "bob.ipynb": 2, "carol.ipynb": 0.5}
    store.delete_rubric_item(item.id)
    scores = {a.submission: a.grade.score for a in store.answers("q_essay")}
    assert scores == {"alice.ipynb": 0, "bob.ipynb": 0, "carol.ipynb": 0.5}
    assert store.rubric("q_essay") == []


@pytest.mark.parametrize("points", [2.5, -3, 0.25])
def test_bad_rubric_points_are_refused(store, points):
    """Are an item's points limited to half points within the question's points?"""
    with pytest.raises(GradebookError, match="points"):
        store.add_rubric_item("q_essay", points=points, text="x")
    assert store.rubric("q_essay") == []


def test_items_of_another_question_are_refused(store):
    """Can an item of one question be applied to another? (No.)"""
    item = store.add_rubric_item("q_short", points=1, text="x")
    with pytest.raises(GradebookError, match="belongs to q_short"):
        store.apply_rubric_item("alice.ipynb", "q_essay", item.id, applied=True)
    with pytest.raises(GradebookError, match="no rubric item 999"):
        store.update_rubric_item(999, points=1)


def test_regrading_keeps_grades_and_marks_changed_answers_stale(out):
    """After a regrade, are the grades kept, and stale exactly where the answer changed?"""
    with ReviewStore.open(out) as store:
        store.set_score("alice.ipynb", "q_essay", 2)
        store.set_score("bob.ipynb", "q_essay", 1)
        store.set_comment("bob.ipynb", "q_essay", "ok")
    write_outcome(out, outcome("alice.ipynb", {"q_essay": "Because, now longer.", "q_short": "x"}))
    write_outcome(out, outcome("bob.ipynb", {"q_essay": "No idea", "q_short": "That"}))
    with ReviewStore.open(out) as store:
        alice = store.grade("alice.ipynb", "q_essay")
        bob = store.grade("bob.ipynb", "q_essay")
        assert (alice.score, alice.stale) == (2, True)
        assert (bob.score, bob.stale, bob.comment) == (1, False, "ok")
        assert store.answers("q_essay")[0].cells[0]["source"] == "Because, now longer."
        # Scoring it again says the TA has seen the new answer.
        assert not store.set_score("alice.ipynb", "q_essay", 1).stale


def test_a_removed_results_file_removes_the_submission(out):
    """Does a submission whose results.json is gone leave the lists (its grades kept)?"""
    with ReviewStore.open(out) as store:
        store.set_score("bob.ipynb", "q_essay", 1)
    (out / "bob.ipynb" / "results.json").unlink()
    with ReviewStore.open(out) as store:
        assert [r.name for r in store.submissions()] == ["alice.ipynb", "carol.ipynb"]
    write_outcome(out, outcome("bob.ipynb", {"q_essay": "No idea", "q_short": "That"}))
    with ReviewStore.open(out) as store:
        assert store.grade("bob.ipynb", "q_essay").score == 1


def test_the_database_is_wal(store, out):
    """Is the store in WAL mode, so that readers never wait for a writer?"""
    with sqlite3.connect(out / "review.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_connections_write_at_once(out):
    """Do two stores, created at the same time and writing at once, both succeed?"""
    errors = []
    start = threading.Barrier(2)

    def grade(question: str, points: float) -> None:
        try:
            start.wait()
            with ReviewStore.open(out) as own:
                for k in range(30):
                    item = own.add_rubric_item(question, points=points, text=f"item {k}")
                    own.apply_rubric_item("alice.ipynb", question, item.id, applied=k % 2 == 0)
                    own.set_comment("bob.ipynb", question, f"comment {k}")
        except Exception as exc:  # reported below, with the thread's question
            errors.append(f"{question}: {exc!r}")

    threads = [threading.Thread(target=grade, args=a) for a in (("q_essay", 1), ("q_short", 0.5))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with ReviewStore.open(out) as store:
        assert len(store.rubric("q_essay")) == len(store.rubric("q_short")) == 30
        assert store.grade("bob.ipynb", "q_short").comment == "comment 29"
        assert len(store.grade("alice.ipynb", "q_essay").rubric_ids) == 15


def test_a_broken_questions_file_is_named(out):
    """Does a corrupt written_questions.json give an error naming it?"""
    (out / "written_questions.json").write_text("{not json")
    with pytest.raises(GradebookError, match="written_questions.json"):
        ReviewStore.open(out)


def test_a_missing_folder_is_named(tmp_path):
    """Does opening a folder that does not exist say so, creating nothing?"""
    with pytest.raises(GradebookError, match="no such folder"):
        ReviewStore.open(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_an_older_store_keeps_its_grades_and_rebuilds_its_copies(out):
    """Does a store of an older schema (its copies shaped otherwise) keep every grade, rubric
    item and comment, and rebuild the copies from the folder?"""
    with ReviewStore.open(out) as store:
        item = store.add_rubric_item("q_essay", points=1, text="names the pairs")
        store.apply_rubric_item("alice.ipynb", "q_essay", item.id, applied=True)
        store.set_comment("bob.ipynb", "q_short", "see me")
    db = sqlite3.connect(out / "review.sqlite")
    db.executescript(
        "DROP TABLE submissions; CREATE TABLE submissions (name TEXT PRIMARY KEY, status TEXT);"
        "INSERT INTO submissions VALUES ('ghost.ipynb', 'ok'); PRAGMA user_version = 1;"
    )
    db.close()
    with ReviewStore.open(out) as store:
        assert [row.name for row in store.submissions()] == [
            "alice.ipynb",
            "bob.ipynb",
            "carol.ipynb",
        ]
        assert store.grade("alice.ipynb", "q_essay").score == 1
        assert store.grade("alice.ipynb", "q_essay").rubric_ids == (item.id,)
        assert store.grade("bob.ipynb", "q_short").comment == "see me"


def test_a_newer_store_is_refused(out):
    """Is a store written by a newer schema refused with a message, not misread?"""
    ReviewStore.open(out).close()
    db = sqlite3.connect(out / "review.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(GradebookError, match="newer labkit"):
        ReviewStore.open(out)
