"""Late work: one policy (--due, --late-policy or course.toml), submission times from what the
LMS wrote, penalties in the gradebook and the feedback, a missing time a note and no guess."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from lastmile_helpers import FULL, answers, make_folder, outcome_data, read_gradebook

from labkit.cli import main
from labkit.gradebook.course import Course, CourseError, resolve_course
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.late import LateError, LatePolicy, lateness, parse_due, parse_policy
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore

DUE = "2026-12-10T23:59-08:00"
POLICY = "grace=15m,per-day=10%,max-days=3"


def test_the_policy_string_is_read():
    """Are grace, per-day and max-days read as seconds, a share and days?"""
    assert parse_policy(POLICY) == LatePolicy(grace_seconds=900, per_day=0.1, max_days=3)
    assert parse_policy("per-day=25%") == LatePolicy(per_day=0.25)
    assert parse_policy(POLICY).describe() == POLICY


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("grace=15m,late=1", "unknown key 'late'"),
        ("per-day=10", "per-day must be a percentage"),
        ("per-day=10%,per-day=5%", "per-day is given twice"),
        ("grace", "must be key=value"),
        ("grace=soon", "grace must look like 15m"),
        ("max-days=2.5", "max-days must be a whole number"),
    ],
)
def test_a_bad_policy_says_what_is_wrong(text, problem):
    """Is a policy string with an unknown key, a bare number or a repeat refused, saying why?"""
    with pytest.raises(LateError, match=problem):
        parse_policy(text)


@pytest.mark.parametrize("text", ["2026-12-10T23:59", "next friday", "2026-13-01T00:00Z"])
def test_a_due_date_needs_a_date_time_and_zone(text):
    """Is a due date without its time zone, or not a date, refused?"""
    with pytest.raises(LateError, match="due date"):
        parse_due(text)


@pytest.mark.parametrize(
    ("late_by", "days", "fraction"),
    [
        (timedelta(minutes=-5), 0, 0.0),
        (timedelta(minutes=14), 0, 0.0),
        (timedelta(minutes=16), 1, 0.1),
        (timedelta(hours=25), 2, 0.2),
        (timedelta(days=3), 3, 0.3),
        (timedelta(days=3, seconds=1), 4, 1.0),
    ],
)
def test_days_late_round_up_and_past_max_days_nothing_counts(late_by, days, fraction):
    """Is lateness counted in whole days rounded up from the due date, within the grace free,
    and beyond max-days a penalty of 100%?"""
    due = parse_due(DUE)
    found = lateness(due=due, policy=parse_policy(POLICY), submitted_at=due + late_by)
    assert (found.days, found.fraction) == (days, pytest.approx(fraction))


def test_a_missing_time_is_a_note_not_a_guess():
    """Does a submission without a time get no penalty and a note; a Canvas-marked one a note
    that Canvas called it late; an unmarked Canvas one count as on time?"""
    due, policy = parse_due(DUE), parse_policy(POLICY)
    unknown = lateness(due=due, policy=policy, submitted_at=None)
    assert (unknown.fraction, unknown.days) == (None, None)
    assert "time is unknown: no penalty was applied" in unknown.note
    marked = lateness(due=due, policy=policy, submitted_at=None, time_source="canvas",
                      late_marker=True)  # fmt: skip
    assert marked.fraction is None and "Canvas marks it late" in marked.note
    on_time = lateness(due=due, policy=policy, submitted_at=None, time_source="canvas")
    assert (on_time.days, on_time.fraction) == (0, 0.0)


def test_course_toml_is_read_and_the_options_win(tmp_path):
    """Does course.toml give the due date and policy, the command line override it, and a bad
    one name the file?"""
    toml = tmp_path / "course.toml"
    toml.write_text(
        'due = "2026-12-10T23:59-08:00"\ngrace = "15m"\nper-day = "10%"\nmax-days = 3\n'
    )
    course = resolve_course(stored=Course(), toml_path=toml)
    assert (course.due, course.policy) == (parse_due(DUE), parse_policy(POLICY))
    course = resolve_course(stored=Course(), toml_path=toml, late_policy="per-day=5%")
    assert course.policy == LatePolicy(per_day=0.05)
    toml.write_text("due = 2026-12-10T23:59:00-08:00\nlate = 1\n")
    with pytest.raises(CourseError, match="course.toml: unknown key\\(s\\) late"):
        resolve_course(stored=Course(), toml_path=toml)
    with pytest.raises(CourseError, match="a late policy needs a due date"):
        resolve_course(stored=Course(), late_policy=POLICY)


@pytest.fixture
def late_folder(tmp_path):
    """Four submissions: on time, a day late, time unknown, Canvas-marked late; all graded."""
    due = parse_due(DUE)
    outcomes = [
        outcome_data("ontime.ipynb", FULL, answers=answers(),
                     submitted_at=(due - timedelta(hours=1)).isoformat(), time_source="gradescope"),
        outcome_data("late.ipynb", FULL, answers=answers(),
                     submitted_at=(due + timedelta(hours=3)).isoformat(), time_source="gradescope"),
        outcome_data("unknown.ipynb", FULL, answers=answers()),
        outcome_data("turingalan_late_5151_9_lab.ipynb", FULL, answers=answers(),
                     time_source="canvas", late_marker=True),
    ]  # fmt: skip
    out = make_folder(tmp_path / "out", outcomes)
    course = Course(due=due, policy=parse_policy(POLICY))
    (out / "course.json").write_text(course.to_json())
    with ReviewStore.open(out) as store:
        for data in outcomes:
            store.set_score(data["submission"], "q_confusion", 2)
            store.set_score(data["submission"], "q_reading", 1)
    refresh_reports(GradedFolder(out))
    return out


def test_the_gradebook_shows_time_lateness_penalty_and_both_totals(late_folder):
    """Does each row give submitted_at, lateness, the penalty and the totals before and after,
    and a missing time a note in the message instead of a penalty?"""
    rows = read_gradebook(late_folder)
    late = rows["late.ipynb"]
    assert (late["lateness"], late["penalty"], late["total_before_penalty"], late["total"]) == (
        "3:00:00",
        "10%",
        "9",
        "8.1",
    )
    assert late["submitted_at"] == "2026-12-11T02:59:00-08:00"
    ontime = rows["ontime.ipynb"]
    assert (ontime["lateness"], ontime["penalty"], ontime["total"]) == ("0:00:00", "0%", "9")
    unknown = rows["unknown.ipynb"]
    assert (unknown["lateness"], unknown["penalty"], unknown["total"]) == ("unknown", "", "9")
    assert "its submission time is unknown" in unknown["message"]
    canvas = rows["turingalan_late_5151_9_lab.ipynb"]
    assert "Canvas marks it late" in canvas["message"]


def test_the_feedback_states_the_penalty(late_folder):
    """Does the late student read the penalty and the score before it?"""
    feedback = (late_folder / "late.ipynb" / "feedback.txt").read_text()
    assert "Score: 8.1 / 8 after a late penalty of 0.9 (9 before it)" in feedback
    assert "1 day late: a penalty of 10%" in feedback
    assert "on time" in (late_folder / "ontime.ipynb" / "feedback.txt").read_text()


def test_a_roster_extension_moves_the_due_date(late_folder):
    """Does a student's extension in the roster move their own due date?"""
    (late_folder / "roster.json").write_text(
        json.dumps(
            {
                "source": "roster.csv",
                "students": [
                    {"name": "Late One", "email": "late@uni.example", "sid": "9",
                     "section": "", "canvas_id": "", "login": "late", "extension": "1d"}
                ],
            }
        )
    )  # fmt: skip
    (late_folder / "course.json").write_text(
        Course(due=parse_due(DUE), policy=parse_policy(POLICY), name_pattern="{login}.*").to_json()
    )
    refresh_reports(GradedFolder(late_folder))
    late = read_gradebook(late_folder)["late.ipynb"]
    assert (late["penalty"], late["total"]) == ("0%", "9")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--due", "2026-12-10 23:59"], "needs its time zone"),
        (["--due", DUE, "--late-policy", "per-day=ten"], "per-day must be a percentage"),
        (["--late-policy", POLICY], "needs a due date"),
    ],
)
def test_bad_settings_stop_labkit_grade_before_anything_is_written(
    tmp_path, autograder_zip, options, problem
):
    """Does labkit grade with a bad due date or policy exit 1, say what is wrong, and write
    nothing?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.ipynb").write_text("{}")
    out = tmp_path / "out"
    args = ["grade", str(inbox), "-a", str(autograder_zip), "-o", str(out), *options]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and problem in result.output
    assert not out.exists()


def test_a_bad_roster_stops_labkit_grade_before_anything_is_written(tmp_path, autograder_zip):
    """Does a roster without its sid column stop labkit grade, naming the file?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.ipynb").write_text("{}")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nA,a@x\n")
    out = tmp_path / "out"
    args = ["grade", str(inbox), "-a", str(autograder_zip), "-o", str(out), "--roster", str(roster)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "roster.csv: row 1 lacks the column(s) sid" in result.output
    assert not out.exists()


def test_timestamps_keep_their_offsets():
    """Is a stored time read back with its offset (never as a naive local time)?"""
    from labkit.gradebook.late import parse_submitted_at

    assert parse_submitted_at("2026-12-11T02:59:00-08:00") == datetime.fromisoformat(
        "2026-12-11T10:59:00+00:00"
    )
    assert parse_submitted_at("2026-12-11T02:59:00") is None
