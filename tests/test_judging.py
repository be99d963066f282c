"""The two sides of grading, piece by piece: plain answers, the judge, and the flags for review."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.grader import judging, record, scan
from labkit.grader.answers import to_plain
from labkit.grader.verdict import PUBLIC_FAILED, Verdict
from labkit.grader.verdict import TestVerdict as CaseVerdict

TEST_FILE = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_double"
points = 3

@test_case(points=0, hidden=False)
def test_double_format(double):
    assert double(1) == 2

@test_case(points=1, hidden=True)
def test_double_values(double):
    import numpy as np
    xs = np.arange(5.0)
    got = np.asarray(answer(lambda: double(xs.copy())), dtype=float)
    assert np.allclose(got, 2 * xs), "double(x) must be 2 * x"

@test_case(points=2, hidden=True)
def test_double_reads_student_value_directly(double):
    assert double(3) == 6
"""


def _roundtrip(value):
    return record.from_plain(json.loads(json.dumps(to_plain(value))))


def test_plain_data_round_trips_through_json():
    """Arrays keep dtype kind and shape, frames their columns, dicts and lists their items."""
    frame = pd.DataFrame({"C": [0.1, 1.0], "n_zero": [3, 1], "label": ["a", "b"]})
    value = {
        "ints": np.arange(6).reshape(2, 3),
        "floats": np.array([[0.5, np.inf], [np.nan, -1.0]]),
        "labels": np.array(["3", "7"]),
        "flags": np.array([True, False]),
        "frame": frame,
        "scalars": [np.int64(4), np.float32(0.25), "x", None, True],
    }
    back = _roundtrip(value)
    assert back["ints"].dtype == np.int64 and back["ints"].tolist() == [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(back["floats"], value["floats"])
    assert back["labels"].tolist() == ["3", "7"] and back["flags"].dtype == bool
    pd.testing.assert_frame_equal(back["frame"], frame, check_dtype=False)
    assert back["scalars"] == [4, 0.25, "x", None, True]


def test_objects_are_not_plain_data():
    """A model, a function or an object array of objects is refused in the student's kernel."""
    from sklearn.linear_model import LogisticRegression

    for value in (LogisticRegression(), print, {1: "not a string key"}):
        with pytest.raises(TypeError):
            to_plain(value)


@pytest.mark.parametrize(
    "malformed",
    [
        {"array": {"dtype": "object", "shape": [1], "data": [1]}},
        {"array": {"dtype": "float", "shape": [2, 2], "data": [1.0]}},
        {"array": {"dtype": "float", "shape": [2], "base64": "AAAAAAAA8D8="}},  # one double
        {"array": {"dtype": "float", "shape": [1], "base64": "not base64!"}},
        {"array": {"dtype": "int", "shape": [1], "base64": "AAAAAAAA8D8="}},
        {"array": {"dtype": "float", "shape": [2**32, 2**32], "base64": ""}},
        {"array": {"dtype": "float", "shape": [2**32, 2**32], "data": []}},
        {"array": {"dtype": "float", "shape": [0] * 100, "base64": ""}},
        {"array": {"dtype": "int", "shape": [0] * 100, "data": []}},
        {"array": {"dtype": "float", "shape": [1], "base64": "AAAAAAAA8D8=", "data": [1.0]}},
        {"array": {"dtype": "int", "shape": [1], "data": ["1"]}},
        {"frame": {"columns": ["a", "b"], "data": [{"array": {}}]}},
        {"pickle": "gASV"},
        {"dict": {}, "array": {}},
    ],
)
def test_malformed_answers_are_refused(malformed):
    """Whatever the student's kernel wrote, only the tagged plain forms are rebuilt."""
    with pytest.raises(record.AnswerError):
        record.from_plain(malformed)


def test_unusable_records_are_refused(tmp_path):
    """Another format, broken or absurdly nested JSON, or no record at all: a clear AnswerError,
    and judged as no answers with a note."""
    for text in (
        json.dumps({"format": "other", "hidden": {}, "public": {}}),
        "{not json",
        "[" * 100_000 + "]" * 100_000,
    ):
        with pytest.raises(record.AnswerError):
            record.parse_answers(text.encode())
        tests = {"q_double.py": TEST_FILE}
        verdict = judging.judge_record(tests, text.encode(), files_dir=tmp_path)
        assert verdict.scores() == {"q_double": 0.0} and verdict.notes
    with pytest.raises(record.AnswerError, match="stopped before its answers were recorded"):
        record.read_answers(tmp_path / "absent.json")


def _judge(answers: dict, tmp_path) -> dict[str, CaseVerdict]:
    verdict = judging.judge({"q_double.py": TEST_FILE}, answers, files_dir=tmp_path)
    return {t.test: t for t in verdict.tests}, verdict


def test_judge_scores_recorded_answers_only(tmp_path):
    """Right answers pass, wrong ones fail, and a test that bypasses answer() always fails."""
    right = {"hidden": {"q_double/test_double_values": {"answer": to_plain(2 * np.arange(5.0))}}}
    tests, verdict = _judge({**right, "public": {}}, tmp_path)
    assert tests["test_double_values"].passed
    assert not tests["test_double_reads_student_value_directly"].passed
    assert "outside answer()" in tests["test_double_reads_student_value_directly"].message
    assert verdict.scores() == {"q_double": 1.0} and verdict.possible == {"q_double": 3.0}

    wrong = {"hidden": {"q_double/test_double_values": {"answer": to_plain(np.arange(5.0))}}}
    tests, verdict = _judge({**wrong, "public": {}}, tmp_path)
    assert not tests["test_double_values"].passed and verdict.scores() == {"q_double": 0.0}


def test_judge_reports_errors_and_missing_answers(tmp_path):
    """The student's exception and a test never reached both fail, with a message for the TA."""
    raised = {"hidden": {"q_double/test_double_values": {"error": "ValueError: no"}}}
    tests, _ = _judge({**raised, "public": {}}, tmp_path)
    assert "ValueError: no" in tests["test_double_values"].message
    tests, _ = _judge({"hidden": {}, "public": {}}, tmp_path)
    assert "did not reach this test" in tests["test_double_values"].message


def test_public_summary_is_written_by_the_grader(tmp_path):
    """A failing public test's message (student-made text) never reaches the public summary."""
    public = {"q_double/test_double_format": {"passed": False, "message": "SECRET from student"}}
    _, verdict = _judge({"hidden": {}, "public": public}, tmp_path)
    summary = "\n".join(verdict.public_summary())
    assert "SECRET" not in summary and 'grader.check("q_double")' in summary


def test_scan_flags_patches_but_not_honest_code():
    """Library patches, grading files and exec are named; a helper called allclose is not."""
    cells = {
        "code cell 1": "import numpy as np\nimport otter\nfrom numpy import isclose",
        "code cell 2": "def allclose(a, b):\n    return isclose(a, b).all()\nx = allclose(1, 1)",
        "code cell 3": "grader = otter.Notebook('lab.ipynb')\nnp.set_printoptions(3)",
        "code cell 4": "np.allclose = lambda *a: True",
        "code cell 5": "import builtins\nsetattr(builtins, 'len', None)",
        "code cell 6": "print(open('tests/q_z.py').read())",
        "code cell 7": "exec('1 + 1')\n__builtins__['bool'] = None",
    }
    flags = scan.scan_notebook(cells)
    assert not [f for f in flags if f.startswith(("code cell 1:", "code cell 2:", "code cell 3"))]
    assert "code cell 4: replaces np.allclose (a library's attribute)" in flags
    assert any(f.startswith("code cell 5: setattr on builtins") for f in flags)
    assert any(f.startswith("code cell 6: names grading files") for f in flags)
    assert "code cell 7: runs a string as code (exec)" in flags
    assert "code cell 7: writes into __builtins__" in flags


def _record(student: dict, source: str, out, seconds: float) -> dict:
    """Run the recorder as the grader's cells do: start, then one call per test case."""
    from labkit.grader import answers
    from labkit.grader.cells import test_functions

    answers.start(out_path=str(out))
    for function in test_functions(source):
        answers.record_case(
            student, source=source, filename="q_double.py", function=function, seconds=seconds
        )
    return record.parse_answers(record.read_answers(out))


def test_recorder_stops_each_hidden_test_at_its_answer(tmp_path):
    """In the student's process: answers recorded, the rest of a hidden test never run there,
    public tests run in full, and a call past the per-test limit recorded as an error."""
    marker = tmp_path / "ran-past-answer"
    source = TEST_FILE.replace(
        '    assert np.allclose(got, 2 * xs), "double(x) must be 2 * x"',
        f"    open({str(marker)!r}, 'w').close()\n    assert np.allclose(got, 2 * xs)",
    )
    out = tmp_path / "answers.json"
    answers = _record({"double": lambda x: 2 * x}, source, out, 5)
    assert not marker.exists()
    recorded = answers["hidden"]["q_double/test_double_values"]["answer"]
    assert record.from_plain(recorded).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert answers["public"]["q_double/test_double_format"] == {"passed": True, "message": ""}

    def slow(x):
        while True:
            pass

    answers = _record({"double": slow}, source, out, 0.5)
    error = answers["hidden"]["q_double/test_double_values"]["error"]
    assert "did not finish within 0.5 s" in error
    assert answers["public"]["q_double/test_double_format"]["passed"] is False


def test_a_linked_or_odd_record_is_refused(tmp_path):
    """Does the grader refuse, without following or blocking, a record that is a link or a FIFO?"""
    import os

    secret = tmp_path / "secret.json"
    secret.write_text('{"format": "labkit-answers/2"}\n')
    link = tmp_path / "link.json"
    link.symlink_to(secret)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (link, fifo, tmp_path):
        with pytest.raises(record.AnswerError, match="not a plain file"):
            record.read_answers(path)
    assert record.parse_answers(record.read_answers(secret))["hidden"] == {}


FEEDBACK_TEST_FILE = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_fb"


class Odd(Exception):
    pass


Odd.__name__ = "Odd name; score=100"


@test_case(points=0, hidden=False)
def test_fb_public(f):
    assert f(0) == 0


@test_case(points=1, hidden=True)
def test_fb_assert(f):
    got = answer(lambda: f(1))
    assert got == 2, f"f(1) must be 2, got {got}\\nsecond line"


@test_case(points=1, hidden=True)
def test_fb_long(f):
    got = answer(lambda: f(2))
    assert got == 4, "x" * 400


@test_case(points=1, hidden=True)
def test_fb_bare(f):
    assert answer(lambda: f(3)) == 6


@test_case(points=1, hidden=True)
def test_fb_hostile(f):
    got = answer(lambda: f(4))
    assert int(got) == 8


@test_case(points=1, hidden=True)
def test_fb_odd(f):
    answer(lambda: f(5))
    raise Odd("HOSTILE odd")


@test_case(points=1, hidden=True)
def test_fb_numpy(f):
    import numpy as np

    np.testing.assert_array_equal(answer(lambda: f(6)), [12])


@test_case(points=1, hidden=True)
def test_fb_pass(f):
    assert answer(lambda: f(7)) == 14


@test_case(points=1, hidden=True)
def test_fb_raised(f):
    answer(lambda: f(8))


@test_case(points=1, hidden=True)
def test_fb_named(f):
    answer(lambda: f(9))


@test_case(points=1, hidden=True)
def test_fb_slow(f):
    answer(lambda: f(10))


@test_case(points=1, hidden=True)
def test_fb_missing(f):
    answer(lambda: f(11))
"""

FEEDBACK_ANSWERS = {
    "hidden": {
        "q_fb/test_fb_assert": {"answer": "3\x1b[2J\x00\u202e HOSTILE_VALUE"},
        "q_fb/test_fb_long": {"answer": 5},
        "q_fb/test_fb_bare": {"answer": 7},
        "q_fb/test_fb_hostile": {"answer": "HOSTILE_TA_ONLY \x1b[31m <b>"},
        "q_fb/test_fb_odd": {"answer": 10},
        "q_fb/test_fb_numpy": {"answer": to_plain(np.array([13]))},
        "q_fb/test_fb_pass": {"answer": 14},
        "q_fb/test_fb_raised": {"error": "ZeroDivisionError: division by zero HOSTILE_TA_ONLY"},
        "q_fb/test_fb_named": {"error": "Ignore the rules <b>: HOSTILE_TA_ONLY"},
        "q_fb/test_fb_slow": {"error": "the code did not finish within 60 s"},
    },
    "public": {"q_fb/test_fb_public": {"passed": False, "message": "HOSTILE_TA_ONLY public"}},
}


def test_student_messages_say_only_what_the_grader_chose(tmp_path):
    """Each test's student-safe message: the test's own assertion message (first line, no control
    characters, at most 300 characters), else a fixed sentence naming at most a plain exception
    type; never the student's text from a non-assertion failure."""
    verdict = judging.judge({"q_fb.py": FEEDBACK_TEST_FILE}, FEEDBACK_ANSWERS, files_dir=tmp_path)
    shown = {t.test: t.student_message for t in verdict.tests}
    assert shown == {
        "test_fb_public": PUBLIC_FAILED,
        "test_fb_assert": "f(1) must be 2, got 3[2J HOSTILE_VALUE",
        "test_fb_long": "x" * 297 + "...",
        "test_fb_bare": "your answer did not pass this test",
        "test_fb_hostile": "your answer could not be checked (it raised ValueError)",
        "test_fb_odd": "your answer could not be checked",
        "test_fb_numpy": "your answer did not pass this test",
        "test_fb_pass": "passed",
        "test_fb_raised": "your code raised ZeroDivisionError",
        "test_fb_named": "your code raised an error",
        "test_fb_slow": "your code did not finish within 60 s",
        "test_fb_missing": "no answer was recorded: the notebook did not reach this test",
    }
    assert len(shown["test_fb_long"]) == 300
    # the TA still gets the full messages
    messages = {t.test: t.message for t in verdict.tests}
    assert "HOSTILE_TA_ONLY" in messages["test_fb_hostile"]
    assert messages["test_fb_odd"] == "Odd name; score=100: HOSTILE odd"
    assert "second line" in messages["test_fb_assert"]
    assert "Mismatched elements" in messages["test_fb_numpy"]
    assert verdict.scores() == {"q_fb": 1.0} and verdict.possible == {"q_fb": 11.0}


def test_verdicts_without_student_messages_still_read():
    """A verdict stored before student messages existed reads back with fixed sentences."""
    old = {
        "tests": [
            {"question": "q", "test": "a", "hidden": True, "points": 1, "passed": True},
            {
                "question": "q",
                "test": "b",
                "hidden": True,
                "points": 2,
                "passed": False,
                "message": "AssertionError: TA only",
            },
        ],
        "possible": {"q": 3.0},
        "notes": [],
        "flags": [],
    }
    verdict = Verdict.from_dict(old)
    assert [t.student_message for t in verdict.tests] == ["", ""]
    assert verdict.hidden_test_lines("q") == [
        "a: passed",
        "b: your answer did not pass this test",
    ]
    assert verdict.score_lines() == [f"  {'q':<18}1 / 3"]
    assert Verdict.from_dict(json.loads(verdict.to_json())) == verdict


def test_a_record_cut_short_or_forged_line_by_line_credits_nothing_more(tmp_path):
    """The record is JSON lines: a last line cut short (the process killed while writing it),
    garbage lines, entries of the wrong shape and a later line for the same key are read without
    raising; only well-formed entries count, the last one of a key winning."""
    out = tmp_path / "answers.jsonl"
    answers = _record({"double": lambda x: 2 * x}, TEST_FILE, out, 5)
    good = answers["hidden"]["q_double/test_double_values"]
    data = out.read_bytes()
    assert data.startswith(b'{"format": "labkit-answers/3"}\n') and data.count(b"\n") >= 3
    cut = data + b'{"part": "hidden", "key": "q_double/test_other", "result": {"answ'
    parsed = record.parse_answers(cut)
    assert parsed["hidden"] == answers["hidden"] and "q_double/test_other" not in parsed["hidden"]
    forged = b"\n".join(
        [
            data.rstrip(b"\n"),
            b"not json at all",
            b"[1, 2, 3]",
            b'{"part": "secret", "key": "q_double/x", "result": {}}',
            b'{"part": "hidden", "key": 7, "result": {}}',
            b'{"part": "hidden", "key": "q_double/y", "result": "passed"}',
            b"[" * 100_000,
            b'{"part": "hidden", "key": "q_double/test_double_values", "result": {"error": "x"}}',
        ]
    )
    parsed = record.parse_answers(forged)
    assert set(parsed["hidden"]) == set(answers["hidden"])
    assert parsed["hidden"]["q_double/test_double_values"] == {"error": "x"} != good
    verdict = judging.judge_record({"q_double.py": TEST_FILE}, forged, files_dir=tmp_path)
    assert verdict.scores() == {"q_double": 0.0}


def test_float_arrays_travel_as_their_exact_doubles():
    """Floats (float32 as the same doubles, NaN and infinities too) travel as little-endian
    doubles in base64, and come back bit for bit, in their shape, writable."""
    array = np.array([[0.1, -0.0, np.inf], [np.nan, 1e-310, -2.5]], dtype=np.float64)
    for value in (array, array.astype(np.float32), np.asfortranarray(array), np.zeros((0, 3))):
        plain = json.loads(json.dumps(to_plain(value)))["array"]
        assert set(plain) == {"dtype", "shape", "base64"} and plain["dtype"] == "float"
        back = record.from_plain({"array": plain})
        expected = np.asarray(value, dtype=np.float64)
        assert back.shape == expected.shape and back.dtype == np.float64 and back.flags.writeable
        assert back.tobytes() == expected.tobytes()


def test_arrays_become_plain_lists_of_python_values():
    """Every other dtype an answer may hold becomes JSON's own types (bytes as their text), and
    back."""
    cases = [
        (np.array([True, False]), "bool", [True, False]),
        (np.array([[1, 2], [3, 4]], dtype=np.uint8), "int", [1, 2, 3, 4]),
        (np.array(["a", "bc"]), "str", ["a", "bc"]),
        (np.array([b"x"]), "str", ["b'x'"]),
    ]
    for array, dtype, data in cases:
        plain = to_plain(array)["array"]
        assert (plain["dtype"], plain["data"], plain["shape"]) == (dtype, data, list(array.shape))
        assert all(type(x) in (bool, int, float, str) for x in plain["data"])
        json.dumps(plain)
