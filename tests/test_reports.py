"""What ``labkit grade`` writes for students and TAs: feedback, gradebook, summary, results.json."""

from __future__ import annotations

import csv
import dataclasses

from review_helpers import rows_for, write_gradebook

from labkit.gradebook import reports
from labkit.gradebook.outcome import BatchResult, Outcome, Status
from labkit.gradebook.reports import summary_text
from labkit.grader.verdict import TestVerdict as CaseVerdict
from labkit.grader.verdict import Verdict

POINTS = {"q_one": 2.0, "q_two": 3.0}
SECRET = "SECRET_HIDDEN_LINE"
FLAG = "code cell 4 wrote on the grader's channel or closed it"
SANDBOX = "network not isolated (unshare: Operation not permitted)"
NOTE = "code cell 2 ran longer than 60 s; the notebook was run again without it"


def verdict() -> Verdict:
    return Verdict(
        tests=[
            CaseVerdict("q_one", "test_format", hidden=False, points=0, passed=True),
            CaseVerdict(
                "q_one",
                "test_values",
                hidden=True,
                points=2,
                passed=False,
                message=f"AssertionError: {SECRET} expected 0.93, got 0.12",
            ),
            CaseVerdict("q_two", "test_public", hidden=False, points=0, passed=False, message="x"),
            CaseVerdict("q_two", "test_hidden", hidden=True, points=3, passed=True),
        ],
        possible=dict(POINTS),
        notes=[NOTE],
        flags=[FLAG],
        sandbox=[SANDBOX],
    )


def ok_outcome(name: str = "alice.ipynb", **changes) -> Outcome:
    v = verdict()
    outcome = Outcome(
        name,
        Status.OK,
        scores=v.scores(),
        total=3.0,
        max_total=5.0,
        seconds=12.5,
        submission_sha256="ab" * 32,
        autograder_sha256="cd" * 32,
        flags=list(v.flags),
        notes=list(v.notes),
        sandbox=list(v.sandbox),
        verdict=dataclasses.asdict(v),
    )
    return dataclasses.replace(outcome, **changes)


def feedback_text(outcome: Outcome) -> str:
    """The feedback of one outcome made by hand (no written questions)."""
    _, (row,) = rows_for([outcome], POINTS)
    return reports.feedback_text(row)


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_feedback_for_an_ok_outcome():
    """Does an ok outcome's feedback show the total, each question's score / points (the lines
    of Gradescope's "Scores" entry) and the notes?"""
    text = feedback_text(ok_outcome())
    assert "Submission: alice.ipynb" in text
    assert "Status: ok" in text
    assert "Score: 3 / 5" in text
    lines = text.splitlines()
    scores = lines[lines.index("Score: 3 / 5") + 2 :][:2]
    assert scores == [f"  {'q_one':<18}0 / 2", f"  {'q_two':<18}3 / 3"]
    assert scores == Verdict.from_dict(ok_outcome().verdict).score_lines()
    assert NOTE in lines
    assert "q_one: the public tests pass" in lines
    assert any(line.startswith("q_two: a public test fails") for line in lines)


def test_feedback_never_shows_test_messages_flags_or_sandbox_notes():
    """Is the feedback free of any test message, flag for review or sandbox note?"""
    text = feedback_text(ok_outcome())
    assert SECRET not in text and "AssertionError" not in text
    assert FLAG not in text and "flagged" not in text
    assert SANDBOX not in text


def test_feedback_for_an_invalid_outcome():
    """Does an invalid outcome's feedback give the fixed reason, never outcome.reason's text?"""
    outcome = Outcome(
        "mallory.zip",
        Status.INVALID,
        reason="no notebook in mallory.zip; REASON_TEXT <script>alert(1)</script>",
        max_total=5.0,
    )
    text = feedback_text(outcome)
    assert "Status: invalid" in text
    assert "This submission could not be graded; your TA has the details." in text
    assert "Reason: the grader could not read a notebook in it" in text
    assert "REASON_TEXT" not in text and "<script>" not in text


def test_feedback_for_an_error_outcome_hides_the_reason():
    """Does an error outcome's feedback say only that the TA has the details?"""
    outcome = Outcome("bob.ipynb", Status.ERROR, reason="Traceback: grader exploded at /x/y")
    text = feedback_text(outcome)
    assert "your TA has the details" in text
    assert "Traceback" not in text and "Reason:" not in text


def test_gradebook_columns_and_values(tmp_path):
    """Does the gradebook have the documented header, plain statuses and totals only when ok?"""
    outcomes = [
        ok_outcome("carol.ipynb"),
        ok_outcome(
            "bob.ipynb",
            status=Status.TIMEOUT,
            reason="grading took longer than 480 s and was stopped",
            scores={"q_one": 2.0, "q_two": 0.0},
            total=2.0,
            flags=[],
        ),
        Outcome("dave.zip", Status.INVALID, reason="no notebook in dave.zip", max_total=5.0),
        Outcome("erin.ipynb", Status.ERROR, reason="grading was interrupted", max_total=5.0),
        Outcome("frank.ipynb", Status.PENDING, max_total=5.0),
    ]
    path = tmp_path / "out" / "gradebook.csv"
    write_gradebook(path, outcomes, POINTS)
    rows = read_csv(path)
    assert rows[0] == ["submission", "q_one", "q_two", "total", "max_total", "status", "message"]
    by_name = {row[0]: row for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == sorted(by_name)  # sorted by submission
    assert len(rows) == len(outcomes) + 1
    assert by_name["carol.ipynb"][1:6] == ["0", "3", "3", "5", "ok"]
    assert by_name["bob.ipynb"][1:6] == ["2", "0", "", "5", "timeout"]
    assert by_name["dave.zip"][1:6] == ["", "", "", "5", "invalid"]
    assert by_name["erin.ipynb"][5] == "error"
    assert by_name["frank.ipynb"][5] == "pending"
    for outcome in outcomes:
        assert by_name[outcome.submission][6] == outcome.message
    assert by_name["carol.ipynb"][6] == f"flagged for review: {FLAG}; {NOTE}; {SANDBOX}"
    assert by_name["dave.zip"][6] == "no notebook in dave.zip"


def test_gradebook_message_with_csv_and_html_specials_stays_one_cell(tmp_path):
    """Does a message with newlines, commas, quotes and <script> stay one cell on one row?"""
    nasty = 'line one\nline "two", with, commas\r\n<script>alert("x")</script>'
    outcomes = [
        ok_outcome("a.ipynb", notes=[nasty], flags=['odd "flag",\nhere']),
        Outcome("b.ipynb", Status.INVALID, reason=nasty),
    ]
    path = tmp_path / "gradebook.csv"
    write_gradebook(path, outcomes, POINTS)
    rows = read_csv(path)
    assert len(rows) == 3 and all(len(row) == 7 for row in rows)
    # one line per row in the file itself, too (whitespace runs are folded into one space)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3
    a, b = rows[1][6], rows[2][6]
    assert b == 'line one line "two", with, commas <script>alert("x")</script>'
    assert a == " ".join(outcomes[0].message.split())
    assert a.startswith('flagged for review: odd "flag", here; line one line "two", with, commas')
    assert '<script>alert("x")</script>' in a


def summary_result() -> BatchResult:
    return BatchResult(
        outcomes=[
            ok_outcome("alice.ipynb"),
            ok_outcome(
                "bob.ipynb",
                flags=[],
                notes=["this note says flagged for review but is only a note"],
                scores={"q_one": 2.0, "q_two": 3.0},
                total=5.0,
            ),
            Outcome("carol.zip", Status.INVALID, reason="flagged for review: not really"),
            ok_outcome("dave.ipynb", status=Status.TIMEOUT, flags=["left 2 processes"]),
        ],
        points=dict(POINTS),
        seconds=42.04,
        skipped=2,
        sandbox=[SANDBOX],
    )


def test_summary_lists_flagged_submissions_from_flags_only():
    """Are only outcomes with flags listed as flagged, not one whose text merely says so?"""
    text = summary_text(summary_result())
    [line] = [line for line in text.splitlines() if line.startswith("flagged for review")]
    assert line == "flagged for review: 2 (alice.ipynb, dave.ipynb); see the message column"
    assert "bob.ipynb" not in text and "carol.zip" not in text


def test_summary_counts_statuses():
    """Does the summary count each status, the ones already graded and the time?"""
    text = summary_text(summary_result())
    assert "4 submissions (ok 2, timeout 1, invalid 1; 2 already graded) in 42.0 s" in text
    assert f"sandbox: {SANDBOX}" in text
    assert "total: mean 4.00 / 5, median 4, min 3, max 5" in text


def test_outcome_json_round_trip():
    """Does Outcome.from_json(to_json()) give an equal outcome, with status an enum?"""
    for outcome in [
        ok_outcome(),
        Outcome("x.zip", Status.INVALID, reason='bad, "zip"\n<b>'),
        Outcome("y.ipynb", Status.PENDING),
    ]:
        back = Outcome.from_json(outcome.to_json())
        assert back == outcome
        assert isinstance(back.status, Status) and back.status is outcome.status
        assert back.message == outcome.message
    # the verdict stored in the outcome is still readable by the feedback
    assert feedback_text(Outcome.from_json(ok_outcome().to_json())) == feedback_text(ok_outcome())


def test_summary_handles_a_question_worth_no_points(tmp_path):
    """Does a practice question worth 0 points leave the summary and its plot intact?"""
    result = BatchResult(
        [Outcome("a.ipynb", Status.OK, scores={"q": 1.0, "practice": 0.0}, total=1, max_total=1)],
        {"q": 1.0, "practice": 0.0},
        1.0,
        0,
    )
    text = reports.summary_text(result)
    assert "practice" in text and "100%" in text
    reports.write_summary_png(tmp_path / "summary.png", result)
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
