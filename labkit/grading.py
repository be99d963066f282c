"""Batch grading for TAs: grade a folder of submissions with the autograder zip, without Docker.

Everything a student uploaded is checked here first (empty files, broken JSON, zips with ``../``
names or without exactly one notebook) and only the notebook itself is handed on: nothing of a zip
is ever extracted, and no pickle or log a student made is ever read. Each notebook runs in a
sandboxed child forked from a warm server (``labkit.sandbox``), several at once, with a limit per
cell and per submission; its answers come back as JSON and are judged in a clean child, with the
hidden tests and grading files read from the zip before any student code ran (``labkit.judging``).
Every file is written atomically and the gradebook is rewritten after each submission, so an
interrupted run leaves a consistent gradebook and a rerun picks up where it stopped.
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

from labkit import execution, judging, sandbox
from labkit.atomic import write_atomically
from labkit.data import sha256_of

FINAL_STATUSES = ("ok", "error", "timeout", "invalid")
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
_IGNORED_IN_ZIPS = ("__MACOSX/", ".ipynb_checkpoints/")
LOG_NOTE = "the zip carried a .OTTER_LOG (a pickle), ignored unread"
PLUGIN = "labkit.otter_plugin.GradingIntegrity"


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
    verdict: dict | None = None


@dataclass
class Autograder:
    """The autograder zip and what grading needs from it, read once into memory."""

    path: Path
    sha256: str
    points: dict[str, float]
    tests: dict[str, str]
    files: dict[str, bytes]
    limits: execution.Limits

    @classmethod
    def load(cls, path: Path) -> Autograder:
        """Read the tests, the grading files and the plugin's limits from the zip."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                tests = {
                    PurePosixPath(n).name: archive.read(n).decode()
                    for n in names
                    if n.startswith("tests/") and n.endswith(".py")
                }
                files = {
                    n.removeprefix("files/"): archive.read(n)
                    for n in names
                    if n.startswith("files/") and not n.endswith("/")
                }
                config = (
                    json.loads(archive.read("otter_config.json"))
                    if "otter_config.json" in names
                    else {}
                )
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise GradingError(f"{path}: not a readable autograder zip ({exc})") from exc
        if not tests:
            raise GradingError(f"{path}: no tests/*.py inside: not an otter autograder zip")
        points = {}
        for name, source in sorted(tests.items()):
            values = {
                node.targets[0].id: node.value
                for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            }
            question = ast.literal_eval(values["name"]) if "name" in values else Path(name).stem
            points[question] = float(ast.literal_eval(values.get("points", ast.Constant(1))))
        return cls(
            path=path,
            sha256=sha256_of(path),
            points=points,
            tests=tests,
            files=files,
            limits=execution.Limits.from_config(_plugin_config(config)),
        )


def _plugin_config(otter_config: dict) -> dict:
    """The configuration the zip gives labkit's otter plugin, if any."""
    for plugin in otter_config.get("plugins", []):
        if isinstance(plugin, dict) and PLUGIN in plugin:
            return plugin[PLUGIN] or {}
    return {}


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
    """Grades submissions in sandboxed children forked from one warm server process.

    Each submission's notebook runs in an untrusted child (``sandbox.run_child``); its answers
    are judged in a second, clean child (``sandbox.run_judge``). A cell that runs past the cell
    limit, or kills its process, is skipped and the notebook run again without it, as
    ``labkit.execution`` does for the autograder zip; ``timeout`` bounds the whole submission.
    """

    def __init__(self, autograder: Autograder, *, timeout: float, memory_mb: int):
        self.autograder = autograder
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["labkit.sandbox", *sandbox.PRELOAD])
        self._running: set = set()
        self._lock = threading.Lock()
        self._stopping = False
        execution.become_subreaper()  # daemons a notebook starts become ours to kill
        self._own_children = set(execution.children_of(os.getpid()))

    @property
    def budget(self) -> float:
        """Seconds one submission may take: ``--timeout`` or the zip's total limit, the smaller."""
        return min(self.timeout, self.autograder.limits.total)

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
            flags = [LOG_NOTE] if _carries_otter_log(submission.path) else []
            self._grade_notebook(name, notebook, outcome, flags)
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _grade_notebook(self, name: str, notebook: bytes, outcome: Outcome, flags: list) -> None:
        """Lay out a folder, run the notebook in children, judge its answers, fill ``outcome``."""
        cells = execution.graded_cells(nbformat.reads(notebook.decode(), as_version=4))
        flags += judging.scan_notebook({c.label: c.source for c in cells})
        with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
            work = Path(tmp)
            judging.materialize(self.autograder.files, work / "submission")
            judging.materialize(
                {f"tests/{n}": s.encode() for n, s in self.autograder.tests.items()},
                work / "submission",
            )
            (work / "submission" / name).write_bytes(notebook)
            answers_path = work / "answers.json"
            recorder = execution.recorder_cell(
                tests_dir="tests",
                out_path=str(answers_path),
                seconds_per_test=self.autograder.limits.test,
            )
            report = self._run_cells(work, [*cells, recorder])
            notes = report.notes()
            try:
                record = judging.read_answers(answers_path)
            except judging.AnswerError as exc:
                record = None
                notes.append(str(exc))
            note = work / "sandbox.txt"
            if note.exists() and note.read_text().startswith("network not isolated"):
                notes.append(note.read_text().strip())
            if report.stopped:
                outcome.status, outcome.message = "error", "grading was interrupted"
                return
            verdict = self._judge(record)
        if isinstance(verdict, str):
            outcome.status = "error"
            outcome.message = "; ".join([f"the grader's judge failed: {verdict}", *notes])
            return
        if report.leftovers:
            flags.append(execution.leftovers_note(report.leftovers))
        notes += verdict.run_notes
        verdict.run_notes, verdict.flags = notes, flags
        outcome.status = "timeout" if report.out_of_time else "ok"
        if report.out_of_time:
            notes[:0] = [f"grading took longer than {self.budget:g} s and was stopped"]
        outcome.scores = verdict.scores()
        outcome.total = round(sum(outcome.scores.values()), 6)
        outcome.message = "; ".join([*(f"flagged for review: {f}" for f in flags), *notes])
        outcome.verdict = dataclasses.asdict(verdict)

    def _run_cells(self, work: Path, cells: list[execution.Cell]) -> execution.RunReport:
        """Run the cells in children, skipping a cell that hangs or kills its process."""
        report = execution.RunReport()
        started = time.monotonic()
        deadline = started + self.budget
        skipped: set[int] = set()
        progress = work / "progress.txt"
        while True:
            progress.unlink(missing_ok=True)
            process = self._context.Process(
                target=sandbox.run_child,
                args=(str(work),),
                kwargs={
                    "cells": [c.source for c in cells],
                    "skip": sorted(skipped),
                    "memory_mb": self.memory_mb,
                    "log_path": str(work / "grading.log"),
                    "progress_path": str(progress),
                },
            )
            with self._lock:
                if self._stopping:
                    report.stopped = True
                    return report
                process.start()
                self._running.add(process)
            try:
                index, reason = self._watch(process, cells, progress, deadline)
            finally:
                with self._lock:
                    self._running.discard(process)
                report.leftovers += execution.kill_process_group(process.pid)
                report.leftovers += self.kill_orphans()
            if reason == "out of time":
                report.out_of_time = True
                break
            if reason == "stopped":
                report.stopped = True
                return report
            if index is None or not execution.note_stop(report, cells, index, reason, skipped):
                break
        report.seconds = round(time.monotonic() - started, 2)
        return report

    def _watch(self, process, cells, progress: Path, deadline: float):
        """Wait for a child; return (cell index, why it was stopped) or (None, "")."""
        limits = self.autograder.limits
        current, since = None, time.monotonic()
        while True:
            process.join(0.1)
            now = time.monotonic()
            index = _read_index(progress, len(cells))
            if index != current:
                current, since = index, now
            if not process.is_alive():
                break
            if self._stopping:
                _kill_group(process)
                return None, "stopped"
            if now > deadline:
                _kill_group(process)
                return current, "out of time"
            limit = limits.total if current is not None and cells[current].recorder else limits.cell
            if current is not None and now - since > limit:
                _kill_group(process)
                return current, f"ran longer than {limit:g} s"
        if process.exitcode == 0:
            return None, ""
        index = _read_index(progress, len(cells))
        if index is None:
            return None, ""
        return index, f"stopped the Python process ({_describe_death(process.exitcode)})"

    def _judge(self, record: bytes | None) -> judging.Verdict | str:
        """Judge the record of answers (unparsed) in a clean child; return the verdict or why
        there is none. This process never parses what the student's process wrote."""
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=sandbox.run_judge,
            args=(sender,),
            kwargs={
                "tests": self.autograder.tests,
                "record": record,
                "files": self.autograder.files,
            },
        )
        process.start()
        sender.close()
        try:
            payload = receiver.recv_bytes()
        except EOFError:
            payload = b""
        finally:
            receiver.close()
            process.join()
        if not payload:
            return f"it stopped without a verdict ({_describe_death(process.exitcode)})"
        data = json.loads(payload)
        if "error" in data:
            return str(data["error"])
        return judging.Verdict.from_dict(data)

    def kill_orphans(self) -> int:
        """Kill processes a notebook left behind (daemons re-parented to this process)."""
        from multiprocessing import forkserver, resource_tracker

        keep = set(self._own_children)
        keep.add(getattr(forkserver._forkserver, "_forkserver_pid", None))
        keep.add(getattr(resource_tracker._resource_tracker, "_pid", None))
        return execution.kill_leftovers(keep={pid for pid in keep if pid})

    def stop(self) -> None:
        """Kill every running child (and its process group); start no new one."""
        with self._lock:
            self._stopping = True
            for process in self._running:
                _kill_group(process)


def _read_index(progress: Path, count: int) -> int | None:
    try:
        index = int(progress.read_text().strip())
    except (OSError, ValueError):
        return None
    return index if 0 <= index < count else None


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.join(5)


def _describe_death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


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
        grader.kill_orphans()
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
    """A short note for the student, in the grader's words only (no test or notebook output)."""
    lines = [f"Submission: {outcome.submission}", f"Status: {outcome.status}"]
    if outcome.status not in ("ok", "timeout") or outcome.verdict is None:
        lines += ["", "This submission could not be graded; your TA has the details."]
        if outcome.status == "invalid":
            lines += [f"Reason: {outcome.message}"]
        return "\n".join(lines) + "\n"
    verdict = judging.Verdict.from_dict(outcome.verdict)
    lines += [f"Score: {outcome.total:g} / {outcome.max_total:g}", ""]
    lines += [f"  {q:<18}{score:g}" for q, score in outcome.scores.items()]
    extra = verdict.public_summary() + verdict.run_notes
    if extra:
        lines += ["", *extra]
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
    flagged = [o.submission for o in result.outcomes if "flagged for review" in o.message]
    if flagged:
        lines.append(
            f"flagged for review: {len(flagged)} ({', '.join(flagged)}); see the message column"
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
