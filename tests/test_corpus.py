"""End-to-end grading of the submission corpus in ``tests/submissions/``.

Each notebook there is the solution notebook with one behaviour changed, named after it, or the
blank student notebook (``blank``). ``expected_scores.csv`` gives the score that each autograded
question must earn, as the lab's spec asks: full marks for the correct variants, and for each
mistake a loss in its own question only. The slow tests grade the corpus with ``otter run`` and
compare every score; the fast tests check the table and the notebooks themselves.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from both_paths import otter_scores

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
EXPECTED_CSV = SUBMISSIONS / "expected_scores.csv"
POINTS = {
    "q_z": 2,
    "q_softmax": 3,
    "q_predict": 1,
    "q_preprocess": 3,
    "q_center_bonus": 1,
    "q_l1": 3,
    "q_l1_sweep": 2,
}
QUESTIONS = list(POINTS)
BLANK = "blank"
FLAGS = "Flagged for review"  # the TA-only entry of flags, and the key they are kept under

# Mistakes that the hidden tests don't grade as the spec asks yet: the table holds the spec's score,
# and here is the score they get today (only the questions that differ) and why. Such a row is
# reported as xfailed while it gets exactly today's score; once the named test is fixed, the row
# gets the table's score and fails until its entry here is removed.
KNOWN_GRADING_GAPS: dict[str, tuple[dict[str, float], str]] = {}


def read_expected() -> dict[str, dict[str, float]]:
    """Map each submission in ``expected_scores.csv`` to its expected score per question."""
    with EXPECTED_CSV.open(newline="") as f:
        return {
            row["submission"]: {q: float(row[q]) for q in QUESTIONS} for row in csv.DictReader(f)
        }


EXPECTED = read_expected()


@pytest.fixture(scope="session")
def corpus_scores(graded_both_ways) -> dict[str, dict[str, float] | str]:
    """The corpus graded with ``otter run``: each question's score (and the TA-only flags)."""
    graded = {}
    for name in EXPECTED:
        otter = graded_both_ways[f"submissions/{name}.ipynb"]["otter"]
        scores = otter_scores(otter)
        if scores is None:
            graded[name] = f"otter run graded nothing for {name}:\n{otter['stderr'][-3000:]}"
            continue
        flags = [t["output"] for t in otter["results"]["tests"] if t["name"].startswith(FLAGS)]
        graded[name] = {**scores, FLAGS: flags} if flags else scores
    return graded


@pytest.fixture(scope="session")
def labkit_scores(graded_both_ways) -> dict[str, dict[str, float] | str]:
    """The corpus graded in one ``labkit grade`` batch."""
    graded = {}
    for name in EXPECTED:
        outcome = graded_both_ways[f"submissions/{name}.ipynb"]["labkit"]["outcome"]
        if outcome["status"] != "ok":
            graded[name] = f"{outcome['status']}: {outcome['reason']}"
            continue
        flags = {FLAGS: outcome["flags"]} if outcome["flags"] else {}
        graded[name] = {**outcome["scores"], **flags}
    return graded


@pytest.mark.graded
@pytest.mark.parametrize("submission", sorted(EXPECTED))
def test_labkit_grade_matches_otter_run(submission, corpus_scores, labkit_scores):
    """Does ``labkit grade`` give each question the very score ``otter run`` gives?"""
    otter, labkit = corpus_scores[submission], labkit_scores[submission]
    if isinstance(otter, str) or isinstance(labkit, str):
        pytest.fail(f"otter run: {otter}\nlabkit grade: {labkit}")
    assert {q: labkit.get(q) for q in QUESTIONS} == {q: otter.get(q) for q in QUESTIONS}


@pytest.mark.graded
@pytest.mark.parametrize("submission", sorted(EXPECTED))
def test_honest_work_is_never_flagged(submission, corpus_scores, labkit_scores):
    """No submission of the corpus (right or wrong, never cheating) is flagged for review."""
    for graded in (corpus_scores[submission], labkit_scores[submission]):
        assert isinstance(graded, dict) and FLAGS not in graded, graded


@pytest.mark.graded
@pytest.mark.parametrize("submission", sorted(EXPECTED))
def test_submission_scores(submission, corpus_scores):
    """Does otter give every autograded question of the submission its score in the table?"""
    got = corpus_scores[submission]
    if isinstance(got, str):
        pytest.fail(got)
    scores = {q: got.get(q) for q in QUESTIONS}
    if submission in KNOWN_GRADING_GAPS:
        today, reason = KNOWN_GRADING_GAPS[submission]
        assert scores != EXPECTED[submission], (
            f"{submission} now gets the table's scores: remove it from KNOWN_GRADING_GAPS"
        )
        assert scores == {**EXPECTED[submission], **today}
        pytest.xfail(reason)
    assert scores == EXPECTED[submission]


def test_table_lists_exactly_the_corpus_notebooks():
    """Does the table have the expected columns and one row for each notebook of the corpus?"""
    with EXPECTED_CSV.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["submission", *QUESTIONS]
    names = [row[0] for row in rows[1:]]
    assert len(names) == len(set(names)), "a submission is listed twice"
    assert sorted(names) == sorted(path.stem for path in SUBMISSIONS.glob("*.ipynb"))
    assert set(KNOWN_GRADING_GAPS) <= set(names)
    for name, (today, _) in KNOWN_GRADING_GAPS.items():
        assert today and all(EXPECTED[name][q] != score for q, score in today.items()), name


def test_table_scores_are_within_each_questions_points():
    """Is every expected score between 0 and its question's points?"""
    wrong = {
        (name, q): score
        for name, scores in EXPECTED.items()
        for q, score in scores.items()
        if not 0 <= score <= POINTS[q]
    }
    assert not wrong


def test_every_mistake_loses_points_in_exactly_one_question():
    """Does each mistake cost points in one question only, with blank at 0 and solution full?"""
    assert EXPECTED[BLANK] == dict.fromkeys(QUESTIONS, 0.0)
    assert EXPECTED["solution"] == {q: float(p) for q, p in POINTS.items()}
    mistakes = {
        name: [q for q in QUESTIONS if scores[q] < POINTS[q]]
        for name, scores in EXPECTED.items()
        if name != BLANK
    }
    mistakes = {name: losing for name, losing in mistakes.items() if losing}
    assert {name: losing for name, losing in mistakes.items() if len(losing) != 1} == {}
    per_question = {q: sum(losing == [q] for losing in mistakes.values()) for q in QUESTIONS}
    assert min(per_question.values()) >= 2, f"mistakes per question: {per_question}"


def test_corpus_notebooks_are_valid_and_have_no_outputs():
    """Is every notebook of the corpus valid, with no outputs or execution counts?"""
    dirty = []
    for path in sorted(SUBMISSIONS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        if any(cell.outputs or cell.execution_count is not None for cell in code):
            dirty.append(path.name)
    assert not dirty
