"""The student release: the setup cell students run first, the export cell, the download zip.

The setup cell is taken from the committed student notebook (what students run) and executed in
a Python process of its own, with ``subprocess.run`` stubbed where it would start pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from labkit import release, students
from labkit.grader.cells import graded_cells

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "student_template"
NOTEBOOK = STUDENT / "logreg_digits.ipynb"
STUDENT_ZIP = ROOT / "student_download" / "logreg_digits-student.zip"
PACKAGES = [
    "otter-grader",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "pillow",
    "matplotlib",
    "seaborn",
]


def lab_pins() -> dict[str, str]:
    """The lab's pins, read straight from the requirements file."""
    pins = {}
    for line in (ROOT / "assignment" / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def setup_source(notebook: Path = NOTEBOOK) -> str:
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    assert "labkit_setup" in cells[0].metadata.get("tags", [])
    return cells[0].source


# Runs before the cell: pip is stubbed (the command is recorded, its exit code chosen by the test),
# and optionally Colab and other installed versions are simulated.
STUB = """
import importlib.metadata, json, subprocess, sys, types
RECORD, EXIT, VERSIONS, COLAB = {record!r}, {exit}, {versions!r}, {colab}

def fake_run(command, *args, **kwargs):
    with open(RECORD, "a") as f:
        f.write(json.dumps(command) + "\\n")
    return subprocess.CompletedProcess(command, EXIT)

subprocess.run = fake_run
real_version = importlib.metadata.version

def fake_version(name):
    if name in VERSIONS:
        if VERSIONS[name] is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return VERSIONS[name]
    return real_version(name)

importlib.metadata.version = fake_version
if COLAB:
    sys.modules["google.colab"] = types.ModuleType("google.colab")
"""


def run_setup(
    tmp_path: Path,
    *,
    python: str = sys.executable,
    versions: dict | None = None,
    colab: bool = False,
    pip_exit: int = 0,
    cwd: Path | None = None,
    before: str = "",
) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the setup cell in ``python`` (after ``before``); return the process and every pip
    command it ran."""
    record = tmp_path / "pip-commands.jsonl"
    script = STUB.format(record=str(record), exit=pip_exit, versions=versions or {}, colab=colab)
    done = subprocess.run(
        [python, "-c", script + before + setup_source()],
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    commands = (
        [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    )
    return done, commands


@pytest.fixture
def lab_folder(tmp_path: Path) -> Path:
    """A working folder with the lab's files, as a student has it."""
    folder = tmp_path / "lab"
    for name in ("data", "photos", "tests"):
        (folder / name).mkdir(parents=True)
    return folder


def test_read_pins_names_the_file_and_line(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pins\nnumpy==2.4.6\n\nPillow==13.0.0  # images\nscipy>=1\n")
    with pytest.raises(students.StudentReleaseError, match=r"requirements.txt, line 5: 'scipy>=1'"):
        students.read_pins(requirements)
    requirements.write_text("numpy==2.4.6\nPillow==13.0.0\n")
    assert students.read_pins(requirements) == {"numpy": "2.4.6", "pillow": "13.0.0"}


def test_setup_cell_needs_a_pin_for_every_notebook_package():
    pins = {name: "1.0" for name in PACKAGES if name != "seaborn"}
    with pytest.raises(students.StudentReleaseError, match="no version of seaborn"):
        students.setup_cell_source(pins, lab_files=["data"], student_zip="x.zip")


def test_setup_cell_is_first_and_never_graded():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "otter_ignore" in code[0].metadata["tags"]
    assert code[1].source.startswith("# Initialize Otter")
    graded = [cell.source for cell in graded_cells(nb)]
    assert not any("_lab_setup" in source for source in graded)
    assert not any("grader.export(" in source for source in graded)
    assert any("import otter" in source for source in graded)


def test_all_present_installs_nothing(lab_folder):
    done, commands = run_setup(lab_folder.parent, cwd=lab_folder)
    assert done.returncode == 0, done.stderr
    assert commands == []
    assert done.stdout.strip() == (
        "Setup done: the lab's packages are at the expected versions, its files are here."
    )


def test_missing_otter_is_installed_with_the_pins(lab_folder):
    pins = lab_pins()
    done, commands = run_setup(
        lab_folder.parent, cwd=lab_folder, versions={"otter-grader": None, "seaborn": None}
    )
    assert done.returncode == 0, done.stderr
    specs = [f"otter-grader=={pins['otter-grader']}", f"seaborn=={pins['seaborn']}"]
    assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", *specs]]
    assert done.stdout.splitlines() == [
        "Installing the lab's packages: " + " ".join(specs),
        "Installed.",
    ]


def test_bare_python_installs_every_notebook_package(tmp_path, lab_folder):
    """A Python with nothing installed (a fresh venv), as Colab is for otter-grader."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pins = lab_pins()
    done, commands = run_setup(tmp_path, python=python, cwd=lab_folder)
    assert done.returncode == 0, done.stderr
    specs = [f"{name}=={pins[name]}" for name in PACKAGES]
    assert commands == [[python, "-m", "pip", "install", "--quiet", *specs]]


def test_offline_install_fails_with_what_to_do(lab_folder):
    done, commands = run_setup(
        lab_folder.parent, cwd=lab_folder, versions={"otter-grader": None}, pip_exit=1
    )
    assert done.returncode != 0
    assert len(commands) == 1
    assert "RuntimeError: pip could not install otter-grader==" in done.stderr
    assert "pip install -r requirements.txt" in done.stderr


def test_older_scikit_learn_is_warned_about_locally(lab_folder):
    pins = lab_pins()
    done, commands = run_setup(
        lab_folder.parent, cwd=lab_folder, versions={"scikit-learn": "1.5.2", "scipy": "1.11.0"}
    )
    assert done.returncode == 0, done.stderr
    assert commands == []  # a student's own environment is theirs: warn, don't change it
    lines = done.stdout.splitlines()
    assert len(lines) == 1  # scipy's minor version changes nothing the lab computes
    assert lines[0].startswith(
        f"Warning: scikit-learn 1.5.2 is installed, but this lab expects scikit-learn "
        f"{pins['scikit-learn']}: older versions fit an L2 model for l1_ratio=1"
    )
    assert f"pip install scikit-learn=={pins['scikit-learn']}" in lines[0]


def test_colab_gets_the_lab_versions_and_is_told_to_restart(lab_folder):
    pins = lab_pins()
    script_versions = {"otter-grader": None, "scikit-learn": "1.6.1", "numpy": "1.26.4"}
    done, commands = run_setup(
        lab_folder.parent, cwd=lab_folder, versions=script_versions, colab=True
    )
    assert done.returncode == 0, done.stderr
    specs = [f"{n}=={pins[n]}" for n in ("otter-grader", "numpy", "scikit-learn")]
    assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", *specs]]
    assert "Warning" not in done.stdout
    # numpy was imported by nothing in this process, so no restart is asked for
    assert done.stdout.splitlines()[-1] == "Installed."


def test_colab_restart_named_when_an_old_version_was_loaded(lab_folder):
    done, commands = run_setup(
        lab_folder.parent,
        cwd=lab_folder,
        versions={"numpy": "1.26.4"},
        colab=True,
        before="import numpy\n",  # as Colab's kernel has it loaded before the first cell
    )
    assert done.returncode == 0, done.stderr
    assert len(commands) == 1
    assert done.stdout.splitlines()[-1] == (
        "Installed. Now restart (Colab: Runtime > Restart session) and run the notebook from the "
        "top: numpy had been loaded in its old version."
    )


def test_missing_folders_are_unpacked_from_the_student_zip(tmp_path):
    (tmp_path / STUDENT_ZIP.name).write_bytes(STUDENT_ZIP.read_bytes())
    done, commands = run_setup(tmp_path)
    assert done.returncode == 0, done.stderr
    assert commands == []
    assert done.stdout.splitlines()[0] == f"Unpacked data, photos, tests from {STUDENT_ZIP.name}"
    for name in ("data/mnist_10k.npz", "photos/digit_0_a.jpg", "tests/q_softmax.py"):
        assert (tmp_path / name).read_bytes() == (STUDENT / name).read_bytes()


def test_unpacking_stays_inside_the_working_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with zipfile.ZipFile(work / STUDENT_ZIP.name, "w") as archive:
        archive.writestr("logreg_digits/data/../../escaped.txt", "x")
        archive.writestr("logreg_digits/photos//etc/x", "x")
        archive.writestr("logreg_digits/notes.txt", "x")
        archive.writestr("logreg_digits/data/ok.npz", "ok")
    done, _ = run_setup(tmp_path, cwd=work)
    assert done.returncode == 0, done.stderr
    assert (work / "data" / "ok.npz").read_text() == "ok"
    assert not (tmp_path / "escaped.txt").exists()
    assert not (work / "notes.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["data", STUDENT_ZIP.name]
    assert "Missing: photos/, tests/: keep the folders" in done.stdout


def test_missing_folders_in_colab_say_how_to_upload(tmp_path):
    done, _ = run_setup(tmp_path, colab=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Missing: data/, photos/, tests/: open the Files pane (the folder icon on the left) and "
        f"upload {STUDENT_ZIP.name}, the zip this notebook came in, then run this cell again."
    )


def test_student_zip_is_the_student_folder():
    with zipfile.ZipFile(STUDENT_ZIP) as archive:
        names = archive.namelist()
        zipped = {n.removeprefix("logreg_digits/"): archive.read(n) for n in names}
    assert all(n.startswith("logreg_digits/") for n in names)
    on_disk = {
        p.relative_to(STUDENT).as_posix(): p.read_bytes() for p in STUDENT.rglob("*") if p.is_file()
    }
    assert zipped == on_disk
    for name in ("logreg_digits.ipynb", "README.md", "requirements.txt", "data/mnist_10k.npz"):
        assert name in zipped


def test_student_requirements_are_the_pins_plus_jupyterlab():
    lines = [
        line
        for line in (STUDENT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    pins = lab_pins()
    assert lines[: len(pins)] == [f"{name}=={version}" for name, version in pins.items()]
    assert len(lines) == len(pins) + 1 and lines[-1].startswith("jupyterlab==")


def test_student_readme_gives_one_command_per_environment():
    readme = (STUDENT / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme
    assert "jupyter lab logreg_digits.ipynb" in readme
    assert "File > Upload notebook" in readme
    assert STUDENT_ZIP.name in readme


def test_export_cell_names_the_zip_and_handles_colab(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    export = next(c for c in nb.cells if c.cell_type == "code" and "grader.export(" in c.source)
    assert "otter_ignore" in export.metadata["tags"]
    (tmp_path / "logreg_digits_2026_12_01T10_00_00_000000.zip").write_bytes(b"")
    prelude = "import sys, types\nclass G:\n    def export(self, **kw): print('exported', kw)\n"
    prelude += "grader = G()\n"
    local = subprocess.run(
        [sys.executable, "-c", prelude + export.source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert local.stdout.splitlines() == [
        "exported {'pdf': False, 'ignore_log': True}",
        f"Your submission is {tmp_path / 'logreg_digits_2026_12_01T10_00_00_000000.zip'} (next "
        "to this notebook). Upload that zip file to your course's submission page. It holds the "
        "notebook as last saved.",
    ]
    colab = prelude + "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    in_colab = subprocess.run(
        [sys.executable, "-c", colab + export.source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exported" not in in_colab.stdout
    assert "File > Download > Download .ipynb" in in_colab.stdout


def test_release_refuses_a_requirements_file_without_pins(tmp_path):
    source = tmp_path / "assignment"
    source.mkdir()
    (source / "requirements.txt").write_text("numpy\n")
    student = tmp_path / "student"
    student.mkdir()
    with pytest.raises(release.ReleaseError, match=r"requirements.txt, line 1: 'numpy'"):
        release.add_student_files(source, student, [])
    assert not (student / "requirements.txt").exists()


def test_setup_source_has_no_absolute_paths():
    source = setup_source()
    assert str(ROOT) not in source and os.path.expanduser("~") not in source
