"""One table of fixtures, two graders: every fixture gets the same per-question scores through
``otter run -a ZIP`` and through ``labkit grade``, and no student sees a hidden test's line.

The fixtures are every file of ``submissions/``, ``hostile/`` and ``tampering/`` (see
``both_paths``); each folder's ``expected*.csv`` says what each must score, and the folder's own
test module checks that.
"""

from __future__ import annotations

import pytest
from both_paths import (
    fixture_files,
    hidden_test_lines,
    labkit_scores,
    labkit_student_view,
    otter_scores,
    otter_student_view,
)

FIXTURES = sorted(fixture_files())


def test_every_folder_contributes_fixtures():
    """Are the three folders' fixtures all in the table (and only fixtures, no expected files)?"""
    folders = {f.split("/")[0] for f in FIXTURES}
    assert folders == {"submissions", "hostile", "tampering"}
    assert len(FIXTURES) >= 70 and not [f for f in FIXTURES if f.endswith(".csv")]


@pytest.mark.graded
@pytest.mark.parametrize("fixture", FIXTURES)
def test_both_paths_give_the_same_scores(fixture, graded_both_ways):
    """Does each question get the same score through otter run and labkit grade?"""
    graded = graded_both_ways[fixture]
    through_labkit = labkit_scores(graded["labkit"])
    through_otter = otter_scores(graded["otter"])
    if through_labkit is None:  # an upload labkit refuses: otter cannot grade it either
        assert graded["labkit"]["outcome"]["status"] == "invalid"
        assert through_otter is None or not any(through_otter.values()), through_otter
        return
    assert through_otter == through_labkit, graded["otter"]["stderr"][-2000:]


@pytest.mark.graded
def test_no_student_sees_a_hidden_test_line(graded_both_ways, autograder_zip):
    """Across every fixture: no hidden-test line in feedback.txt, the gradebook, or what
    Gradescope shows the student."""
    lines = hidden_test_lines(autograder_zip)
    assert len(lines) > 50  # the check itself has something to look for
    leaks = []
    for fixture, graded in sorted(graded_both_ways.items()):
        views = {
            "feedback.txt": labkit_student_view(graded["labkit"]),
            "gradebook": " ".join(graded["labkit"]["row"].values()),
            "otter run (visible)": otter_student_view(graded["otter"]),
        }
        for where, text in views.items():
            shown = {line.strip() for line in text.splitlines()}
            found = [line for line in lines if line in shown or line in text]
            if found or "def test_" in text:
                leaks.append(f"{fixture}: {where}: {found[:1]}")
    assert not leaks


@pytest.mark.graded
def test_no_log_was_ever_unpickled(graded_both_ways):
    """Would a crafted .OTTER_LOG have been unpickled by either grader (it creates a marker)?"""
    assert "tampering/crafted_log.zip" in graded_both_ways
    for graded in graded_both_ways.values():
        assert not graded["otter"]["marker"].exists()
        assert not graded["labkit"]["marker"].exists()
