"""End to end, the TA's last mile: roster -> labkit grade (late policy) -> written grades
through a spreadsheet -> an LMS file, every number from the graded folder's one record."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from labkit import release
from labkit.cli import main

TESTS = Path(__file__).resolve().parent
SUBMISSIONS = TESTS / "submissions"
WRITTEN = ["q_confusion", "q_modified_digit", "q_l1_reading"]
METADATA = """\
submission_1:
  :created_at: 2026-12-10 22:59:00.000000000 -08:00
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@uni.example
submission_2:
  :created_at: 2026-12-12 05:59:00.000000000 -08:00
  :submitters:
  - :name: Alan Turing
    :sid: '1912'
    :email: alan@uni.example
"""
ROSTER = """name,email,sid,section,canvas_id,login
"Lovelace, Ada",ada@uni.example,1815,A1,4242,alovelace
"Turing, Alan",alan@uni.example,1912,A2,5151,aturing
"Hopper, Grace",grace@uni.example,1906,A1,6363,ghopper
"Noether, Emmy",emmy@uni.example,1882,A2,7474,enoether
"""


def _expected(name: str) -> dict[str, float]:
    with (SUBMISSIONS / "expected_scores.csv").open(newline="") as handle:
        rows = {row.pop("submission"): row for row in csv.DictReader(handle)}
    return {q: float(v) for q, v in rows[name].items()}


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.graded
def test_roster_grade_review_export_round_trip(tmp_path, autograder_zip):
    """Graded with a roster and a late policy, do the gradebook's per-question scores match the
    corpus, the first Canvas file hold no one (written answers to grade) and list why, and,
    once the written scores are imported, the Canvas file give each student the gradebook's
    total (bonus on top, late penalty taken, unknown time a note)?"""
    export = tmp_path / "export"
    for folder, notebook in (("submission_1", "solution"), ("submission_2", "predict_argmin")):
        (export / folder).mkdir(parents=True)
        shutil.copy(SUBMISSIONS / f"{notebook}.ipynb", export / folder / "lab.ipynb")
    (export / "submission_metadata.yml").write_text(METADATA)
    canvas = tmp_path / "canvas"
    canvas.mkdir()
    shutil.copy(SUBMISSIONS / "blank.ipynb", canvas / "hoppergrace_late_6363_777_lab.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    out = tmp_path / "out"
    first = tmp_path / "first.csv"
    args = ["grade", str(export), str(canvas), "-a", str(autograder_zip), "-o", str(out)]
    args += ["-j", "2", "--roster", str(roster), "--due", "2026-12-10T23:59-08:00"]
    args += ["--late-policy", "grace=15m,per-day=10%,max-days=3"]
    args += ["--export-lms", "canvas", str(first), "--canvas-assignment-id", "98765"]
    graded = CliRunner().invoke(main, args)
    assert graded.exit_code == 0, graded.output

    with (out / "gradebook.csv").open(newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    for name, notebook in (("submission_1", "solution"), ("submission_2", "predict_argmin")):
        assert {q: float(rows[name][q]) for q in _expected(notebook)} == _expected(notebook)
    grace = rows["hoppergrace_late_6363_777_lab.ipynb"]
    assert {q: float(grace[q]) for q in _expected("blank")} == _expected("blank")
    assert rows["submission_2"]["name"] == "Turing, Alan"
    assert rows["hoppergrace_late_6363_777_lab.ipynb"]["email"] == "grace@uni.example"
    assert (rows["submission_2"]["lateness"], rows["submission_2"]["penalty"]) == (
        "30:00:00",
        "20%",
    )
    assert rows["submission_1"]["penalty"] == "0%"
    assert "Canvas marks it late" in rows["hoppergrace_late_6363_777_lab.ipynb"]["message"]
    assert _csv(first)[2:] == []
    assert "Lovelace, Ada (submission_1): still to grade: q_confusion" in graded.output
    assert "Noether, Emmy" in graded.output  # no submission

    sheet = tmp_path / "scores.csv"
    assert CliRunner().invoke(main, ["review", str(out), "--export", str(sheet)]).exit_code == 0
    table = _csv(sheet)
    points = {q.name: q.points for q in release.read_source(TESTS.parent / "assignment")}
    for row in table[1:]:
        row[2] = f"{points[row[1]]:g}" if row[0] != "submission_2" else "1"
    with sheet.open("w", newline="") as handle:
        csv.writer(handle).writerows(table)
    imported = CliRunner().invoke(main, ["review", str(out), "--import", str(sheet)])
    assert imported.exit_code == 0, imported.output

    final = tmp_path / "final.csv"
    exported = CliRunner().invoke(
        main,
        ["review", str(out), "--export-lms", "canvas", str(final), "--canvas-assignment-id",
         "98765", "--missing-as-zero"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    lines = _csv(final)
    assert lines[0][-1] == "logreg_digits (98765)"
    assert lines[1] == ["    Points Possible", "", "", "", "", "19"]
    totals = {row[0]: row[-1] for row in lines[2:]}
    with (out / "gradebook.csv").open(newline="") as handle:
        gradebook = {row["submission"]: row for row in csv.DictReader(handle)}
    alan = gradebook["submission_2"]
    before = sum(_expected("predict_argmin").values()) + 3  # written: 1 each
    assert float(alan["total_before_penalty"]) == before
    assert float(alan["total"]) == pytest.approx(before * 0.8)
    assert totals == {
        "Lovelace, Ada": "20",  # 14 autograded + 5 written + the bonus point
        "Turing, Alan": alan["total"],
        "Hopper, Grace": "5",  # blank notebook, every written point; no time: no penalty
        "Noether, Emmy": "0",
    }
    feedback = (out / "submission_2" / "feedback.txt").read_text()
    assert f"after a late penalty of {before * 0.2:g}" in feedback
