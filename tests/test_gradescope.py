"""What students see of ``results.json`` on Gradescope, built from a judged verdict (no otter run):
the visible entries, the opt-in ``after_published`` hidden-test entries, and the total."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace

import pytest

from labkit.grader import judging
from labkit.grader.otter_plugin import SCORES_ENTRY, TrustedResults
from labkit.grader.verdict import Verdict

ALPHA = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_alpha"


@test_case(points=0, hidden=False)
def test_alpha_format(p):
    assert p >= 0


@test_case(points=2, hidden=True)
def test_alpha_values(p):
    import numpy as np

    got = answer(lambda: p(np.arange(3)))
    expected_total_here = 0.93
    assert got == expected_total_here, f"p must be 0.93, got {got}"


@test_case(points=1, hidden=True)
def test_alpha_shape(p):
    assert answer(lambda: p(None)) == "ok"
"""

BETA = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_beta"


@test_case(points=0, hidden=False)
def test_beta_public(fit):
    assert fit is not None


@test_case(points=2, hidden=True)
def test_beta_values(fit):
    coefficients_secret_input = [1.5, 2.5]
    got = float(answer(lambda: fit(coefficients_secret_input)))
    assert got == 4.0


@test_case(points=2, hidden=True)
def test_beta_sum(fit):
    assert answer(lambda: fit([1, 1])) == 2
"""

GAMMA = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_gamma"


@test_case(points=1, hidden=True)
def test_gamma_runs(g):
    answer(lambda: g())
"""

SOURCES = {"q_alpha.py": ALPHA, "q_beta.py": BETA, "q_gamma.py": GAMMA}

ANSWERS = {
    "hidden": {
        "q_alpha/test_alpha_values": {"answer": "0.12\x1b[31m\x07"},
        "q_alpha/test_alpha_shape": {"answer": "ok"},
        "q_beta/test_beta_values": {"answer": "HOSTILE_TA_ONLY\x1b]0;pwned\x07"},
        "q_beta/test_beta_sum": {"answer": 2},
        "q_gamma/test_gamma_runs": {"error": "Evil\x1b[2J name <b>: HOSTILE_TA_ONLY"},
    },
    "public": {
        "q_alpha/test_alpha_format": {"passed": True, "message": ""},
        "q_beta/test_beta_public": {"passed": False, "message": "SECRET_PUBLIC_TEXT"},
    },
}

SCORES = [
    "  q_alpha           1 / 3",
    "  q_beta            2 / 4",
    "  q_gamma           0 / 1",
]

HIDDEN_FEEDBACK = {
    "q_alpha: hidden tests": (
        "failed",
        "test_alpha_values: p must be 0.93, got 0.12[31m\ntest_alpha_shape: passed",
    ),
    "q_beta: hidden tests": (
        "failed",
        "test_beta_values: your answer could not be checked (it raised ValueError)\n"
        "test_beta_sum: passed",
    ),
    "q_gamma: hidden tests": ("failed", "test_gamma_runs: your code raised an error"),
}


@pytest.fixture
def verdict(tmp_path) -> Verdict:
    judged = judging.judge(SOURCES, ANSWERS, files_dir=tmp_path)
    judged.notes = ["code cell 3 ran longer than 60 s; the notebook was run again without it"]
    judged.flags = ["code cell 4: replaces np.allclose (a library's attribute)"]
    return judged


def gradescope(verdict, *, feedback: bool, show_hidden: bool = False) -> dict:
    config = SimpleNamespace(show_hidden=show_hidden, show_stdout=False)
    return TrustedResults(verdict, hidden_test_feedback=feedback).to_gradescope_dict(config)


def source_lines() -> set[str]:
    return {
        line.strip()
        for source in SOURCES.values()
        for line in source.splitlines()
        if len(line.strip()) > 8
    }


def assert_students_see_nothing_ta_only(results: dict) -> None:
    lines = source_lines()
    for entry in results["tests"]:
        if entry["visibility"] == "hidden":
            continue
        output = entry["output"]
        for text in (output, entry["name"]):
            assert not [c for c in text if c != "\n" and unicodedata.category(c)[0] == "C"]
        assert not lines & {line.strip() for line in output.splitlines()}, entry["name"]
        assert not [line for line in lines if line in output], entry["name"]
        for secret in ("HOSTILE_TA_ONLY", "SECRET_PUBLIC_TEXT", "Evil", "Traceback", "def "):
            assert secret not in output, (entry["name"], secret)
        assert "replaces np.allclose" not in output


@pytest.mark.parametrize("show_hidden", [False, True])
def test_students_see_scores_but_no_hidden_test_by_default(verdict, show_hidden):
    """Setting off: a visible "Scores" entry (no score field), no after_published entry, the
    per-question entries hidden even with otter's show_hidden, and the right total."""
    results = gradescope(verdict, feedback=False, show_hidden=show_hidden)
    entries = {t["name"]: t for t in results["tests"]}
    assert entries[SCORES_ENTRY] == {
        "name": SCORES_ENTRY,
        "visibility": "visible",
        "output": "\n".join(SCORES),
    }
    assert [t["name"] for t in results["tests"] if t["visibility"] != "hidden"] == [
        "Public Tests",
        SCORES_ENTRY,
    ]
    assert entries["Public Tests"]["output"] == (
        "q_alpha: the public tests pass\n"
        'q_beta: a public test fails; run grader.check("q_beta") in your notebook to see which\n'
        "code cell 3 ran longer than 60 s; the notebook was run again without it"
    )
    for question, (score, points) in {
        "q_alpha": (1, 3),
        "q_beta": (2, 4),
        "q_gamma": (0, 1),
    }.items():
        assert entries[question]["visibility"] == "hidden"
        assert (entries[question]["score"], entries[question]["max_score"]) == (score, points)
    assert "HOSTILE_TA_ONLY" in entries["q_beta"]["output"]  # the TA still has the details
    assert results["score"] == 3
    assert sum(t["score"] for t in results["tests"] if "score" in t) == 3
    assert_students_see_nothing_ta_only(results)


def test_hidden_test_feedback_after_publishing(verdict):
    """Setting on: one after_published entry per question with hidden tests, each test's
    student-safe message; the visible entries and the total unchanged."""
    results = gradescope(verdict, feedback=True)
    off = gradescope(verdict, feedback=False)
    published = {
        t["name"]: (t["status"], t["output"])
        for t in results["tests"]
        if t["visibility"] == "after_published"
    }
    assert published == HIDDEN_FEEDBACK
    assert not [
        t for t in results["tests"] if t["visibility"] == "after_published" and "score" in t
    ]
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert visible == [t for t in off["tests"] if t["visibility"] == "visible"]
    hidden = [t for t in results["tests"] if t["visibility"] == "hidden"]
    assert hidden == [t for t in off["tests"] if t["visibility"] == "hidden"]
    assert [t["name"] for t in hidden] == [
        "q_alpha",
        "q_beta",
        "q_gamma",
        "Flagged for review (TA only)",
    ]
    assert results["score"] == off["score"] == 3
    assert_students_see_nothing_ta_only(results)


def test_solution_feedback_says_passed(tmp_path):
    """A full-marks verdict: every score at its points, every hidden test 'passed'."""
    answers = {
        "hidden": {
            "q_alpha/test_alpha_values": {"answer": 0.93},
            "q_alpha/test_alpha_shape": {"answer": "ok"},
            "q_beta/test_beta_values": {"answer": 4.0},
            "q_beta/test_beta_sum": {"answer": 2},
            "q_gamma/test_gamma_runs": {"answer": None},
        },
        "public": ANSWERS["public"] | {"q_beta/test_beta_public": {"passed": True}},
    }
    results = gradescope(judging.judge(SOURCES, answers, files_dir=tmp_path), feedback=True)
    entries = {t["name"]: t for t in results["tests"]}
    assert entries[SCORES_ENTRY]["output"] == (
        "  q_alpha           3 / 3\n  q_beta            4 / 4\n  q_gamma           1 / 1"
    )
    assert entries["q_alpha: hidden tests"]["output"] == (
        "test_alpha_values: passed\ntest_alpha_shape: passed"
    )
    assert entries["q_gamma: hidden tests"] == {
        "name": "q_gamma: hidden tests",
        "visibility": "after_published",
        "output": "test_gamma_runs: passed",
        "status": "passed",
    }
    assert results["score"] == 8
