"""One total everywhere: the maximum is the regular points, the bonus on top, questions in
notebook order, points from the source notebook (its questions manifest)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from lastmile_helpers import (
    FULL,
    MAXIMUM,
    answers,
    gradebook_header,
    make_folder,
    outcome_data,
    read_gradebook,
)

from labkit import intake, release
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.outcome import Status
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_ORDER = ["q_z", "q_confusion", "q_softmax", "q_center_bonus", "q_reading"]


def _grade_written(out: Path, submission: str, scores: dict[str, float]) -> None:
    with ReviewStore.open(out) as store:
        for question, score in scores.items():
            store.set_score(submission, question, score)
    refresh_reports(GradedFolder(out))


def test_every_autograded_point_and_no_written_grade_yet(tmp_path):
    """With every autograded point (the bonus too) and nothing graded by hand yet, does the
    gradebook count 6 of a maximum of 8 with the bonus apart, and the feedback say what is
    still to be graded instead of a total?"""
    out = make_folder(tmp_path / "out", [outcome_data("alice.ipynb", FULL, answers=answers())])
    refresh_reports(GradedFolder(out))
    row = read_gradebook(out)["alice.ipynb"]
    assert (row["q_z"], row["q_softmax"], row["q_center_bonus"]) == ("2", "3", "1")
    assert (row["total"], row["max_total"], row["bonus"]) == ("6", "8", "1")
    feedback = (out / "alice.ipynb" / "feedback.txt").read_text()
    assert "Score: not final yet: still to be graded: q_confusion, q_reading." in feedback
    assert "Points so far: 6 of 8 (a bonus of 1 included)." in feedback
    assert "/ 9" not in feedback and "Score: 6" not in feedback
    lines = feedback.splitlines()
    assert "  q_center_bonus (bonus)  1 / 1" in lines


@pytest.mark.parametrize(
    ("bonus", "total", "score_line"),
    [(0.0, "8", "Score: 8 / 8"), (1.0, "9", "Score: 9 / 8 (a bonus of 1 included)")],
)
def test_full_marks_read_the_maximum_and_the_bonus_goes_on_top(tmp_path, bonus, total, score_line):
    """Do full marks without the bonus read 8 / 8, and with it 9 / 8, in the gradebook and the
    feedback alike?"""
    scores = {**FULL, "q_center_bonus": bonus}
    out = make_folder(tmp_path / "out", [outcome_data("a.ipynb", scores, answers=answers())])
    _grade_written(out, "a.ipynb", {"q_confusion": 2, "q_reading": 1})
    row = read_gradebook(out)["a.ipynb"]
    assert (row["total"], row["max_total"], row["bonus"]) == (total, f"{MAXIMUM:g}", f"{bonus:g}")
    assert (row["q_confusion"], row["q_reading"], row["written_graded"]) == ("2", "1", "2")
    feedback = (out / "a.ipynb" / "feedback.txt").read_text()
    assert score_line in feedback.splitlines()


def test_questions_follow_the_notebook_in_the_gradebook_and_feedback(tmp_path):
    """Do the gradebook's columns and the feedback's lines list the questions in notebook
    order, written ones between autograded ones, not alphabetically?"""
    out = make_folder(tmp_path / "out", [outcome_data("a.ipynb", FULL, answers=answers())])
    refresh_reports(GradedFolder(out))
    header = gradebook_header(out)
    assert [c for c in header if c.startswith("q_")] == NOTEBOOK_ORDER
    feedback = (out / "a.ipynb" / "feedback.txt").read_text()
    at = [feedback.index(f"  {q}") for q in ("q_z", "q_softmax", "q_center_bonus")]
    assert at == sorted(at)


def test_results_json_has_the_same_maximum_as_the_gradebook(autograder_zip):
    """Does a fresh outcome of the committed zip carry the regular maximum (autograded and
    written, without the bonus) and the bonus apart, as the source notebook says?"""
    questions = release.read_source(ROOT / "assignment")
    regular = sum(q.points for q in questions if not q.bonus)
    bonus = sum(q.points for q in questions if q.bonus)
    assert [q.name for q in questions if q.bonus] == ["q_center_bonus"]
    grader_zip = intake.Autograder.load(autograder_zip)
    outcome = grader_zip.outcome(intake.Submission("a.ipynb", Path("a.ipynb")), Status.PENDING)
    assert (outcome.max_total, outcome.bonus_max) == (regular, bonus) == (19.0, 1.0)
    data = json.loads(outcome.to_json())
    assert (data["max_total"], data["bonus_max"]) == (19.0, 1.0)
    assert list(grader_zip.points) == [q.name for q in questions if not q.manual]


def test_the_zip_carries_the_source_notebooks_manifest(autograder_zip):
    """Does the committed zip's questions.json list every question of the source in notebook
    order, with its points, kind and bonus flag?"""
    with zipfile.ZipFile(autograder_zip) as archive:
        manifest = json.loads(archive.read("questions.json"))
    expected = [
        {
            "name": q.name,
            "points": q.points,
            "kind": "written" if q.manual else "autograded",
            "bonus": q.bonus,
        }
        for q in release.read_source(ROOT / "assignment")
    ]
    assert manifest == {"assignment": "logreg_digits", "questions": expected}


def _zip_without(autograder_zip: Path, target: Path, *, drop: str, replace: dict | None = None):
    with zipfile.ZipFile(autograder_zip) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename != drop:
                new.writestr(info, old.read(info))
        for name, text in (replace or {}).items():
            new.writestr(name, text)
    return target


def test_a_zip_without_a_manifest_is_read_as_before(tmp_path, autograder_zip):
    """Does a zip built before the manifest still grade: its tests' points, then its written
    questions, no bonus known?"""
    old = _zip_without(autograder_zip, tmp_path / "old.zip", drop="questions.json")
    grader_zip = intake.Autograder.load(old)
    assert grader_zip.manifest.bonus_max == 0
    assert grader_zip.manifest.maximum == 20.0
    assert [q.name for q in grader_zip.manifest.written()] == [
        "q_confusion",
        "q_modified_digit",
        "q_l1_reading",
    ]


def test_a_manifest_that_disagrees_with_the_tests_is_refused(tmp_path, autograder_zip):
    """Is a zip whose manifest gives a question other points than its tests refused?"""
    with zipfile.ZipFile(autograder_zip) as archive:
        manifest = json.loads(archive.read("questions.json"))
    manifest["questions"][0]["points"] = 7
    bad = _zip_without(
        autograder_zip,
        tmp_path / "bad.zip",
        drop="questions.json",
        replace={"questions.json": json.dumps(manifest)},
    )
    with pytest.raises(intake.GradingError, match="q_z: 7 in the manifest, 2 in its tests"):
        intake.Autograder.load(bad)


def _source(tmp_path: Path, question_yaml: str) -> Path:
    source = tmp_path / "assignment"
    source.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nname: logreg_digits"),
        nbformat.v4.new_raw_cell(f"# BEGIN QUESTION\n{question_yaml}"),
        nbformat.v4.new_raw_cell("# BEGIN TESTS"),
        nbformat.v4.new_code_cell("def test_x(f):\n    assert answer(lambda: f()) == 1"),
        nbformat.v4.new_raw_cell("# END TESTS"),
        nbformat.v4.new_raw_cell("# END QUESTION"),
    ]
    nbformat.write(nb, source / release.NOTEBOOK_NAME)
    return source


def test_the_source_marks_a_bonus_in_its_begin_question(tmp_path):
    """Does ``bonus: true`` in a BEGIN QUESTION mark the question a bonus in the manifest?"""
    source = _source(tmp_path, "name: q_extra\npoints: 2\nbonus: true")
    (question,) = release.read_source(source)
    assert (question.name, question.points, question.bonus) == ("q_extra", 2.0, True)
    from labkit.release.build import questions_manifest

    manifest = questions_manifest([question])
    assert (manifest.maximum, manifest.bonus_max) == (0.0, 2.0)


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("name: q_x\npoints: 1\nbonuss: true", "unknown key\\(s\\) bonuss"),
        ("name: q_x\npoints: 1\nbonus: yes please", "bonus must be true or false"),
    ],
)
def test_a_misspelt_question_key_names_the_cell(tmp_path, yaml, problem):
    """Is a key otter assign would ignore silently (a misspelt bonus) an error naming the cell?"""
    source = _source(tmp_path, yaml)
    with pytest.raises(release.ReleaseError, match=f"cell 2 \\(BEGIN QUESTION\\).*{problem}"):
        release.read_source(source)


def test_gradescopes_scores_entry_follows_the_manifest():
    """Does the plugin's "Scores" entry list the questions in notebook order, the bonus marked?"""
    from labkit.grader.manifest import Manifest, ManifestQuestion
    from labkit.grader.otter_plugin import TrustedResults
    from labkit.grader.verdict import TestVerdict, Verdict

    verdict = Verdict(
        tests=[
            TestVerdict("q_a_bonus", "t1", hidden=True, points=1, passed=True),
            TestVerdict("q_b", "t2", hidden=True, points=2, passed=False),
        ],
        possible={"q_a_bonus": 1.0, "q_b": 2.0},
    )
    manifest = Manifest(
        "lab", (ManifestQuestion("q_b", 2.0), ManifestQuestion("q_a_bonus", 1.0, bonus=True))
    )
    lines = TrustedResults(verdict, manifest=manifest).score_lines()
    assert lines == [f"  {'q_b':<19}0 / 2", f"  {'q_a_bonus (bonus)':<19}1 / 1"]
    assert TrustedResults(verdict).score_lines() == verdict.score_lines()


def test_the_summary_counts_to_the_same_maximum(tmp_path):
    """Does the summary printed after grading give totals out of 8, the bonus on top, and
    say which are not final yet?"""
    from labkit.gradebook.ledger import Settings, build_rows
    from labkit.gradebook.outcome import BatchResult
    from labkit.gradebook.summary import summary_text

    out = make_folder(tmp_path / "out", [outcome_data("a.ipynb", FULL, answers=answers())])
    _grade_written(out, "a.ipynb", {"q_confusion": 2, "q_reading": 1})
    with ReviewStore.open(out) as store:
        settings = Settings.load(GradedFolder(out), autograded={})
        rows, _ = build_rows(settings, store.outcomes(), written=store.written_scores())
    result = BatchResult([r.outcome for r in rows], {}, 1.0, 0, settings=settings, rows=rows)
    text = summary_text(result)
    assert "total: mean 9.00 / 8 (+1 bonus), median 9, min 9, max 9" in text
    assert "q_center_bonus (bonus)" in text and "q_confusion (written)" in text


def test_summary_png_counts_whole_submissions_up_to_the_full_maximum(tmp_path):
    """Does summary.png count submissions in whole numbers, run its x axis to the maximum plus
    the bonus, and show the written questions' means too?"""
    from labkit.gradebook.ledger import Settings, build_rows
    from labkit.gradebook.outcome import BatchResult
    from labkit.gradebook.summary import summary_figure

    out = make_folder(
        tmp_path / "out",
        [outcome_data(f"s{k}.ipynb", FULL, answers=answers()) for k in range(3)],
    )
    _grade_written(out, "s0.ipynb", {"q_confusion": 1})
    with ReviewStore.open(out) as store:
        settings = Settings.load(GradedFolder(out), autograded={})
        rows, _ = build_rows(settings, store.outcomes(), written=store.written_scores())
    figure = summary_figure(BatchResult([], {}, 0.0, 0, settings=settings, rows=rows))
    left, right = figure.axes
    assert left.get_xlim()[1] >= MAXIMUM + 1
    assert all(float(t).is_integer() for t in left.get_yticks())
    labels = [t.get_text() for t in right.get_yticklabels()]
    assert labels == [
        "q_z",
        "q_confusion (written)",
        "q_softmax",
        "q_center_bonus (bonus)",
        "q_reading (written)",
    ]
    shutil.rmtree(out)
