"""`labkit release`: reproducible builds, each verification gate, --check, and nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from labkit import release
from labkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for name in release.RELEASE_DIRS
        for p in sorted((root / name).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's source with a committed release standing in place."""
    shutil.copytree(ROOT / "assignment", tmp_path / "assignment")
    for name in release.RELEASE_DIRS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "committed.txt").write_text(f"the committed {name}\n")
    return tmp_path


def _edit_source(root: Path, edit) -> None:
    path = root / release.SOURCE_NOTEBOOK
    nb = nbformat.read(path, as_version=4)
    edit(nb.cells)
    nbformat.write(nb, path)


def _cell_index(cells, text: str) -> int:
    return next(i for i, c in enumerate(cells) if text in c.source)


def _assert_refused(root: Path, *fragments: str) -> None:
    before = _snapshot(root)
    result = CliRunner().invoke(main, ["release", "--root", str(root)])
    assert result.exit_code == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert _snapshot(root) == before
    assert not list(root.glob(".release-staging-*"))


# --- bad input: refused before anything is built -------------------------------------------------


def test_test_with_syntax_error_is_named(checkout):
    """Is a test cell with a syntax error named by cell and question, the release untouched?"""

    def edit(cells):
        i = _cell_index(cells, "def test_softmax_vector")
        cells[i].source = cells[i].source.replace("problems = 0", "problems = = 0")

    _edit_source(checkout, edit)
    _assert_refused(checkout, "logreg_digits.ipynb, cell", "a test of q_softmax", "syntax error")


def test_question_without_tests_is_named(checkout):
    """Is an autograded question whose tests were deleted named?"""

    def edit(cells):
        begin = _cell_index(cells, "name: q_predict")
        start = next(i for i in range(begin, len(cells)) if cells[i].source == "# BEGIN TESTS")
        end = next(i for i in range(start, len(cells)) if cells[i].source == "# END TESTS")
        del cells[start : end + 1]

    _edit_source(checkout, edit)
    _assert_refused(checkout, "question q_predict is autograded but has no tests")


def test_missing_data_file_is_named(checkout):
    """Is a file listed in the ASSIGNMENT CONFIG but absent named?"""
    shutil.rmtree(checkout / "assignment" / "hidden_photos")
    _assert_refused(
        checkout, "hidden_photos: missing (listed in ASSIGNMENT CONFIG 'autograder_files')"
    )


def test_broken_assignment_config_is_named(checkout):
    """Is broken YAML in the ASSIGNMENT CONFIG cell named by cell?"""

    def edit(cells):
        cells[0].source = cells[0].source.replace("files:\n  - data", "files:\n  - data\n - [oops")

    _edit_source(checkout, edit)
    _assert_refused(checkout, "cell 1 (ASSIGNMENT CONFIG): broken YAML")


def test_question_without_hidden_tests_is_refused(checkout):
    """Gate: is a question whose every test is public refused, naming it?"""

    def edit(cells):
        i = _cell_index(cells, "def test_predict_random")
        cells[i].source = cells[i].source.replace("hidden: true", "hidden: false")

    _edit_source(checkout, edit)
    _assert_refused(checkout, "no hidden test for question(s) q_predict")


def test_hidden_test_reading_student_work_directly_is_refused(checkout):
    """Gate: is a hidden test that bypasses answer() refused, naming it and its question?"""

    def edit(cells):
        i = _cell_index(cells, "def test_predict_random")
        source = cells[i].source
        start = source.index("    labels = answer(")
        end = source.index("\n", start)
        cells[i].source = (
            source[:start]
            + "    labels = [predict_label(probs.copy(), classes) for probs, classes in cases]"
            + source[end:]
        )

    _edit_source(checkout, edit)
    _assert_refused(checkout, "hidden test test_predict_random of q_predict calls answer() 0 times")


# --- gates that need the built release ------------------------------------------------------------


@pytest.mark.release
def test_one_build_names_every_failed_gate(checkout):
    """Gates: does one build of a source carrying four defects fail naming each, and leave the
    committed release as it was? A hidden test's line pasted into a prompt, a solution that loses
    the softmax points, a hidden test a blank passes, and an error before the first blank (in a
    plot cell that grading skips, so the other gates see nothing of it)."""

    def edit(cells):
        i = _cell_index(cells, "def test_softmax_batch")
        leaked = next(line for line in cells[i].source.splitlines() if "np.exp(" in line)
        j = _cell_index(cells, "**Question (`q_softmax`).**")
        cells[j].source += f"\n\nHint:\n\n    {leaked.strip()}"

        i = _cell_index(cells, "def softmax(z):")
        cells[i].source = cells[i].source.replace("np.max(z, axis=-1, keepdims=True)", "0")

        i = _cell_index(cells, "def test_z_uses_intercept")
        test = nbformat.v4.new_code_cell(
            '""" # BEGIN TEST CONFIG\nhidden: true\npoints: 1\n""" # END TEST CONFIG\n'
            "def test_z_defined(compute_z):\n    assert answer(lambda: 1) == 1"
        )
        cells.insert(i + 1, test)
        q = _cell_index(cells, "name: q_z")
        cells[q].source = cells[q].source.replace("points: 2", "points: 3")

        i = _cell_index(cells, "samples_per_class = 5")
        assert "otter_ignore" in cells[i].metadata.get("tags", [])
        cells[i].source = cells[i].source.replace("samples_per_class = 5", "samples_per_class = k")

    _edit_source(checkout, edit)
    _assert_refused(
        checkout,
        "student_template/logreg_digits.ipynb shows a line of a hidden test of q_softmax",
        "the solution, graded with the built zip: q_softmax scored",
        "the blank student notebook, graded with the built zip: q_z scored 1",
        "(before the first blank) raises NameError",
    )


# --- publishing, reproducibility and --check -----------------------------------------------------


@pytest.mark.release
def test_release_publishes_the_committed_bytes(checkout):
    """Does a good build replace the old release with exactly the four generated folders, byte
    for byte the committed release (built in another folder, another time: so the same source
    gives the same bytes, and the committed release is what the source produces)?"""
    result = CliRunner().invoke(main, ["release", "--root", str(checkout)])
    assert result.exit_code == 0, result.output
    files = _snapshot(checkout)
    assert "autograder/logreg_digits-autograder.zip" in files
    assert not any(name.endswith("committed.txt") for name in files)
    student = {f for f in files if f.startswith("student_template/")}
    expected = {
        "student_template/logreg_digits.ipynb",
        "student_template/data/mnist_10k.npz",
        "student_template/requirements.txt",
        "student_template/README.md",
        "student_template/tests/q_softmax.py",
    }
    assert expected <= student
    assert all(
        f in expected
        or f.startswith(("student_template/photos/digit_", "student_template/tests/q_"))
        or f.endswith(".md")
        for f in student
    ), student
    assert {f for f in files if f.startswith("student_download/")} == {
        "student_download/logreg_digits-student.zip"
    }
    assert set(f for f in files if f.startswith("solutions/")) == {"solutions/logreg_digits.ipynb"}
    assert "q_l1_sweep" in result.output and "sha256" in result.output
    assert "15 points autograded, 5 graded by hand" in result.output
    committed = _snapshot(ROOT)
    assert sorted(files) == sorted(committed)
    stale = [name for name in files if files[name] != committed[name]]
    assert stale == [], "the committed release is stale: run labkit release and commit"


@pytest.mark.release
def test_check_names_edited_and_stale_files(tmp_path):
    """Does --check name a hand-edited generated file, a stray file and a source edit?"""
    shutil.copytree(ROOT / "assignment", tmp_path / "assignment")
    for name in release.RELEASE_DIRS:
        shutil.copytree(ROOT / name, tmp_path / name)
    with (tmp_path / "student_template" / "photos" / "digit_0_a.jpg").open("ab") as f:
        f.write(b"\0")
    (tmp_path / "autograder" / "notes.txt").write_text("stray\n")

    def edit(cells):
        i = _cell_index(cells, "## Prepare data")
        cells[i].source += "\n\nA sentence the instructor added."

    _edit_source(tmp_path, edit)
    result = CliRunner().invoke(main, ["release", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "student_template/photos/digit_0_a.jpg (differs" in result.output
    assert "autograder/notes.txt (not produced by the source)" in result.output
    assert "student_template/logreg_digits.ipynb (differs" in result.output
    assert "solutions/logreg_digits.ipynb (differs" in result.output


def test_check_says_when_the_release_is_current(monkeypatch):
    """Does --check exit 0 saying so when nothing differs (the build itself mocked)?"""
    monkeypatch.setattr(release, "check_release", lambda root: [])
    result = CliRunner().invoke(main, ["release", "--check"])
    assert result.exit_code == 0, result.output
    assert "the committed release is what the source produces" in result.output


def test_check_names_the_differences_and_fails(monkeypatch):
    """Does --check exit 1 listing what differs, asking for a rebuild?"""
    monkeypatch.setattr(release, "check_release", lambda root: ["autograder/x.zip (differs)"])
    result = CliRunner().invoke(main, ["release", "--check"])
    assert result.exit_code == 1
    assert "stale; run 'labkit release'" in result.output and "autograder/x.zip" in result.output
