"""The tampering corpus: submissions that try to cheat the grader, and honest look-alikes.

Each notebook in ``tests/tampering/`` is a notebook of the submission corpus (the solution, or
``softmax_unnormalized``, which loses the softmax points) with one cell added, named after what
that cell does. ``expected.csv`` gives the score each autograded question must get (what the
notebook's honest work earns, never more), the flag the TA must see (empty: no flag at all, the
honest cases) and a note the student must see (empty: none). Every case goes through the released
zip with ``otter run`` and through ``labkit grade``; in both, nothing a student sees may show a
line of a hidden test.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from both_paths import QUESTIONS, hidden_test_lines, otter_run

from labkit.gradebook.outcome import Outcome

FIXTURES = Path(__file__).resolve().parent / "tampering"
GRADING_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
FLAG_ENTRY = "Flagged for review (TA only)"
DAEMON_MARK = "for _ in range(600)"


def read_expected() -> dict[str, dict]:
    """Map each fixture to its expected scores, flag and note."""
    with (FIXTURES / "expected.csv").open(newline="") as f:
        return {
            row["fixture"]: {
                "scores": {q: float(row[q]) for q in QUESTIONS},
                "flag": row["flag"],
                "note": row["note"],
            }
            for row in csv.DictReader(f)
        }


EXPECTED = read_expected()
CASES = sorted(EXPECTED)
FILES = {p.stem: p for p in FIXTURES.iterdir() if p.suffix in (".ipynb", ".zip")}


def _otter_run(name: str, autograder_zip: Path, root: Path) -> dict:
    return otter_run(FILES[name], autograder_zip, root / name)


@pytest.fixture(scope="session")
def otter_graded(graded_both_ways) -> dict[str, dict]:
    """Every fixture graded by ``otter run`` with the released zip."""
    graded = {name: graded_both_ways[f"tampering/{FILES[name].name}"]["otter"] for name in CASES}
    missing = [name for name, g in graded.items() if g["results"] is None]
    assert not missing, f"otter run wrote no results for {missing}"
    return graded


@pytest.fixture(scope="session")
def labkit_graded(graded_both_ways) -> dict[str, dict]:
    """Every fixture graded in one ``labkit grade`` batch: outcome and feedback text."""
    graded = {}
    for name in CASES:
        labkit = graded_both_ways[f"tampering/{FILES[name].name}"]["labkit"]
        outcome = Outcome.from_json(json.dumps(labkit["outcome"]))
        graded[name] = {**labkit, "outcome": outcome}
    return graded


def _otter_scores(graded: dict) -> dict[str, float]:
    tests = graded["results"]["tests"]
    return {t["name"]: float(t["score"]) for t in tests if t["name"] in QUESTIONS}


def _otter_student_view(graded: dict) -> str:
    results = graded["results"]
    shown = [t.get("output", "") for t in results["tests"] if t.get("visibility") == "visible"]
    if results.get("stdout_visibility", "hidden") != "hidden":
        shown.append(graded["stdout"])
    return "\n".join([results.get("output", ""), *shown])


def test_expected_table_lists_exactly_the_fixtures():
    """One row per fixture notebook, and the honest look-alikes neither flagged nor noted."""
    assert CASES == sorted(FILES)
    for name, row in EXPECTED.items():
        if name.startswith("honest_"):
            assert not row["flag"] and not row["note"], name


@pytest.mark.graded
@pytest.mark.parametrize("case", CASES)
def test_otter_run_scores(case, otter_graded):
    """Through ``otter run -a ZIP``: the honest work's score per question, no more."""
    assert _otter_scores(otter_graded[case]) == EXPECTED[case]["scores"]
    assert otter_graded[case]["results"]["score"] == sum(EXPECTED[case]["scores"].values())


@pytest.mark.graded
@pytest.mark.parametrize("case", CASES)
def test_labkit_grade_scores(case, labkit_graded):
    """Through ``labkit grade``: the same scores per question."""
    outcome = labkit_graded[case]["outcome"]
    assert outcome.status == "ok", outcome.message
    assert outcome.scores == EXPECTED[case]["scores"]


@pytest.mark.graded
@pytest.mark.parametrize("case", CASES)
def test_flags_reach_the_ta_only(case, otter_graded, labkit_graded):
    """The expected flag is in the TA-only entry, the grading log and the gradebook message."""
    flag = EXPECTED[case]["flag"]
    entries = {t["name"]: t for t in otter_graded[case]["results"]["tests"]}
    message = labkit_graded[case]["outcome"].message
    if not flag:
        assert FLAG_ENTRY not in entries
        assert "flagged for review" not in otter_graded[case]["stdout"]
        assert "flagged for review" not in message
        assert FILES[case].name not in labkit_graded[case]["summary"]
        return
    assert entries[FLAG_ENTRY]["visibility"] == "hidden"
    assert flag in entries[FLAG_ENTRY]["output"]
    assert "flagged for review: " in otter_graded[case]["stdout"]
    assert flag in otter_graded[case]["stdout"]
    assert "flagged for review" in message and flag in message
    assert FILES[case].name in labkit_graded[case]["summary"].split("flagged for review: ")[1]
    assert flag not in _otter_student_view(otter_graded[case])
    assert flag not in labkit_graded[case]["feedback"]


@pytest.mark.graded
@pytest.mark.parametrize("case", CASES)
def test_students_see_no_hidden_test(case, otter_graded, labkit_graded, autograder_zip):
    """No line of a hidden test in what the student sees, through either grader."""
    lines = hidden_test_lines(autograder_zip)
    assert len(lines) > 50  # the check itself has something to look for
    for seen in (_otter_student_view(otter_graded[case]), labkit_graded[case]["feedback"]):
        shown = {line.strip() for line in seen.splitlines()}
        assert not (lines & shown)
        assert "def test_" not in seen and "BEGIN TEST CONFIG" not in seen


@pytest.mark.graded
@pytest.mark.parametrize("case", [c for c in CASES if EXPECTED[c]["note"]])
def test_notes_reach_the_student(case, otter_graded, labkit_graded):
    """A cell skipped for hanging or killing the interpreter is named to the student."""
    note = EXPECTED[case]["note"]
    assert note in _otter_student_view(otter_graded[case])
    assert note in labkit_graded[case]["feedback"]


@pytest.mark.graded
def test_exfiltration_was_really_attempted(otter_graded, autograder_zip):
    """Control: the notebook's attempt ran (its error reached the TA-only entry, not the public
    one). As root, student code runs as a user who cannot read the hidden tests, so the error is
    empty of them; otherwise it holds their text, in the TA-only entry only."""
    tests = {t["name"]: t for t in otter_graded["raises_hidden_tests"]["results"]["tests"]}
    ta_only = tests["q_softmax"]["output"]
    assert tests["q_softmax"]["visibility"] == "hidden"
    assert "test_softmax_format" in ta_only and "ValueError" in ta_only
    leaked = hidden_test_lines(autograder_zip) & {line.strip() for line in ta_only.splitlines()}
    assert bool(leaked) == (os.geteuid() != 0)
    assert "q_softmax: a public test fails" in tests["Public Tests"]["output"]


@pytest.mark.graded
def test_crafted_log_is_never_unpickled(otter_graded, labkit_graded):
    """The export zip's crafted .OTTER_LOG would create a marker file when unpickled: none."""
    assert not otter_graded["crafted_log"]["marker"].exists()
    assert not labkit_graded["crafted_log"]["marker"].exists()


@pytest.mark.graded
def test_no_daemon_survives_grading(otter_graded, labkit_graded):
    """The daemon started by ``leaves_a_daemon`` is gone once either grader is done."""
    assert otter_graded["leaves_a_daemon"] and labkit_graded["leaves_a_daemon"]
    alive = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if DAEMON_MARK in cmdline:
            alive.append(entry)
    assert not alive


# --- controls: the same notebooks, graded the stock way (tests inside the student's kernel) -------

PATCHES = [c for c in CASES if c.startswith("patches_")]
IN_KERNEL = [*PATCHES, "raises_hidden_tests", "crafted_log"]


def _in_kernel_autograder(autograder_zip: Path, path: Path) -> Path:
    """The released zip without the plugin, each ``answer(produce)`` just calling ``produce()``:
    the hidden tests run inside the student's kernel, as stock otter runs tests."""
    shim = b"OK_FORMAT = False\n\n\ndef answer(produce):\n    return produce()\n"
    with zipfile.ZipFile(autograder_zip) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "otter_config.json":
                config = json.loads(data)
                config.pop("plugins")
                data = json.dumps(config).encode()
            elif info.filename.startswith("tests/"):
                assert b"OK_FORMAT = False\n" in data
                data = data.replace(b"OK_FORMAT = False\n", shim, 1)
            target.writestr(info, data)
    return path


@pytest.fixture(scope="session")
def in_kernel_graded(autograder_zip, tmp_path_factory) -> dict[str, dict]:
    """The control cases graded with the in-kernel autograder, two at a time."""
    root = tmp_path_factory.mktemp("tampering-in-kernel")
    stock = _in_kernel_autograder(autograder_zip, root / "in-kernel-autograder.zip")
    with ThreadPoolExecutor(max_workers=2) as pool:
        graded = pool.map(lambda name: _otter_run(name, stock, root), IN_KERNEL)
        return dict(zip(IN_KERNEL, graded, strict=True))


@pytest.mark.graded
@pytest.mark.parametrize("case", PATCHES)
def test_control_patch_fools_grading_inside_the_kernel(case, in_kernel_graded):
    """Control: with the tests in the student's kernel, the patch wins the softmax points."""
    assert EXPECTED[case]["scores"]["q_softmax"] == 0
    assert _otter_scores(in_kernel_graded[case])["q_softmax"] == 3


@pytest.mark.graded
def test_control_exception_shows_hidden_tests_inside_the_kernel(in_kernel_graded, autograder_zip):
    """Control: with the tests in the student's kernel, students see hidden test lines."""
    seen = _otter_student_view(in_kernel_graded["raises_hidden_tests"])
    assert hidden_test_lines(autograder_zip) & {line.strip() for line in seen.splitlines()}


@pytest.mark.graded
def test_control_crafted_log_is_unpickled_without_the_plugin(in_kernel_graded):
    """Control: stock otter (no plugin) unpickles the crafted log, creating the marker."""
    assert in_kernel_graded["crafted_log"]["marker"].exists()


@pytest.mark.graded
def test_gradescope_layout_grades_with_the_zips_own_copy(autograder_zip, tmp_path):
    """Gradescope's way: the zip unpacked in /autograder's layout and ``run_otter.py`` run as a
    script, so ``labkit`` is imported from the zip itself. A numpy patch still earns nothing."""
    root = tmp_path / "autograder"
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    (root / "submission_metadata.json").write_text("{}")
    shutil.copy(FILES["patches_numpy"], root / "submission")
    runner = (root / "source" / "run_otter.py").read_text()
    assert 'run_autograder("/autograder")' in runner
    (root / "source" / "run_otter.py").write_text(runner.replace("/autograder", str(root)))
    probe = "import labkit, sys; print(labkit.__file__, file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", f"{probe}\nexec(open('run_otter.py').read())"],
        cwd=root / "source",
        env=GRADING_ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert str(root / "source" / "labkit") in done.stderr, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert _otter_scores({"results": results}) == EXPECTED["patches_numpy"]["scores"]
    flags = next(t for t in results["tests"] if t["name"] == FLAG_ENTRY)
    assert flags["visibility"] == "hidden" and "replaces np.allclose" in flags["output"]
