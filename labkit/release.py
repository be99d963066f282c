"""Build the student, solution and autograder releases from ``assignment/`` and prove them right.

Plain ``otter assign`` writes a timestamped zip, random cell ids and run-dependent outputs, and only
checks that the solution passes. ``build_release`` runs it in a temporary folder, normalizes what it
wrote so that the same source always gives the same bytes, refuses to publish unless every
verification gate passes, and only then swaps the new release in for the old one.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from labkit import students
from labkit.atomic import reproducible_zip
from labkit.data import REPO_ROOT, sha256_of
from labkit.gradebook import written

ASSIGNMENT_NAME = "logreg_digits"
SOURCE_NOTEBOOK = Path("assignment") / f"{ASSIGNMENT_NAME}.ipynb"
NOTEBOOK_NAME = f"{ASSIGNMENT_NAME}.ipynb"
ZIP_NAME = f"{ASSIGNMENT_NAME}-autograder.zip"
# The written questions, for collecting and grading their answers (labkit.review).
WRITTEN_QUESTIONS_NAME = "written_questions.json"
STUDENT_ZIP_NAME = f"{ASSIGNMENT_NAME}-student.zip"
RELEASE_DIRS = ("student_template", "student_download", "solutions", "autograder")

ANSWER_TAG = "otter_answer_cell"
# The grading package (labkit.grader, with its otter plugin), importable from the zip's root.
GRADER_PACKAGE = Path(__file__).with_name("grader")
# Student code runs as an unprivileged user where the grader is root; on Gradescope the grading
# Python lives under /root, which that user must be able to cross (not list).
SETUP_SH_ADDITION = (
    "\n# labkit: student code runs as an unprivileged user, which must reach /root/miniforge3\n"
    "chmod o+x /root\n"
)
_EXECUTABLE_ENTRIES = {"run_autograder", "setup.sh"}
# Single-threaded BLAS in every kernel the release starts, so printed floats never vary.
_KERNEL_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class ReleaseError(Exception):
    """The source or the built release is wrong; the message names the cell, question or file."""


@dataclass
class Question:
    """One question of the source notebook, as the summary and the gates need it."""

    name: str
    points: float
    manual: bool
    hidden_tests: list[str] = field(default_factory=list)
    public_tests: list[str] = field(default_factory=list)


@dataclass
class ReleaseSummary:
    """What a build produced: its questions, timing and the zip's hash."""

    questions: list[Question]
    seconds: float
    zip_sha256: str

    def render(self) -> str:
        """Return the summary as the few lines printed at the end of a release."""
        auto = [q for q in self.questions if not q.manual]
        manual = [q for q in self.questions if q.manual]
        lines = [f"{'question':<18}{'points':>7}  kind     hidden  public"]
        for q in self.questions:
            kind = "manual" if q.manual else "auto"
            lines.append(
                f"{q.name:<18}{q.points:>7g}  {kind:<7}"
                f"{len(q.hidden_tests):>7}{len(q.public_tests):>8}"
            )
        lines.append(
            f"{len(self.questions)} questions: {sum(q.points for q in auto):g} points autograded, "
            f"{sum(q.points for q in manual):g} graded by hand; "
            f"{sum(len(q.hidden_tests) for q in auto)} hidden and "
            f"{sum(len(q.public_tests) for q in auto)} public tests"
        )
        lines.append(
            f"built and verified in {self.seconds:.0f} s; {ZIP_NAME} sha256 {self.zip_sha256}"
        )
        return "\n".join(lines)


# --- reading the source ---------------------------------------------------------------------------


def read_source(source_dir: Path) -> list[Question]:
    """Parse and check the source notebook; return its questions.

    Raises ReleaseError naming the cell for a broken config, a test with a syntax error, an
    autograded question without tests, and naming the file for a missing data file.
    """
    path = source_dir / NOTEBOOK_NAME
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ReleaseError(f"{path}: source notebook not found") from None
    except Exception as exc:
        raise ReleaseError(f"{path}: not a valid notebook ({exc})") from exc

    config = None
    questions: list[Question] = []
    question, in_tests = None, False
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.source.strip()
        where = f"{path}, cell {number}"
        if cell.cell_type == "raw" and source.startswith("# ASSIGNMENT CONFIG"):
            config = _parse_yaml(source, where=f"{where} (ASSIGNMENT CONFIG)")
        elif cell.cell_type == "raw" and source.startswith("# BEGIN QUESTION"):
            settings = _parse_yaml(source, where=f"{where} (BEGIN QUESTION)")
            if "name" not in settings:
                raise ReleaseError(f"{where}: BEGIN QUESTION has no 'name'")
            question = Question(
                name=str(settings["name"]),
                points=float(settings.get("points", 1)),
                manual=bool(settings.get("manual", False)),
            )
            questions.append(question)
        elif cell.cell_type == "raw" and source == "# BEGIN TESTS":
            in_tests = True
        elif cell.cell_type == "raw" and source == "# END TESTS":
            in_tests = False
        elif cell.cell_type == "raw" and source == "# END QUESTION":
            question = None
        elif in_tests and cell.cell_type == "code" and question is not None:
            _read_test_cell(cell.source, question, where=where)
    if config is None:
        raise ReleaseError(f"{path}: no raw '# ASSIGNMENT CONFIG' cell")
    for question in questions:
        if not question.manual and not (question.hidden_tests or question.public_tests):
            raise ReleaseError(f"{path}: question {question.name} is autograded but has no tests")
    for key in ("files", "autograder_files"):
        for name in config.get(key) or []:
            if not (source_dir / name).exists():
                raise ReleaseError(
                    f"{source_dir / name}: missing (listed in ASSIGNMENT CONFIG '{key}')"
                )
    return questions


def _parse_yaml(source: str, *, where: str) -> dict:
    try:
        parsed = yaml.safe_load(source.split("\n", 1)[1] if "\n" in source else "")
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{where}: broken YAML: {exc}") from exc
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ReleaseError(f"{where}: expected 'key: value' lines, got {type(parsed).__name__}")
    return parsed


_TEST_CONFIG = re.compile(r'^\s*"""\s*#\s*BEGIN TEST CONFIG(.*?)"""\s*#\s*END TEST CONFIG', re.S)


def _read_test_cell(source: str, question: Question, *, where: str) -> None:
    hidden = False
    match = _TEST_CONFIG.match(source)
    if match:
        settings = _parse_yaml("config\n" + match.group(1), where=f"{where} (TEST CONFIG)")
        hidden = bool(settings.get("hidden", False))
    elif source.lstrip().startswith("#"):
        hidden = "hidden" in source.lstrip().splitlines()[0].lower()
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise ReleaseError(
            f"{where} (a test of {question.name}): syntax error at line {exc.lineno}: {exc.msg}"
        ) from None
    (question.hidden_tests if hidden else question.public_tests).append(source)


# --- building -------------------------------------------------------------------------------------


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
    env = {**os.environ, **_KERNEL_ENV, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
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


def build_tree(source_dir: Path, work_dir: Path, *, questions: list[Question]) -> Path:
    """Build the three release folders under ``work_dir/release`` and return that folder.

    No verification happens here: see ``verify_release``.
    """
    dist = run_otter_assign(source_dir, work_dir)
    release = work_dir / "release"
    student = release / "student_template"
    shutil.copytree(dist / "student", student)
    solutions = release / "solutions"
    solutions.mkdir()
    shutil.copy2(dist / "autograder" / NOTEBOOK_NAME, solutions / NOTEBOOK_NAME)
    add_student_files(source_dir, student, [student / NOTEBOOK_NAME, solutions / NOTEBOOK_NAME])
    normalize_notebook(student / NOTEBOOK_NAME, clear_outputs=True)
    (release / "student_download").mkdir()
    students.write_student_zip(
        student, release / "student_download" / STUDENT_ZIP_NAME, top=ASSIGNMENT_NAME
    )

    (release / "autograder").mkdir(parents=True)
    built_zips = sorted((dist / "autograder").glob(f"{ASSIGNMENT_NAME}-autograder_*.zip"))
    if len(built_zips) != 1:
        raise ReleaseError(f"otter assign wrote {len(built_zips)} autograder zips, expected 1")
    unpacked = work_dir / "zip"
    with zipfile.ZipFile(built_zips[0]) as archive:
        archive.extractall(unpacked)
    # The grading plugin travels in the zip, importable from its root on Gradescope.
    (unpacked / "labkit" / "grader").mkdir(parents=True)
    shutil.copy2(Path(__file__).with_name("__init__.py"), unpacked / "labkit" / "__init__.py")
    for path in grader_files():
        shutil.copy2(path, unpacked / "labkit" / "grader" / path.name)
    setup_sh = unpacked / "setup.sh"
    setup_sh.write_text(setup_sh.read_text() + SETUP_SH_ADDITION)
    manual = written_questions(solutions / NOTEBOOK_NAME, questions)
    (unpacked / WRITTEN_QUESTIONS_NAME).write_text(written.questions_to_json(manual))
    write_zip(unpacked, release / "autograder" / ZIP_NAME)
    return release


def written_questions(solutions: Path, questions: list[Question]) -> list[written.WrittenQuestion]:
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


def execute_solution(release: Path, work_dir: Path) -> None:
    """Execute the solution notebook beside the student files, so its outputs and plots show."""
    run_dir = work_dir / "solution-run"
    shutil.copytree(release / "student_template", run_dir)
    notebook = release / "solutions" / NOTEBOOK_NAME
    nb = execute_notebook(notebook, workdir=run_dir, skip="grader.export(")
    nbformat.write(nb, notebook)
    normalize_notebook(notebook, clear_outputs=False)


# --- verification gates ---------------------------------------------------------------------------


def check_hidden_tests(questions: list[Question]) -> None:
    """Gate: every autograded question has a hidden test, each calling ``answer()`` once.

    The student's work reaches a hidden test only through ``answer(lambda: ...)`` (see
    ``labkit.grader.judging``): a test without it could not see the work, one with two calls
    would be stopped in the student's process after the first.
    """
    missing = [q.name for q in questions if not q.manual and not q.hidden_tests]
    if missing:
        raise ReleaseError(f"no hidden test for question(s) {', '.join(missing)}")
    for q in questions:
        for test in q.hidden_tests:
            tree = ast.parse(_TEST_CONFIG.sub("", test))
            name = next((n.name for n in tree.body if isinstance(n, ast.FunctionDef)), "?")
            calls = sum(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "answer"
                for n in ast.walk(tree)
            )
            if calls != 1:
                raise ReleaseError(
                    f"hidden test {name} of {q.name} calls answer() {calls} times: it must pass "
                    "the student's work through exactly one answer(lambda: ...)"
                )


def check_no_leaks(student_dir: Path, questions: list[Question]) -> None:
    """Gate: no line of a hidden test appears anywhere in the student release.

    Lines that also occur in a public test are public by design; imports and short lines say
    nothing. Both the source form and otter's re-printed (``ast.unparse``) form count.
    """
    public = {line.strip() for q in questions for t in q.public_tests for line in _test_lines(t)}
    shown: dict[str, set[str]] = {}
    for file in sorted(p for p in student_dir.rglob("*") if p.is_file()):
        text = _visible_text(file)
        if text is not None:
            shown[str(file.relative_to(student_dir.parent))] = {
                line.strip() for line in text.splitlines()
            }
    leaks = []
    for q in questions:
        for test in q.hidden_tests:
            lines = {line.strip() for line in _test_lines(test)} - public
            lines = {line for line in lines if len(line) >= 30 and not _is_import(line)}
            for file, file_lines in shown.items():
                for line in sorted(lines & file_lines):
                    leaks.append(f"{file} shows a line of a hidden test of {q.name}: {line[:60]!r}")
    if leaks:
        raise ReleaseError(
            "hidden tests leak into the student release: " + "; ".join(sorted(set(leaks)))
        )


def _is_import(line: str) -> bool:
    return line.startswith("import ") or (line.startswith("from ") and " import " in line)


def _test_lines(test_source: str) -> list[str]:
    body = _TEST_CONFIG.sub("", test_source)
    lines = body.splitlines()
    with contextlib.suppress(SyntaxError):
        lines += ast.unparse(ast.parse(body)).splitlines()
    return lines


def _visible_text(file: Path) -> str | None:
    """All text a student can see in a file: every string of a notebook, metadata included."""
    if file.suffix == ".ipynb":
        strings: list[str] = []

        def collect(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, dict):
                for value in node.values():
                    collect(value)
            elif isinstance(node, list):
                for value in node:
                    collect(value)

        collect(json.loads(file.read_text()))
        return "\n".join(strings)
    try:
        return file.read_text()
    except UnicodeDecodeError:
        return None


def check_student_runs(student_dir: Path, work_dir: Path) -> None:
    """Gate: the student notebook runs top to bottom without errors up to its first blank."""
    run_dir = work_dir / "student-run"
    shutil.copytree(student_dir, run_dir)
    nb = execute_notebook(run_dir / NOTEBOOK_NAME, workdir=run_dir, skip="grader.export(")
    first_blank = next(
        (n for n, c in enumerate(nb.cells) if ANSWER_TAG in c.metadata.get("tags", [])),
        len(nb.cells),
    )
    for number, cell in enumerate(nb.cells[:first_blank]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise ReleaseError(
                    f"student_template/{NOTEBOOK_NAME}, cell {number + 1} (before the first blank) "
                    f"raises {output['ename']}: {output['evalue']}"
                )


def grade_with_otter_run(zip_path: Path, notebook: Path, work_dir: Path) -> dict[str, float]:
    """Grade one notebook with ``otter run -a zip_path``; return each question's score."""
    out = work_dir / f"otter-run-{notebook.stem}"
    out.mkdir(parents=True)
    submission = out / NOTEBOOK_NAME
    shutil.copy2(notebook, submission)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otter",
            "run",
            "-a",
            str(zip_path),
            "-o",
            str(out),
            str(submission),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **_KERNEL_ENV},
        check=False,
    )
    results = out / "results.json"
    if done.returncode != 0 or not results.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ReleaseError(f"otter run on {notebook.name} failed:\n{tail}")
    tests = json.loads(results.read_text())["tests"]
    return {t["name"]: float(t["score"]) for t in tests if "score" in t}


def check_scores(scores: dict[str, float], questions: list[Question], *, expect: str) -> None:
    """Gate: the solution earns every point (``expect='full'``), the blank none (``'zero'``)."""
    wrong = []
    for q in questions:
        if q.manual:
            continue
        got = scores.get(q.name)
        wanted = q.points if expect == "full" else 0.0
        if got is None or abs(got - wanted) > 1e-9:
            wrong.append(f"{q.name} scored {got} instead of {wanted:g}")
    if wrong:
        which = "the solution" if expect == "full" else "the blank student notebook"
        raise ReleaseError(f"{which}, graded with the built zip: " + "; ".join(wrong))


def check_graded(
    zip_path: Path, notebook: Path, questions: list[Question], work_dir: Path, *, expect: str
) -> None:
    """Gate: grade ``notebook`` with the built zip and check its scores (see ``check_scores``)."""
    check_scores(grade_with_otter_run(zip_path, notebook, work_dir), questions, expect=expect)


def verify_release(release: Path, questions: list[Question], work_dir: Path) -> None:
    """Run every gate on a built release; raise one ReleaseError listing each gate that failed."""
    failures: list[str] = []

    def gate(check, *args, **kwargs):
        try:
            check(*args, **kwargs)
        except ReleaseError as exc:
            failures.append(str(exc))

    gate(check_no_leaks, release / "student_template", questions)
    zip_path = release / "autograder" / ZIP_NAME
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(gate, check_student_runs, release / "student_template", work_dir)]
        for expect, notebook in (
            ("full", release / "solutions" / NOTEBOOK_NAME),
            ("zero", release / "student_template" / NOTEBOOK_NAME),
        ):
            futures.append(
                pool.submit(
                    gate,
                    check_graded,
                    zip_path,
                    notebook,
                    questions,
                    work_dir / expect,
                    expect=expect,
                )
            )
        for future in futures:
            future.result()  # anything but a failed gate propagates
    if failures:
        raise ReleaseError(
            "the release failed verification:\n  - " + "\n  - ".join(sorted(failures))
        )


# --- publishing -----------------------------------------------------------------------------------


def build_release(*, root: Path = REPO_ROOT, verify: bool = True) -> ReleaseSummary:
    """Build, verify and publish the release of ``root/assignment`` into ``root``.

    Args:
        root: the repository root holding ``assignment/``.
        verify: run the verification gates (only tests of the build itself turn this off).

    The committed release folders are replaced only after every gate passed; on any error they
    are left exactly as they were.
    """
    started = time.monotonic()
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="labkit-release-") as tmp:
        release, questions = _build_verified(root, Path(tmp), verify=verify)
        _swap_in(release, root)
    return ReleaseSummary(
        questions, time.monotonic() - started, sha256_of(root / "autograder" / ZIP_NAME)
    )


def check_release(*, root: Path = REPO_ROOT) -> list[str]:
    """Rebuild in a temporary folder; return the committed release files that differ from it."""
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as tmp:
        release, _ = _build_verified(root, Path(tmp), verify=True)
        return compare_trees(release, root)


def _build_verified(root: Path, work_dir: Path, *, verify: bool) -> tuple[Path, list[Question]]:
    source_dir = root / SOURCE_NOTEBOOK.parent
    questions = read_source(source_dir)
    check_hidden_tests(questions)
    release = build_tree(source_dir, work_dir, questions=questions)
    execute_solution(release, work_dir)
    if verify:
        verify_release(release, questions, work_dir)
    return release, questions


def compare_trees(built: Path, root: Path) -> list[str]:
    """Return the release files (relative to ``root``) that differ, are missing or are extra."""
    differences = []
    for name in RELEASE_DIRS:
        new = {p.relative_to(built): p for p in (built / name).rglob("*") if p.is_file()}
        old_dir = root / name
        old = (
            {p.relative_to(root): p for p in old_dir.rglob("*") if p.is_file()}
            if old_dir.exists()
            else {}
        )
        for rel in sorted(set(new) | set(old)):
            if rel not in old:
                differences.append(f"{rel} (missing from the committed release)")
            elif rel not in new:
                differences.append(f"{rel} (not produced by the source)")
            elif new[rel].read_bytes() != old[rel].read_bytes():
                differences.append(f"{rel} (differs from what the source produces)")
    return differences


def _swap_in(release: Path, root: Path) -> None:
    """Replace root's release folders with the new ones, all or nothing."""
    staging = Path(tempfile.mkdtemp(prefix=".release-staging-", dir=root))
    try:
        for name in RELEASE_DIRS:
            shutil.copytree(release / name, staging / "new" / name)
        (staging / "old").mkdir()
        started: list[str] = []
        try:
            for name in RELEASE_DIRS:
                if (root / name).exists():
                    os.replace(root / name, staging / "old" / name)
                started.append(name)
                os.replace(staging / "new" / name, root / name)
        except OSError:
            for name in reversed(started):
                if (root / name).exists() and not (staging / "new" / name).exists():
                    os.replace(root / name, staging / "new" / name)
                if (staging / "old" / name).exists():
                    os.replace(staging / "old" / name, root / name)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
