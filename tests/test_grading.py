"""`labkit grade`: hostile submissions, resuming, interruption, and the gradebook it writes.

The hostile fixtures in ``tests/hostile/`` are each named by what they do; ``expected.csv`` gives
the status each must get (and the total, where it is graded). Scores equal to ``otter run``'s are
checked on the whole corpus in ``test_corpus.py``.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from labkit import batch, intake, release
from labkit.cli import main
from labkit.gradebook import reports

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
HOSTILE = TESTS / "hostile"
SOLUTION = TESTS / "submissions" / "solution.ipynb"
BLANK = TESTS / "submissions" / "blank.ipynb"


def _read_gradebook(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory, autograder_zip):
    """The hostile fixtures plus an honest solution, graded in one batch with a short timeout."""
    root = tmp_path_factory.mktemp("hostile")
    inbox = root / "inbox" / "submissions"
    shutil.copytree(HOSTILE, inbox, ignore=shutil.ignore_patterns("expected.csv"))
    shutil.copy(SOLUTION, inbox / "honest.ipynb")
    out = root / "out"
    result = batch.grade_batch(
        [inbox], autograder=autograder_zip, output_dir=out, timeout=40, progress=False
    )
    return root, out, result


def _expected_hostile() -> list[dict[str, str]]:
    with (HOSTILE / "expected.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_hostile_fixture_has_an_expected_status():
    """Does expected.csv list exactly the fixtures in tests/hostile/?"""
    listed = {row["submission"] for row in _expected_hostile()}
    assert listed == {p.name for p in HOSTILE.iterdir() if p.name != "expected.csv"}


@pytest.mark.graded
@pytest.mark.parametrize("row", _expected_hostile(), ids=lambda row: row["submission"])
def test_hostile_submission_gets_its_status(hostile_batch, row):
    """Does each hostile submission get its status, total and a message saying why?"""
    _, out, _ = hostile_batch
    graded = _read_gradebook(out / "gradebook.csv")[row["submission"]]
    assert graded["status"] == row["status"], graded
    assert row["message"] in graded["message"], graded
    if row["total"]:
        assert float(graded["total"]) == float(row["total"]), graded
    stored = json.loads((out / row["submission"] / "results.json").read_text())
    assert stored["status"] == row["status"]
    assert (
        (out / row["submission"] / "feedback.txt")
        .read_text()
        .startswith(f"Submission: {row['submission']}")
    )


@pytest.mark.graded
def test_hostile_submissions_do_not_affect_the_others(hostile_batch):
    """Does an honest submission graded beside them still earn every point, per question?"""
    root, out, result = hostile_batch
    honest = _read_gradebook(out / "gradebook.csv")["honest.ipynb"]
    points = result.points
    assert {q: float(honest[q]) for q in points} == points
    assert honest["status"] == "ok" and float(honest["total"]) == sum(points.values())
    assert not list(root.rglob("outside.txt")), "a zip entry was written outside"
    assert not (HOSTILE.parent / "outside.txt").exists()


@pytest.mark.graded
def test_gradebook_and_summary(hostile_batch):
    """Is there one row per file with every column (questions in notebook order), the regular
    maximum without the bonus, a summary.png and a summary text?"""
    _, out, result = hostile_batch
    questions = release.read_source(ROOT / "assignment")
    with (out / "gradebook.csv").open(newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "submission",
        *[q.name for q in questions],
        "written_graded",
        "written_stale",
        "bonus",
        "total",
        "max_total",
        "status",
        "message",
    ]
    rows = _read_gradebook(out / "gradebook.csv")
    assert len(rows) == len(_expected_hostile()) + 1
    maximum = sum(q.points for q in questions if not q.bonus)
    assert all(row["max_total"] == f"{maximum:g}" == "19" for row in rows.values())
    assert rows["honest.ipynb"]["bonus"] == "1"
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = reports.summary_text(result)
    assert "q_softmax" in text and "ok 7, timeout 1, invalid 5" in text
    assert "q_center_bonus (bonus)" in text and "/ 19 (+1 bonus)" in text


@pytest.mark.graded
def test_feedback_shows_public_checks_but_no_hidden_test(hostile_batch):
    """Does a student's feedback show each question's score, what is still to be graded (not a
    misleading total), the public checks, and no hidden test?"""
    _, out, result = hostile_batch
    feedback = (out / "honest.ipynb" / "feedback.txt").read_text()
    assert (
        "Score: not final yet: still to be graded: q_confusion, q_modified_digit, q_l1_reading."
        in feedback
    )
    assert "Points so far: 15 of 19 (a bonus of 1 included)." in feedback
    lines = feedback.splitlines()
    for question, points in result.points.items():
        label = f"{question} (bonus)" if question == "q_center_bonus" else question
        assert any(
            line.split() == [*label.split(), f"{points:g}", "/", f"{points:g}"] for line in lines
        ), question
    assert "/ 20" not in feedback
    assert "test_z_random_models" not in feedback and "hidden" not in feedback.lower()


@pytest.mark.graded
def test_rerun_skips_graded_submissions_unless_forced(tmp_path, autograder_zip):
    """Does a rerun skip what was graded with the same zip and bytes, and --force regrade it?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(BLANK, inbox / "blank.ipynb")
    (inbox / "notes.txt").write_text("not a submission\n")
    out = tmp_path / "out"
    args = ["grade", str(inbox), "-a", str(autograder_zip), "-o", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    stamp = (out / "blank.ipynb" / "results.json").stat().st_mtime_ns
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "2 already graded" in again.output
    assert (out / "blank.ipynb" / "results.json").stat().st_mtime_ns == stamp
    shutil.copy(SOLUTION, inbox / "blank.ipynb")  # the student resubmitted
    changed = CliRunner().invoke(main, args)
    assert "1 already graded" in changed.output
    assert _read_gradebook(out / "gradebook.csv")["blank.ipynb"]["total"] == "15"
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert "0 already graded" in forced.output


@pytest.mark.graded
def test_interrupted_run_leaves_a_consistent_gradebook(tmp_path, autograder_zip):
    """After Ctrl-C mid-batch: a row per file, no half-written file, and a rerun finishes."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for k in range(4):
        shutil.copy(BLANK, inbox / f"student{k}.ipynb")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(autograder_zip)]
    process = subprocess.Popen(
        [*command, "-o", str(out), "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    rows = _read_gradebook(out / "gradebook.csv")
    assert set(rows) == {f"student{k}.ipynb" for k in range(4)}
    finished = {name for name, row in rows.items() if row["status"] != "pending"}
    assert finished and finished != set(rows), rows
    assert all((out / name / "results.json").exists() for name in finished)
    assert not [p for p in out.rglob(".*") if p.is_file()], "a temporary file was left behind"
    rerun = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} already graded" in rerun.stdout
    assert {row["status"] for row in _read_gradebook(out / "gradebook.csv").values()} == {"ok"}


def test_grade_options_are_described_once():
    """Do the command's help and grade_batch take each setting's default and description from
    GradeOptions (the timeout's 300 s written once)?"""
    import inspect

    from labkit.batch.options import GradeOptions

    shown = " ".join(CliRunner().invoke(main, ["grade", "--help"]).output.split())
    for name in ("jobs", "timeout", "memory_mb", "force", "scheduler"):
        assert " ".join(GradeOptions.help(name).split()) in shown, name
    assert "[default: 300.0]" in shown
    defaults = inspect.signature(batch.grade_batch).parameters
    assert defaults["timeout"].default == GradeOptions.timeout == 300.0
    assert defaults["force"].default is GradeOptions.force is False


def test_unknown_path_and_bad_zip_are_clear_errors(tmp_path):
    """Do a missing path and a non-zip autograder fail with a message naming them?"""
    bogus = tmp_path / "autograder.zip"
    bogus.write_text("not a zip")
    result = CliRunner().invoke(
        main, ["grade", str(BLANK), "-a", str(bogus), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and "not a readable autograder zip" in result.output
    with pytest.raises(intake.GradingError, match="no such file or folder"):
        intake.find_submissions([tmp_path / "missing"])


def test_clashing_submission_names_are_refused(tmp_path):
    """Are two submissions with one name (from two folders) refused before grading?"""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(BLANK, tmp_path / folder / "alice.ipynb")
    with pytest.raises(intake.GradingError, match="two submissions are named alice.ipynb"):
        intake.find_submissions([tmp_path / "a", tmp_path / "b"])


def test_gradescope_export_folders_are_one_submission_each(tmp_path):
    """Is each folder of a Gradescope bulk export one submission, its notebook found inside?"""
    export = tmp_path / "export"
    (export / "submission_1").mkdir(parents=True)
    shutil.copy(BLANK, export / "submission_1" / "logreg_digits.ipynb")
    (export / "submission_metadata.yml").write_text("{}\n")
    (submission,) = intake.find_submissions([export])
    assert submission.name == "submission_1"
    name, data = intake.read_notebook(submission.path)
    assert name == "logreg_digits.ipynb" and data == BLANK.read_bytes()


@pytest.mark.graded
def test_submissions_have_no_network(tmp_path, autograder_zip):
    """Can a notebook reach a server on this machine? Outside the sandbox it can; inside, not."""
    import copy
    import http.server
    import threading

    import nbformat

    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/probe"
        probe = (
            "import urllib.request\n"
            "try:\n"
            f"    urllib.request.urlopen({url!r}, timeout=5)\n"
            "except OSError as exc:\n"
            "    print('no network:', exc)\n"
        )
        exec(compile(probe, "probe", "exec"), {})  # the control: here the request arrives
        assert requests == ["/probe"]
        nb = copy.deepcopy(nbformat.read(BLANK, as_version=4))
        nb.cells.insert(3, nbformat.v4.new_code_cell(probe))
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        nbformat.write(nb, inbox / "calls_home.ipynb")
        result = batch.grade_batch(
            [inbox], autograder=autograder_zip, output_dir=tmp_path / "out", progress=False
        )
    finally:
        server.shutdown()
    (outcome,) = result.outcomes
    assert outcome.status == "ok", outcome.message
    assert requests == ["/probe"], "the sandboxed notebook reached the server"
