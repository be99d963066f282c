"""``labkit grade --scheduler``: the same grading, on the workers of a Dask cluster.

The client (the TA's ``labkit grade``) keeps everything that writes: finding submissions, resuming,
the gradebook after each result, the summary. The workers only grade. Before any submission is
sent, every worker is asked for its versions of the kit, of Python and of the lab's pinned
packages (the pins the autograder zip carries in ``environment.yml``); a worker that differs is
refused, by address, with the versions expected and found. The zip then travels once to each
worker inside a ``GradingPlugin`` (its bytes, checked by sha256 on arrival), which holds one
``Grader`` per worker process: its fork servers and unprivileged users are started on the first
submission and reused for the next ones.

Each submission is one task carrying its own bytes (workers need no shared filesystem): the
worker rebuilds the file (or the bulk-export folder) in a private temporary folder, grades it
with ``Grader.grade``, exactly as the local pool does, and returns the outcome as JSON. A worker
that dies mid-task is replaced by Dask and the task rerun elsewhere; a submission whose tries all
killed their worker (the scheduler's ``allowed-failures``) comes back as ``KilledWorker`` and is
marked ``error``. Losing the scheduler stops the batch with a ``GradingError``; a rerun resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import platform
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml
from distributed import WorkerPlugin

from labkit import intake
from labkit.batch.grader import Grader
from labkit.gradebook.outcome import Outcome, Status
from labkit.grader import processes
from labkit.intake import Autograder, GradingError, Submission

KIT = "labkit"
PYTHON = "python"
CONNECT_SECONDS = 30
WORKERS_SECONDS = 120  # how long to wait for the first worker to join an empty cluster
CLOSE_SECONDS = 30


class WorkerRefused(Exception):
    """A worker whose environment is not the lab's: it must not grade."""


# --- what every worker must have ------------------------------------------------------------------


def lab_pins(autograder_path: Path) -> dict[str, str]:
    """The exact versions the autograder zip pins (``name==version`` in its environment.yml)."""
    try:
        with zipfile.ZipFile(autograder_path) as archive:
            environment = yaml.safe_load(archive.read("environment.yml"))
    except KeyError:
        return {}
    except (OSError, zipfile.BadZipFile, yaml.YAMLError) as exc:
        raise GradingError(f"{autograder_path}: cannot read its environment.yml ({exc})") from exc
    pins = {}
    for dependency in (environment or {}).get("dependencies", []):
        if isinstance(dependency, dict):
            for line in dependency.get("pip", []):
                name, sep, version = str(line).partition("==")
                if sep:
                    pins[name.strip().lower()] = version.strip()
    return pins


def expected_versions(autograder_path: Path) -> dict[str, str]:
    """What a worker must run: this kit's version, this Python (major.minor), the lab's pins."""
    return {
        KIT: importlib.metadata.version(KIT),
        PYTHON: python_version(),
        **lab_pins(autograder_path),
    }


def python_version() -> str:
    """This interpreter's ``major.minor`` (a patch release does not change results)."""
    return ".".join(platform.python_version_tuple()[:2])


def installed_versions(names: list[str]) -> dict[str, str | None]:
    """The versions installed here of ``names`` (``python`` is the interpreter; None: missing)."""
    found: dict[str, str | None] = {}
    for name in names:
        if name == PYTHON:
            found[name] = python_version()
            continue
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def mismatches(expected: dict[str, str], found: dict[str, str | None]) -> list[str]:
    """Each version that differs, as ``name expected X, found Y`` (empty: all match)."""
    return [
        f"{name} expected {version}, found {found.get(name) or 'not installed'}"
        for name, version in expected.items()
        if found.get(name) != version
    ]


def check_workers(client, expected: dict[str, str]) -> list[str]:
    """Ask every worker for its versions; return their addresses, or raise GradingError naming
    each worker that differs and how.

    Only standard-library functions are sent (``importlib.metadata.version``,
    ``platform.python_version``), so that a worker without the kit can answer too.
    """
    reports: dict[str, dict[str, object]] = {}
    for name in expected:
        if name == PYTHON:
            answers = client.run(platform.python_version, on_error="return")
        else:
            answers = client.run(importlib.metadata.version, name, on_error="return")
        for address, answer in answers.items():
            if name == PYTHON and isinstance(answer, str):
                answer = ".".join(answer.split(".")[:2])
            found = None if isinstance(answer, Exception) else answer
            reports.setdefault(address, {})[name] = found
    if not reports:
        raise GradingError("the Dask cluster has no worker")
    refused = [
        f"{address}: {'; '.join(problems)}"
        for address, found in sorted(reports.items())
        if (problems := mismatches(expected, found))
    ]
    if refused:
        raise GradingError(
            "refused before grading: these workers do not run the lab's versions "
            "(install the kit with the lab's pins: pip install <kit> -c requirements.txt)\n  "
            + "\n  ".join(refused)
        )
    return sorted(reports)


# --- what travels to a worker, and what comes back ----------------------------------------------


def pack_submission(submission: Submission) -> dict:
    """A submission as plain data: its name, its submitters (Gradescope's metadata) and its
    files' bytes (a folder's, relative)."""
    path = submission.path
    students = [dict(student) for student in submission.students]
    if path.is_dir():
        files = {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
        return {"name": submission.name, "folder": True, "files": files, "students": students}
    return {
        "name": submission.name,
        "folder": False,
        "files": {"": path.read_bytes()},
        "students": students,
    }


def unpack_submission(parcel: dict, folder: Path) -> Submission:
    """Rebuild a packed submission under ``folder``, as it was: the same name, the same bytes."""
    name = PurePosixPath(parcel["name"]).name
    if name in ("", ".", ".."):
        raise ValueError(f"not a submission name: {parcel['name']!r}")
    target = folder / name
    if not parcel["folder"]:
        target.write_bytes(parcel["files"][""])
        return Submission(parcel["name"], target, parcel.get("students", []))
    target.mkdir()
    for relative, data in parcel["files"].items():
        parts = PurePosixPath(relative).parts
        if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
            raise ValueError(f"not a path inside the submission: {relative!r}")
        path = target.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Submission(parcel["name"], target, parcel.get("students", []))


class GradingPlugin(WorkerPlugin):
    """Held by each worker: the autograder zip (checked on arrival) and the worker's ``Grader``.

    The worker's environment is checked again here, for workers that join after the batch
    started; a worker that fails either check refuses every submission sent to it.
    """

    idempotent = False

    def __init__(
        self,
        *,
        zip_bytes: bytes,
        sha256: str,
        expected: dict[str, str],
        timeout: float,
        memory_mb: int | None,
    ):
        self.zip_bytes = zip_bytes
        self.sha256 = sha256
        self.expected = expected
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.refusal = "the grading plugin was not set up"
        self._grader = None
        self._lock = threading.Lock()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lock")
        state["_grader"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def setup(self, worker) -> None:
        """Check the zip's bytes and this worker's versions; keep the zip beside the worker."""
        self.address = worker.address
        digest = hashlib.sha256(self.zip_bytes).hexdigest()
        if digest != self.sha256:
            self.refusal = (
                f"the autograder zip arrived damaged (sha256 {digest}, sent {self.sha256})"
            )
            raise WorkerRefused(f"{worker.address}: {self.refusal}")
        problems = mismatches(self.expected, installed_versions(list(self.expected)))
        if problems:
            self.refusal = "; ".join(problems)
            raise WorkerRefused(f"{worker.address}: {self.refusal}")
        self.folder = Path(tempfile.mkdtemp(prefix="labkit-cluster-", dir=worker.local_directory))
        path = self.folder / "autograder.zip"
        path.write_bytes(self.zip_bytes)
        self.autograder = Autograder.load(path)
        self.nthreads = worker.state.nthreads
        self.refusal = ""

    def grader(self):
        """This worker process's ``Grader``, made on first use (one slot per worker thread)."""
        if self.refusal:
            raise WorkerRefused(f"{getattr(self, 'address', 'a worker')}: {self.refusal}")
        with self._lock:
            if self._grader is None:
                self._grader = Grader(
                    self.autograder,
                    timeout=self.timeout,
                    memory_mb=self.memory_mb,
                    jobs=self.nthreads,
                )
                # A worker process that was killed (Dask restarts it) leaves its students'
                # processes running under the user ids it held; this one may claim the same ids.
                for slot in self._grader.all_slots:
                    if slot.user.uid is not None:
                        processes.kill_user(slot.user.uid)
            return self._grader

    def teardown(self, worker) -> None:
        """Stop the grader's servers (and what they still run), and forget the zip."""
        if self._grader is not None:
            self._grader.stop()
            self._grader.close()
            self._grader = None
        if not self.refusal:
            with contextlib.suppress(OSError):
                (self.folder / "autograder.zip").unlink()
                self.folder.rmdir()


def grade_on_worker(plugin_name: str, parcel: dict) -> str:
    """The task: grade one packed submission on this worker; return the outcome's JSON."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None:
        raise WorkerRefused(f"{worker.address}: the grading plugin is not installed here")
    grader = plugin.grader()
    with tempfile.TemporaryDirectory(prefix="labkit-submission-") as folder:
        submission = unpack_submission(parcel, Path(folder))
        return grader.grade(submission).to_json()


# --- the client's side -------------------------------------------------------------------------


class ClusterPool:
    """Grades submissions on a Dask cluster, yielding each outcome as it arrives (a ``Pool``).

    ``scheduler`` is an address (``tcp://host:8786``), a ``distributed.Client`` (left open) or a
    cluster object such as ``LocalCluster`` (a client of its own is made and closed).
    """

    def __init__(self, scheduler, autograder: Autograder, *, timeout: float, memory_mb: int | None):
        self.autograder = autograder
        self.client, self.owns_client = connect(scheduler)
        self.futures: dict = {}
        self.plugin_name = ""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except TimeoutError as exc:
            self.close()
            raise GradingError(
                f"no Dask worker joined the scheduler at {self.address} in {WORKERS_SECONDS} s"
            ) from exc
        try:
            expected = expected_versions(autograder.path)
            check_workers(self.client, expected)
            plugin = GradingPlugin(
                zip_bytes=autograder.path.read_bytes(),
                sha256=autograder.sha256,
                expected=expected,
                timeout=timeout,
                memory_mb=memory_mb,
            )
            self.plugin_name = f"labkit-grading-{autograder.sha256[:12]}-{uuid.uuid4().hex[:8]}"
            self.client.register_plugin(plugin, name=self.plugin_name)
        except WorkerRefused as exc:
            self.close()
            raise GradingError(f"refused before grading: {exc}") from exc
        except OSError as exc:
            self.close()
            raise GradingError(f"lost the Dask scheduler at {self.address}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return getattr(self.client.scheduler, "address", "") or "the scheduler"

    def graded(self, submissions: list[Submission]) -> Iterator[Outcome]:
        """Send every submission as one task; yield the outcomes in the order they finish."""
        from distributed import as_completed

        for index, submission in enumerate(submissions):
            try:
                parcel = pack_submission(submission)
            except OSError as exc:
                yield self._failed(submission, Status.INVALID, f"cannot read the submission: {exc}")
                continue
            key = f"labkit-grade-{index:05d}-{uuid.uuid4().hex[:8]}"
            future = self.client.submit(
                grade_on_worker, self.plugin_name, parcel, key=key, pure=False
            )
            self.futures[future.key] = (future, submission)
        pending = [future for future, _ in self.futures.values()]
        for future in as_completed(pending, loop=self.client.loop):
            _, submission = self.futures.pop(future.key)
            yield self._outcome(future, submission)

    def _outcome(self, future, submission: Submission) -> Outcome:
        from distributed import KilledWorker

        if future.cancelled():
            raise GradingError(
                f"lost the Dask scheduler at {self.address} before {submission.name} was graded; "
                "the results so far are kept: rerun the same command to finish"
            )
        try:
            return Outcome.from_json(future.result())
        except KilledWorker as exc:
            return self._failed(
                submission,
                Status.ERROR,
                f"every worker that graded it died ({exc.allowed_failures + 1} tries, the last "
                f"on {exc.last_worker.address}); not graded",
            )
        except Exception as exc:
            return self._failed(
                submission, Status.ERROR, f"grading failed on a worker: {type(exc).__name__}: {exc}"
            )

    def _failed(self, submission: Submission, status: Status, reason: str) -> Outcome:
        """An outcome written on the client, where no worker produced one."""
        outcome = self.autograder.outcome(submission, status, reason)
        with contextlib.suppress(OSError):
            outcome.submission_sha256 = intake.submission_sha256(submission.path)
        return outcome

    def stop(self) -> None:
        """Cancel every submission not graded yet."""
        futures = [future for future, _ in self.futures.values()]
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures, force=True)
        self.futures.clear()

    def close(self) -> None:
        """Take the grading plugin off the workers (stopping their servers); disconnect."""
        if self.plugin_name and self.client.status == "running":
            with contextlib.suppress(Exception):
                self.client.unregister_worker_plugin(self.plugin_name)
            self.plugin_name = ""
        if self.owns_client:
            with contextlib.suppress(Exception):
                self.client.close(timeout=CLOSE_SECONDS)

    def sandbox_notes(self, outcomes: list[Outcome]) -> list[str]:
        """Where student code was not confined as it should be, as the workers reported it."""
        return sorted({note for outcome in outcomes for note in outcome.sandbox})

    def server_seconds(self) -> float:
        """The workers start their servers out of sight: 0 (their phases are in the outcomes)."""
        return 0.0


def connect(scheduler) -> tuple:
    """A ``distributed.Client`` for ``scheduler``, and whether it is ours to close."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False), True
    except (OSError, TimeoutError, ValueError) as exc:
        raise GradingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
