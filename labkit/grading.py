"""Batch grading for TAs: grade a folder of submissions with the autograder zip, without Docker.

Each submission is graded by otter's own autograder in a sandboxed child forked from a warm
server (``labkit.sandbox``), several at once, each in its own temporary folder with a wall-clock
timeout. Everything a student uploaded is checked here first (empty files, broken JSON, zips with
``../`` names or without exactly one notebook) and only the notebook itself is handed on: nothing
of a zip is ever extracted, and no pickle or log a student made is ever read. Every file is written
atomically and the gradebook is rewritten after each submission, so an interrupted run leaves a
consistent gradebook and a rerun picks up where it stopped.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import signal
import statistics
import tempfile
import threading
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from labkit import sandbox
from labkit.atomic import write_atomically
from labkit.data import sha256_of

FINAL_STATUSES = ("ok", "error", "timeout", "invalid")
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
_IGNORED_IN_ZIPS = ("__MACOSX/", ".ipynb_checkpoints/")
LOG_NOTE = "flagged for review: the zip carried a .OTTER_LOG (a pickle), ignored unread"


class GradingError(Exception):
    """A problem with the batch itself (the autograder zip, clashing names); nothing was graded."""


class InvalidSubmission(Exception):
    """A submission that cannot be graded; the message says why."""


@dataclass
class Submission:
    """One submitted file (or one folder of Gradescope's bulk export)."""

    name: str
    path: Path


@dataclass
class Outcome:
    """The grade of one submission, as ``results.json`` and the gradebook record it."""

    submission: str
    status: str
    message: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    max_total: float = 0.0
    seconds: float = 0.0
    submission_sha256: str = ""
    autograder_sha256: str = ""
    otter: dict | None = None


@dataclass
class Autograder:
    """The autograder zip and what the gradebook needs from it: each question's points."""

    path: Path
    sha256: str
    points: dict[str, float]

    @classmethod
    def load(cls, path: Path) -> Autograder:
        """Read the question names and points from the zip's ``tests/*.py`` files."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                tests = {
                    n: archive.read(n).decode()
                    for n in archive.namelist()
                    if n.startswith("tests/") and n.endswith(".py")
                }
        except (OSError, zipfile.BadZipFile) as exc:
            raise GradingError(f"{path}: not a readable autograder zip ({exc})") from exc
        points = {}
        for name, source in sorted(tests.items()):
            values = {
                node.targets[0].id: node.value
                for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            }
            question = ast.literal_eval(values["name"]) if "name" in values else Path(name).stem
            points[question] = float(ast.literal_eval(values.get("points", ast.Constant(1))))
        if not points:
            raise GradingError(f"{path}: no tests/*.py inside: not an otter autograder zip")
        return cls(path=path, sha256=sha256_of(path), points=points)


# --- what was submitted ---------------------------------------------------------------------------


def find_submissions(paths: list[Path]) -> list[Submission]:
    """Expand files and folders into submissions: one per file, or per bulk-export folder."""
    found: dict[str, Submission] = {}
    for path in map(Path, paths):
        if path.is_dir():
            entries = [p for p in sorted(path.iterdir()) if not p.name.startswith(".")]
        elif path.exists():
            entries = [path]
        else:
            raise GradingError(f"{path}: no such file or folder")
        for entry in entries:
            if entry.name == "submission_metadata.yml":
                continue
            if entry.name in found:
                raise GradingError(
                    f"two submissions are named {entry.name}: {found[entry.name].path} and {entry}"
                )
            found[entry.name] = Submission(entry.name, entry)
    return sorted(found.values(), key=lambda s: s.name)


def read_notebook(path: Path) -> tuple[str, bytes]:
    """Return the submitted notebook's file name and bytes, or raise InvalidSubmission.

    ``path`` is a notebook, a zip made by ``grader.export()``, or a folder of Gradescope's bulk
    export holding one of those.
    """
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.suffix in (".ipynb", ".zip"))
        if len(candidates) != 1:
            raise InvalidSubmission(
                f"expected one .ipynb or .zip in the folder, found {len(candidates)}"
            )
        return read_notebook(candidates[0])
    if path.suffix == ".zip":
        name, data = _notebook_from_zip(path)
    elif path.suffix == ".ipynb":
        name, data = path.name, path.read_bytes()
    else:
        raise InvalidSubmission(f"not a notebook (.ipynb) or an exported .zip: {path.name}")
    if not data.strip():
        raise InvalidSubmission("empty notebook file")
    try:
        text = data.decode("utf-8")
        json.loads(text)
        nbformat.validate(nbformat.reads(text, as_version=4))
    except UnicodeDecodeError:
        raise InvalidSubmission("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not a notebook: invalid JSON ({exc})") from None
    except Exception as exc:  # nbformat's reader and validation errors
        raise InvalidSubmission(f"not a valid notebook: {str(exc).splitlines()[0]}") from None
    return name, data


def _notebook_from_zip(path: Path) -> tuple[str, bytes]:
    """Return the one notebook inside an exported zip, refusing unsafe or ambiguous archives."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    raise InvalidSubmission(f"unsafe zip: entry {info.filename!r} points outside")
            if sum(info.file_size for info in infos) > MAX_UNZIPPED_BYTES:
                raise InvalidSubmission("zip expands to more than 200 MB")
            notebooks = [
                info
                for info in infos
                if info.filename.endswith(".ipynb")
                and not any(part in info.filename for part in _IGNORED_IN_ZIPS)
            ]
            if len(notebooks) != 1:
                names = ", ".join(info.filename for info in notebooks) or "none"
                raise InvalidSubmission(f"expected exactly one notebook in the zip, found {names}")
            return PurePosixPath(notebooks[0].filename).name, archive.read(notebooks[0])
    except zipfile.BadZipFile as exc:
        raise InvalidSubmission(f"not a readable zip ({exc})") from None


def _carries_otter_log(path: Path) -> bool:
    """Whether a submitted zip holds an ``.OTTER_LOG`` (never read here: it is a pickle)."""
    if path.suffix != ".zip":
        return False
    with zipfile.ZipFile(path) as archive:
        return any(PurePosixPath(n).name == ".OTTER_LOG" for n in archive.namelist())


def fingerprint(path: Path) -> str:
    """Return the sha256 of a submitted file, or of every file in a submitted folder."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


# --- grading one submission -----------------------------------------------------------------------


class Grader:
    """Grades submissions in sandboxed children forked from one warm server process."""

    def __init__(self, autograder: Autograder, *, timeout: float, memory_mb: int):
        self.autograder = autograder
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["labkit.sandbox", *sandbox.PRELOAD])
        self._running: set = set()
        self._lock = threading.Lock()
        self._stopping = False

    def grade(self, submission: Submission) -> Outcome:
        """Grade one submission; never raises for anything the submission contains."""
        started = time.monotonic()
        outcome = Outcome(
            submission.name,
            "invalid",
            autograder_sha256=self.autograder.sha256,
            max_total=sum(self.autograder.points.values()),
        )
        try:
            outcome.submission_sha256 = fingerprint(submission.path)
            name, notebook = read_notebook(submission.path)
        except InvalidSubmission as exc:
            outcome.message = str(exc)
        except OSError as exc:
            outcome.message = f"cannot read the submission: {exc}"
        else:
            self._grade_notebook(name, notebook, outcome)
            if _carries_otter_log(submission.path):
                outcome.message = "; ".join(filter(None, [outcome.message, LOG_NOTE]))
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _grade_notebook(self, name: str, notebook: bytes, outcome: Outcome) -> None:
        """Lay out the folders ``otter run`` would, hand on the notebook, read otter's JSON."""
        with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
            ag_dir = Path(tmp) / "autograder"
            for sub in ("source", "submission", "results"):
                (ag_dir / sub).mkdir(parents=True)
            (ag_dir / "submission_metadata.json").write_text("{}")
            with zipfile.ZipFile(self.autograder.path) as archive:
                archive.extractall(ag_dir / "source")
            (ag_dir / "submission" / name).write_bytes(notebook)
            log_path = Path(tmp) / "grading.log"
            code = self._run_child(ag_dir, log_path)
            results = ag_dir / "results" / "results.json"
            try:
                otter = json.loads(results.read_text()) if results.exists() else None
            except ValueError:
                otter = None
            self._read_otter_results(otter, outcome, code=code, log_path=log_path)
            note = ag_dir / "sandbox.txt"
            if note.exists() and note.read_text().startswith("network not isolated"):
                outcome.message = "; ".join(
                    filter(None, [outcome.message, note.read_text().strip()])
                )

    def _run_child(self, ag_dir: Path, log_path: Path) -> int | None:
        """Run the sandboxed child; return its exit code, or None when it timed out."""
        process = self._context.Process(
            target=sandbox.run_child,
            args=(str(ag_dir),),
            kwargs={"memory_mb": self.memory_mb, "log_path": str(log_path)},
        )
        with self._lock:
            if self._stopping:
                return -signal.SIGINT
            process.start()
            self._running.add(process)
        try:
            process.join(self.timeout)
            if process.is_alive():
                _kill_group(process)
                return None
            return process.exitcode
        finally:
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        """Kill every running child (and its process group); start no new one."""
        with self._lock:
            self._stopping = True
            for process in self._running:
                _kill_group(process)

    def _read_otter_results(self, otter: dict | None, outcome: Outcome, *, code, log_path) -> None:
        if code is None:
            outcome.status = "timeout"
            outcome.message = f"grading took longer than {self.timeout:g} s and was stopped"
            return
        if otter is None or code not in (0, 1):
            outcome.status = "error"
            outcome.message = _describe_death(code) + _log_tail(log_path)
            return
        tests = otter.get("tests", [])
        scores = {t["name"]: float(t["score"]) for t in tests if "score" in t}
        if code != 0 or not scores:
            errors = [t.get("output", "") for t in tests if t.get("name") == "Autograder Error"]
            outcome.status = "error"
            outcome.message = (
                errors[0] if errors else "otter could not grade the notebook"
            ).strip()
            outcome.otter = otter
            return
        outcome.status = "ok"
        outcome.scores = {q: scores.get(q, 0.0) for q in self.autograder.points}
        outcome.total = round(sum(outcome.scores.values()), 6)
        outcome.otter = otter


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.join(5)


def _describe_death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the notebook's process was killed by {name} before grading finished"
    return f"the notebook's process exited with code {code} before grading finished"


def _log_tail(log_path: Path, lines: int = 3) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return (": " + " | ".join(tail))[:500] if tail else ""


# --- the batch ------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What a batch produced: one outcome per submission, and how long it took."""

    outcomes: list[Outcome]
    points: dict[str, float]
    seconds: float
    skipped: int

    def counts(self) -> Counter:
        """How many submissions ended in each status."""
        return Counter(o.status for o in self.outcomes)


def grade_batch(
    paths: list[Path],
    *,
    autograder: Path,
    output_dir: Path,
    jobs: int | None = None,
    timeout: float = 300.0,
    memory_mb: int = 2048,
    force: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Grade every submission under ``paths`` into ``output_dir``; return the outcomes.

    Args:
        paths: submission files (``.ipynb`` or exported ``.zip``) and folders of them.
        autograder: the autograder zip (``autograder/logreg_digits-autograder.zip``).
        output_dir: where ``gradebook.csv``, ``summary.png`` and ``<submission>/`` go.
        jobs: submissions graded at once (default: one per core).
        timeout: wall-clock seconds one submission may take.
        memory_mb: memory a submission may allocate beyond the grader's own.
        force: regrade submissions already graded with the same autograder.
        progress: show a progress bar on stderr.
    """
    from tqdm import tqdm

    started = time.monotonic()
    grader_zip = Autograder.load(autograder)
    submissions = find_submissions(paths)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, Outcome] = {}
    todo = []
    for submission in submissions:
        previous = None if force else _previous_outcome(output_dir, submission, grader_zip)
        if previous is None:
            todo.append(submission)
            outcomes[submission.name] = Outcome(
                submission.name, "pending", max_total=sum(grader_zip.points.values())
            )
        else:
            outcomes[submission.name] = previous
    write_gradebook(output_dir / "gradebook.csv", list(outcomes.values()), grader_zip.points)

    grader = Grader(grader_zip, timeout=timeout, memory_mb=memory_mb)
    bar = tqdm(total=len(todo), unit="submission", desc="grading", disable=not progress)
    pool = ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1)
    try:
        futures = [pool.submit(grader.grade, submission) for submission in todo]
        for future in as_completed(futures):
            outcome = future.result()
            write_outcome(output_dir, outcome)
            outcomes[outcome.submission] = outcome
            write_gradebook(
                output_dir / "gradebook.csv", list(outcomes.values()), grader_zip.points
            )
            bar.update()
    except BaseException:
        grader.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
        pool.shutdown(wait=True)
    result = BatchResult(
        list(outcomes.values()),
        grader_zip.points,
        time.monotonic() - started,
        len(submissions) - len(todo),
    )
    write_summary_png(output_dir / "summary.png", result)
    return result


def _previous_outcome(output_dir: Path, submission: Submission, autograder: Autograder):
    """The stored outcome of a submission graded before with the same zip and bytes, if any."""
    path = output_dir / submission.name / "results.json"
    try:
        stored = json.loads(path.read_text())
        outcome = Outcome(**{f.name: stored[f.name] for f in dataclasses.fields(Outcome)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = (
        outcome.status in FINAL_STATUSES
        and outcome.autograder_sha256 == autograder.sha256
        and outcome.submission_sha256 == fingerprint(submission.path)
    )
    return outcome if same else None


def write_outcome(output_dir: Path, outcome: Outcome) -> None:
    """Write ``<submission>/feedback.txt`` and then ``<submission>/results.json``, atomically."""
    folder = output_dir / outcome.submission
    write_atomically(folder / "feedback.txt", feedback_text(outcome))
    write_atomically(folder / "results.json", json.dumps(dataclasses.asdict(outcome), indent=2))


def feedback_text(outcome: Outcome) -> str:
    """A short note for the student: scores per question and the checks they could run too."""
    lines = [f"Submission: {outcome.submission}", f"Status: {outcome.status}"]
    if outcome.status != "ok":
        lines += ["", f"This submission could not be graded: {outcome.message}"]
        return "\n".join(lines) + "\n"
    lines += [f"Score: {outcome.total:g} / {outcome.max_total:g}", ""]
    lines += [f"  {q:<18}{score:g}" for q, score in outcome.scores.items()]
    public = [
        t.get("output", "")
        for t in (outcome.otter or {}).get("tests", [])
        if t.get("name") == "Public Tests"
    ]
    if public:
        lines += ["", "The checks you could run in the notebook (grader.check):", public[0]]
    return "\n".join(lines) + "\n"


def write_gradebook(path: Path, outcomes: list[Outcome], points: dict[str, float]) -> None:
    """Write the gradebook: one row per submission, a column per question, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", *points, "total", "max_total", "status", "message"])
    for outcome in sorted(outcomes, key=lambda o: o.submission):
        scores = [f"{outcome.scores[q]:g}" if q in outcome.scores else "" for q in points]
        total = f"{outcome.total:g}" if outcome.status == "ok" else ""
        message = " ".join(outcome.message.split())
        writer.writerow(
            [
                outcome.submission,
                *scores,
                total,
                f"{sum(points.values()):g}",
                outcome.status,
                message,
            ]
        )
    write_atomically(path, buffer.getvalue())


def summary_text(result: BatchResult) -> str:
    """The summary printed at the end: mean per question, score distribution, counts, time."""
    graded = [o for o in result.outcomes if o.status == "ok"]
    lines = []
    if graded:
        lines.append(f"{'question':<18}{'mean':>7}{'points':>8}{'share':>8}")
        for q, points in result.points.items():
            mean = statistics.fmean(o.scores[q] for o in graded)
            lines.append(f"{q:<18}{mean:>7.2f}{points:>8g}{mean / points:>8.0%}")
        totals = [o.total for o in graded]
        maximum = sum(result.points.values())
        lines.append(
            f"total: mean {statistics.fmean(totals):.2f} / {maximum:g}, median "
            f"{statistics.median(totals):g}, min {min(totals):g}, max {max(totals):g}"
        )
        edges = [maximum * k / 5 for k in range(6)]
        bins = Counter(min(int(t / maximum * 5), 4) if maximum else 0 for t in totals)
        lines.append(
            "distribution: "
            + "  ".join(f"{edges[k]:g}-{edges[k + 1]:g}: {bins[k]}" for k in range(5))
        )
    counts = result.counts()
    by_status = ", ".join(f"{s} {counts[s]}" for s in (*FINAL_STATUSES, "pending") if counts[s])
    lines.append(
        f"{len(result.outcomes)} submissions ({by_status}; {result.skipped} already graded) "
        f"in {result.seconds:.1f} s"
    )
    return "\n".join(lines)


def write_summary_png(path: Path, result: BatchResult) -> None:
    """Save a histogram of the totals and each question's mean as a share of its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [o for o in result.outcomes if o.status == "ok"]
    maximum = sum(result.points.values())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist([o.total for o in graded], bins=min(15, int(maximum) + 1), range=(0, maximum))
    left.set_xlabel("total score")
    left.set_ylabel("submissions")
    left.set_title(f"{len(graded)} graded submissions")
    shares = [
        statistics.fmean(o.scores[q] for o in graded) / p if graded else 0.0
        for q, p in result.points.items()
    ]
    right.barh(list(result.points), shares)
    right.set_xlim(0, 1)
    right.set_xlabel("mean score as a share of the question's points")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
