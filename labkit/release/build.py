"""Building the release: declared steps, each a small function of the build in progress.

``otter assign`` runs in a temporary folder; the steps then make what it wrote reproducible (same
source, same bytes: stable cell ids, fixed zip timestamps and order, a stable zip name), add what a
student's first run needs, pack the autograder zip with the grading package and the written
questions, and execute the solutions. ``STEPS`` lists them in order; nothing here verifies (see
``gates``) or publishes (see ``publish``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from labkit import students
from labkit.atomic import reproducible_zip
from labkit.gradebook import written
from labkit.gradebook.manifest import MANIFEST_NAME, Manifest, ManifestQuestion
from labkit.release.source import (
    ASSIGNMENT_NAME,
    NOTEBOOK_NAME,
    STUDENT_ZIP_NAME,
    ZIP_NAME,
    ReleaseError,
    SourceQuestion,
)

# The grading package (labkit.grader, with its otter plugin), importable from the zip's root.
KIT_PACKAGE = Path(__file__).resolve().parent.parent
GRADER_PACKAGE = KIT_PACKAGE / "grader"
# Student code runs as an unprivileged user where the grader is root; on Gradescope the grading
# Python lives under /root, which that user must be able to cross (not list).
SETUP_SH_ADDITION = (
    "\n# labkit: student code runs as an unprivileged user, which must reach /root/miniforge3\n"
    "chmod o+x /root\n"
)
_EXECUTABLE_ENTRIES = {"run_autograder", "setup.sh"}
# Single-threaded BLAS in every kernel the release starts, so printed floats never vary.
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Build:
    """A release being built in ``work_dir``: where its source is, what the steps have made."""

    source_dir: Path
    work_dir: Path
    questions: list[SourceQuestion]

    @property
    def release(self) -> Path:
        """The folder holding the release folders (``student_template/`` ...)."""
        return self.work_dir / "release"

    @property
    def assigned(self) -> Path:
        """What otter assign wrote."""
        return self.work_dir / "dist"

    @property
    def student(self) -> Path:
        """The student folder."""
        return self.release / "student_template"

    @property
    def solution(self) -> Path:
        """The solution notebook."""
        return self.release / "solutions" / NOTEBOOK_NAME

    @property
    def autograder_zip(self) -> Path:
        """The autograder zip."""
        return self.release / "autograder" / ZIP_NAME


@dataclass(frozen=True)
class Step:
    """One step of the build: what it makes, and the function that makes it."""

    makes: str
    run: Callable[[Build], None]


def assign(build: Build) -> None:
    """Run otter assign on a copy of the source."""
    run_otter_assign(build.source_dir, build.work_dir)


def student_and_solution(build: Build) -> None:
    """The student folder and the solution notebook, each with the setup and export cells."""
    shutil.copytree(build.assigned / "student", build.student)
    build.solution.parent.mkdir(parents=True)
    shutil.copy2(build.assigned / "autograder" / NOTEBOOK_NAME, build.solution)
    add_student_files(
        build.source_dir, build.student, [build.student / NOTEBOOK_NAME, build.solution]
    )
    normalize_notebook(build.student / NOTEBOOK_NAME, clear_outputs=True)


def student_download(build: Build) -> None:
    """The student folder as one reproducible zip."""
    target = build.release / "student_download" / STUDENT_ZIP_NAME
    target.parent.mkdir(parents=True)
    students.write_student_zip(build.student, target, top=ASSIGNMENT_NAME)


def autograder(build: Build) -> None:
    """The autograder zip: otter's, with the grading package and the written questions."""
    built_zips = sorted((build.assigned / "autograder").glob(f"{ASSIGNMENT_NAME}-autograder_*.zip"))
    if len(built_zips) != 1:
        raise ReleaseError(f"otter assign wrote {len(built_zips)} autograder zips, expected 1")
    unpacked = build.work_dir / "zip"
    with zipfile.ZipFile(built_zips[0]) as archive:
        archive.extractall(unpacked)
    # The grading plugin travels in the zip, importable from its root on Gradescope.
    (unpacked / "labkit" / "grader").mkdir(parents=True)
    shutil.copy2(KIT_PACKAGE / "__init__.py", unpacked / "labkit" / "__init__.py")
    for path in grader_files():
        shutil.copy2(path, unpacked / "labkit" / "grader" / path.name)
    setup_sh = unpacked / "setup.sh"
    setup_sh.write_text(setup_sh.read_text() + SETUP_SH_ADDITION)
    manual = written_questions(build.solution, build.questions)
    (unpacked / written.QUESTIONS_NAME).write_text(written.questions_to_json(manual))
    (unpacked / MANIFEST_NAME).write_text(questions_manifest(build.questions).to_json())
    build.autograder_zip.parent.mkdir(parents=True)
    write_zip(unpacked, build.autograder_zip)


def executed_solution(build: Build) -> None:
    """Execute the solution notebook beside the student files, so its outputs and plots show."""
    run_dir = build.work_dir / "solution-run"
    shutil.copytree(build.student, run_dir)
    nb = execute_notebook(build.solution, workdir=run_dir, skip="grader.export(")
    nbformat.write(nb, build.solution)
    normalize_notebook(build.solution, clear_outputs=False)


STEPS = (
    Step("otter assign's output", assign),
    Step("the student folder and the solution notebook", student_and_solution),
    Step("the student download zip", student_download),
    Step("the autograder zip", autograder),
    Step("the executed solution notebook", executed_solution),
)


def build_tree(source_dir: Path, work_dir: Path, *, questions: list[SourceQuestion]) -> Build:
    """Run every step of ``STEPS`` in ``work_dir``; the release folders are under
    ``build.release``. No verification happens here (see ``gates``)."""
    build = Build(source_dir=source_dir, work_dir=work_dir, questions=questions)
    for step in STEPS:
        step.run(build)
    return build


def run_otter_assign(source_dir: Path, out_dir: Path) -> Path:
    """Run otter assign on a copy of ``source_dir``; return the folder it wrote."""
    staged = out_dir / "source"
    shutil.copytree(source_dir, staged)
    result = out_dir / "dist"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otter",
            "assign",
            "--no-run-tests",
            "--no-pdfs",
            NOTEBOOK_NAME,
            str(result),
        ],
        cwd=staged,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ReleaseError(f"{source_dir / NOTEBOOK_NAME}: otter assign failed:\n{tail}")
    return result


def normalize_notebook(path: Path, *, clear_outputs: bool) -> None:
    """Rewrite a notebook with stable cell ids and no run-dependent metadata."""
    nb = nbformat.read(path, as_version=4)
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number:03d}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and clear_outputs:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def write_zip(source_dir: Path, path: Path) -> None:
    """Zip ``source_dir`` with sorted entries, fixed timestamps and fixed permissions."""
    entries = []
    for file in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        name = file.relative_to(source_dir).as_posix()
        entries.append((name, file.read_bytes(), 0o755 if name in _EXECUTABLE_ENTRIES else 0o644))
    path.write_bytes(reproducible_zip(entries))


def execute_notebook(path: Path, *, workdir: Path, skip: str | None = None, timeout: int = 600):
    """Execute a notebook in ``workdir`` (errors kept in the outputs) and return it.

    Cells containing ``skip`` are left unexecuted; absolute paths of the run are scrubbed from the
    outputs so that the result does not depend on where it ran.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    skipped = {}
    if skip:
        for number, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and skip in cell.source:
                skipped[number], cell.source = cell.source, ""
    # otter picks a random emoji for each passed check: seed Python's generator first.
    nb.cells.insert(0, nbformat.v4.new_code_cell("import random\nrandom.seed(0)\ndel random"))
    env = {**os.environ, **KERNEL_ENV, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=env)
    del nb.cells[0]
    for cell in nb.cells:  # number the cells as if the seeding cell had not run
        if cell.get("execution_count"):
            cell.execution_count -= 1
        for output in cell.get("outputs", []):
            if output.get("execution_count"):
                output["execution_count"] -= 1
    for number, source in skipped.items():
        nb.cells[number].source = source
    _scrub_paths(nb, [str(workdir), sys.prefix, str(Path.home())])
    return nb


def _scrub_paths(nb, prefixes: list[str]) -> None:
    prefixes = sorted({p for p in prefixes if p and p != "/"}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "<env>" if prefix == sys.prefix else ".")
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = scrub(output["text"])
            if "traceback" in output:
                output["traceback"] = [scrub(line) for line in output["traceback"]]
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output["data"][mime] = scrub(value)


def grader_files() -> list[Path]:
    """The grading package's modules, as the autograder zip ships them."""
    return sorted(GRADER_PACKAGE.glob("*.py"))


def questions_manifest(questions: list[SourceQuestion]) -> Manifest:
    """The zip's ``questions.json``: every question of the source, in notebook order, with its
    points, how it is graded and whether it is a bonus (``bonus: true`` in its BEGIN QUESTION)."""
    return Manifest(
        assignment=ASSIGNMENT_NAME,
        questions=tuple(
            ManifestQuestion(
                name=q.name,
                points=q.points,
                kind="written" if q.manual else "autograded",
                bonus=q.bonus,
            )
            for q in questions
        ),
    )


def written_questions(
    solutions: Path, questions: list[SourceQuestion]
) -> list[written.WrittenQuestion]:
    """The hand-graded questions, in notebook order, with their prompt and reference answer.

    Each is found in the solutions notebook by its start marker (the cell that names it in
    backticks) and its reference is the solution cells of its region; a question missing
    either is a ReleaseError naming it.
    """
    text = solutions.read_text()
    cells = nbformat.reads(text, as_version=4).cells
    found = []
    for question in (q for q in questions if q.manual):
        markers = [
            c.source
            for c in cells
            if written.BEGIN_MARKER in c.source and f"`{question.name}`" in c.source
        ]
        if len(markers) != 1:
            raise ReleaseError(
                f"{solutions.name}: written question {question.name} has {len(markers)} "
                f"'{written.BEGIN_MARKER}' cells naming it in backticks, expected 1"
            )
        entry = written.WrittenQuestion(
            question.name, question.points, written.prompt_of(markers[0])
        )
        reference = written.reference_cells(text, entry)
        if written.is_empty(reference):
            raise ReleaseError(
                f"{solutions.name}: written question {question.name} has no solution"
            )
        found.append(dataclasses.replace(entry, reference=reference))
    return found


def add_student_files(source_dir: Path, student: Path, notebooks: list[Path]) -> None:
    """Give the student release what a first run needs, wherever it happens.

    Each notebook gets the setup cell (pins checked, missing packages installed, lab files found)
    and an export cell that says what to upload; the folder gets ``requirements.txt`` (the lab's
    pins plus JupyterLab) and a ``README.md``.
    """
    try:
        pins = students.read_pins(source_dir / "requirements.txt")
        lab_files = sorted(p.name for p in student.iterdir() if p.is_dir())
        setup = students.setup_cell_source(pins, lab_files=lab_files, student_zip=STUDENT_ZIP_NAME)
        for notebook in notebooks:
            students.add_setup_cell(notebook, setup)
            students.rewrite_export_cell(notebook, zip_prefix=ASSIGNMENT_NAME)
    except students.StudentReleaseError as exc:
        raise ReleaseError(str(exc)) from None
    (student / "requirements.txt").write_text(students.requirements_text(pins))
    (student / "README.md").write_text(
        students.readme_text(
            notebook=NOTEBOOK_NAME, student_zip=STUDENT_ZIP_NAME, lab_files=lab_files
        )
    )
