"""`labkit grade --scheduler`: the same grades from the workers of a Dask cluster.

The fast tests check what is sent, checked and refused, grading nothing. Most slow ones share
one ``LocalCluster`` of two worker processes (one thread each), whose scheduler allows one death
per task (two tries) and gives a worker no more submissions than it has threads, and whose
workers are restarted past 400 MiB: one batch holds the corpus and a submission that kills
every worker it reaches (``tests/cluster/``), with a worker killed mid-batch; another, the user
ids two workers claim. The
scheduler's loss and Ctrl-C are tested on a scheduler and a worker started as commands.

``tests/cluster/exhausts_worker_memory.zip`` is a genuine poison pill: student code cannot reach
the worker (it runs in a confined child, as another user, its memory outside the worker's), but
the worker itself reads and parses the submitted notebook. That zip is 54 KB and holds an 18 MB
notebook of 400,000 empty cells, which grows past the worker's memory limit as it is parsed, so
Dask's nanny kills the worker, every time.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import dask
import pytest
from both_paths import QUESTIONS
from click.testing import CliRunner
from distributed import Client, LocalCluster

from labkit import batch, intake
from labkit.batch import cluster
from labkit.cli import main

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SUBMISSIONS = TESTS / "submissions"
POISON = TESTS / "cluster" / "exhausts_worker_memory.zip"
CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
}


def _expected_scores() -> dict[str, dict[str, float]]:
    with (SUBMISSIONS / "expected_scores.csv").open(newline="") as f:
        return {
            f"{row['submission']}.ipynb": {q: float(row[q]) for q in QUESTIONS}
            for row in csv.DictReader(f)
        }


def _gradebook(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def _scores(row: dict[str, str]) -> dict[str, float]:
    return {q: float(row[q]) for q in QUESTIONS}


def _inbox(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(SUBMISSIONS / name, folder / name)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- fast: what is checked and sent --------------------------------------------------------------


def test_lab_pins_are_the_requirements(autograder_zip):
    """Are the versions a worker must have the pins of assignment/requirements.txt?"""
    pins = {}
    for line in (ROOT / "assignment" / "requirements.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = version.strip()
    assert pins and cluster.lab_pins(autograder_zip) == pins
    expected = cluster.expected_versions(autograder_zip)
    assert expected["labkit"] and expected["python"] == cluster.python_version()


def test_mismatches_name_each_version():
    """Does each difference read 'name expected X, found Y', a missing package included?"""
    expected = {"labkit": "0.1.0", "numpy": "2.4.6", "pandas": "3.1.1"}
    found = {"labkit": "0.1.0", "numpy": "2.3.0", "pandas": None}
    assert cluster.mismatches(expected, found) == [
        "numpy expected 2.4.6, found 2.3.0",
        "pandas expected 3.1.1, found not installed",
    ]
    assert cluster.mismatches(expected, dict(expected)) == []


def test_a_packed_submission_arrives_as_it_was(tmp_path):
    """Does a file or a bulk-export folder rebuilt on a worker keep its name and fingerprint?"""
    inbox = tmp_path / "inbox"
    folder = inbox / "submission_123"
    (folder / "extra").mkdir(parents=True)
    shutil.copy(SUBMISSIONS / "blank.ipynb", folder / "logreg_digits.ipynb")
    (folder / "extra" / "notes.txt").write_bytes(b"kept\n")
    shutil.copy(SUBMISSIONS / "solution.ipynb", inbox / "solution.ipynb")
    for original in intake.find_submissions([inbox]):
        parcel = cluster.pack_submission(original)
        arrived = tmp_path / f"worker-{original.name}"
        arrived.mkdir()
        rebuilt = cluster.unpack_submission(parcel, arrived)
        assert rebuilt.name == original.name
        assert intake.submission_sha256(rebuilt.path) == intake.submission_sha256(original.path)
        assert intake.read_notebook(rebuilt.path) == intake.read_notebook(original.path)


@pytest.mark.parametrize("relative", ["../outside.txt", "/etc/outside.txt"])
def test_unpacking_never_writes_outside_its_folder(tmp_path, relative):
    """Is a parcel naming a file outside the submission's folder refused?"""
    parcel = {"name": "sneaky", "folder": True, "files": {relative: b"x"}}
    (tmp_path / "worker").mkdir()
    with pytest.raises(ValueError, match="not a path inside"):
        cluster.unpack_submission(parcel, tmp_path / "worker")
    assert not (tmp_path / "outside.txt").exists()


def _fake_worker(folder: Path) -> SimpleNamespace:
    return SimpleNamespace(
        address="tcp://10.0.0.7:40123",
        local_directory=str(folder),
        state=SimpleNamespace(nthreads=1),
    )


def test_the_zip_is_checked_on_arrival(tmp_path, autograder_zip):
    """Does a worker keep the zip only if its bytes are the ones sent, and refuse to grade
    when they are not, or when its own versions differ?"""
    data = autograder_zip.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    options = {"timeout": 60.0, "memory_mb": None}
    expected = cluster.expected_versions(autograder_zip)
    plugin = cluster.GradingPlugin(zip_bytes=data, sha256=sha256, expected=expected, **options)
    plugin.setup(_fake_worker(tmp_path))
    assert plugin.autograder.sha256 == sha256 and plugin.refusal == ""
    plugin.teardown(_fake_worker(tmp_path))
    damaged = cluster.GradingPlugin(
        zip_bytes=data[:-1] + b"x", sha256=sha256, expected=expected, **options
    )
    with pytest.raises(cluster.WorkerRefused, match="tcp://10.0.0.7:40123: the autograder zip"):
        damaged.setup(_fake_worker(tmp_path))
    with pytest.raises(cluster.WorkerRefused, match="arrived damaged"):
        damaged.grader()
    other = cluster.GradingPlugin(
        zip_bytes=data, sha256=sha256, expected={**expected, "numpy": "0.0.1"}, **options
    )
    with pytest.raises(cluster.WorkerRefused, match="numpy expected 0.0.1, found 2"):
        other.setup(_fake_worker(tmp_path))


def test_an_outcome_written_on_the_client_keeps_its_submitters(tmp_path, autograder_zip):
    """Where no worker produced an outcome (a killed task), does the one the client writes keep
    the submitters' names, the zip's points and the submission's fingerprint?"""
    folder = tmp_path / "submission_9"
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "blank.ipynb", folder / "lab.ipynb")
    people = [{"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "1815"}]
    submission = intake.Submission("submission_9", folder, people)
    grader_zip = intake.Autograder.load(autograder_zip)
    client_side = SimpleNamespace(autograder=grader_zip)
    outcome = cluster.ClusterPool._failed(client_side, submission, batch.Status.ERROR, "died")
    assert (outcome.status, outcome.reason, outcome.students) == ("error", "died", people)
    assert outcome.points == grader_zip.points
    assert (outcome.max_total, outcome.bonus_max) == (grader_zip.manifest.maximum, 1.0)
    assert outcome.submission_sha256 == intake.submission_sha256(folder)
    assert outcome.autograder_sha256 == grader_zip.sha256


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, autograder_zip, monkeypatch):
    """Does a scheduler nobody answers at end the command with exit 1, naming it, writing
    nothing?"""
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    inbox = _inbox(tmp_path / "inbox", ["blank.ipynb"])
    out = tmp_path / "out"
    args = ["grade", str(inbox), "-a", str(autograder_zip), "-o", str(out), "--scheduler", address]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"cannot reach the Dask scheduler at {address}" in result.output
    assert not out.exists()


def _pretend_versions(changes: dict[str, str | None]):
    """A function for ``client.run``: this worker now reports other versions of some packages."""

    def pretend():
        import importlib.metadata

        real = importlib.metadata.version

        def version(name):
            if name in changes:
                if changes[name] is None:
                    raise importlib.metadata.PackageNotFoundError(name)
                return changes[name]
            return real(name)

        importlib.metadata.version = version

    return pretend


def test_workers_with_other_versions_are_refused_before_grading(tmp_path, autograder_zip):
    """Is each worker with another kit version, or without a pinned package, refused by
    address with the versions expected and found, before any submission is sent?"""
    inbox = _inbox(tmp_path / "inbox", ["blank.ipynb"])
    out = tmp_path / "out"
    expected = cluster.expected_versions(autograder_zip)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local, set_as_default=False) as client,
    ):
        other_kit, no_numpy = sorted(client.scheduler_info()["workers"])
        client.run(_pretend_versions({"labkit": "9.9.9"}), workers=[other_kit])
        client.run(_pretend_versions({"numpy": None}), workers=[no_numpy])
        with pytest.raises(batch.GradingError) as refused:
            batch.grade_batch(
                [inbox], autograder=autograder_zip, output_dir=out, scheduler=client, progress=False
            )
        tasks_seen = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        assert tasks_seen == 0, "a submission was sent"
    message = str(refused.value)
    assert f"{other_kit}: labkit expected {expected['labkit']}, found 9.9.9" in message
    assert f"{no_numpy}: numpy expected {expected['numpy']}, found not installed" in message
    assert not out.exists()


# --- slow: grading on a cluster ------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_cluster():
    """Two worker processes of one thread; one death allowed per task; restarted past 400 MiB."""
    with dask.config.set(CLUSTER_CONFIG):
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                memory_limit="400MiB",
                dashboard_address=None,
            ) as local,
            Client(local, set_as_default=False) as client,
        ):
            yield client


@pytest.mark.cluster
def test_cluster_grades_the_corpus_through_a_killed_worker_and_a_poison_pill(
    tmp_path, autograder_zip, local_cluster
):
    """One batch on the cluster: the corpus and a submission that kills every worker it reaches,
    with a worker busy on a corpus submission killed mid-batch. Does every corpus submission get
    the table's score per question, row for row (the table the local run is held to, in
    test_corpus); does the poison pill end as error after its two tries without stalling the
    others; and do the workers come back?"""
    expected = _expected_scores()
    inbox = _inbox(tmp_path / "inbox", sorted(expected))
    shutil.copy(POISON, inbox / POISON.name)
    with zipfile.ZipFile(POISON) as archive:  # small on disk, huge once parsed
        assert sum(info.file_size for info in archive.infolist()) > 100 * POISON.stat().st_size
    # Tasks are keyed by their submission's place in the sorted batch.
    poison_key = f"labkit-grade-{sorted([*expected, POISON.name]).index(POISON.name):05d}-"
    out = tmp_path / "out"
    pids = local_cluster.run(os.getpid)
    finished: dict[str, object] = {}

    def grade():
        try:
            finished["result"] = batch.grade_batch(
                [inbox],
                autograder=autograder_zip,
                output_dir=out,
                scheduler=local_cluster,
                progress=False,
            )
        except BaseException as exc:
            finished["error"] = exc

    started = time.monotonic()
    grading = threading.Thread(target=grade)
    grading.start()
    deadline = time.monotonic() + 600
    victim = None
    while victim is None and time.monotonic() < deadline:
        if list(out.glob("*/results.json")):
            busy = {
                address: keys
                for address, keys in local_cluster.processing().items()
                if keys and not any(str(key).startswith(poison_key) for key in keys)
            }
            victim = min(busy, default=None)
        time.sleep(0.2)
    assert victim is not None and victim in pids, "no worker was busy on a corpus submission"
    os.kill(pids[victim], signal.SIGKILL)
    grading.join(timeout=1800)
    assert "error" not in finished, finished.get("error")
    assert victim not in local_cluster.scheduler_info()["workers"], "the worker did not die"
    assert time.monotonic() - started < 1800
    rows = _gradebook(out / "gradebook.csv")
    assert sorted(rows) == sorted([*expected, POISON.name])
    for name, scores in expected.items():
        assert rows[name]["status"] == "ok", rows[name]
        assert _scores(rows[name]) == scores, name
        assert (out / name / "feedback.txt").read_text().startswith(f"Submission: {name}")
    pill = rows[POISON.name]
    assert pill["status"] == "error"
    assert "every worker that graded it died (2 tries" in pill["message"]
    assert finished["result"].counts() == {
        batch.Status.OK: len(expected),
        batch.Status.ERROR: 1,
    }
    assert local_cluster.run(os.getpid), "the cluster did not recover its workers"


@pytest.mark.cluster
def test_two_workers_on_one_machine_claim_distinct_users(tmp_path, autograder_zip, local_cluster):
    """Do two worker processes on one machine run their students as distinct user ids?"""
    if os.geteuid() != 0:
        pytest.skip("student code runs as users of its own only where the grader is root")
    grader_zip = intake.Autograder.load(autograder_zip)
    inbox = _inbox(tmp_path / "inbox", ["blank.ipynb"])
    shutil.copy(SUBMISSIONS / "blank.ipynb", inbox / "blank_again.ipynb")
    submissions = intake.find_submissions([inbox])
    local_cluster.wait_for_workers(2, timeout=120)
    pool = cluster.ClusterPool(local_cluster, grader_zip, timeout=120, memory_mb=None)
    try:
        outcomes = list(pool.graded(submissions))

        def uids(dask_worker, name=pool.plugin_name):
            grader = dask_worker.plugins[name]._grader
            return [] if grader is None else [slot.user.uid for slot in grader.all_slots]

        claimed = local_cluster.run(uids)
    finally:
        pool.close()
    assert [o.status for o in outcomes] == [batch.Status.OK] * 2
    used = [uid for found in claimed.values() for uid in found]
    assert len(used) == 2 and len(set(used)) == 2 and all(uid >= 62000 for uid in used), claimed


def _dask_commands() -> tuple[str, list[str], list[str]]:
    """A free address, and the commands that start a scheduler there and one worker of one
    thread for it."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = [sys.executable, "-m", "dask"]
    scheduler = [*dask_cli, "scheduler", "--port", str(port), "--no-dashboard"]
    worker = [*dask_cli, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
    return address, scheduler, worker


def _start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.cluster
def test_losing_the_scheduler_stops_the_batch_and_a_rerun_resumes(tmp_path, autograder_zip):
    """When the scheduler goes away mid-batch, does the command stop with exit 1 and a clear
    error, leaving a consistent gradebook, and does a rerun on a new cluster finish it (and one
    more, with nothing left to grade, need no cluster)?"""
    names = [
        "blank.ipynb",
        "solution.ipynb",
        "softmax_overflows.ipynb",
        "z_missing_intercept.ipynb",
    ]
    inbox = _inbox(tmp_path / "inbox", names)
    out = tmp_path / "out"
    address, scheduler_command, worker_command = _dask_commands()
    grade = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(autograder_zip)]
    grade += ["-o", str(out), "--scheduler", address]
    started = []
    try:
        started += [_start(scheduler_command, tmp_path / "scheduler.log")]
        started += [_start(worker_command, tmp_path / "worker.log")]
        first = subprocess.Popen(grade, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1].decode()
            time.sleep(0.2)
        _stop(started[0])
        _, stderr = first.communicate(timeout=120)
        assert first.returncode == 1, stderr.decode()
        assert f"lost the Dask scheduler at {address}" in stderr.decode()
        rows = _gradebook(out / "gradebook.csv")
        assert sorted(rows) == sorted(names)
        graded = [name for name, row in rows.items() if row["status"] == "ok"]
        assert graded and len(graded) < len(names), rows
        assert all(rows[n]["status"] == "pending" for n in names if n not in graded), rows

        _stop(started[1])
        started += [_start(scheduler_command, tmp_path / "scheduler2.log")]
        started += [_start(worker_command, tmp_path / "worker2.log")]
        again = subprocess.run(grade, capture_output=True, timeout=600)
        assert again.returncode == 0, again.stderr.decode()
        assert f"{len(graded)} already graded" in again.stdout.decode()
    finally:
        for running in reversed(started):
            _stop(running)
    expected = _expected_scores()
    rows = _gradebook(out / "gradebook.csv")
    assert all(rows[n]["status"] == "ok" and _scores(rows[n]) == expected[n] for n in names), rows
    finished = subprocess.run(grade, capture_output=True, timeout=600)  # no scheduler now
    assert finished.returncode == 0 and f"{len(names)} already graded" in finished.stdout.decode()


@pytest.mark.cluster
def test_ctrl_c_on_a_cluster_leaves_a_consistent_gradebook(tmp_path, autograder_zip):
    """After Ctrl-C mid-batch on a cluster: a row per file, no half-written file, nothing left
    on the cluster (no task, no grading plugin), and a rerun finishes."""
    names = ["blank.ipynb", "solution.ipynb", "softmax_overflows.ipynb"]
    inbox = _inbox(tmp_path / "inbox", names)
    out = tmp_path / "out"
    address, scheduler_command, worker_command = _dask_commands()
    grade = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(autograder_zip)]
    grade += ["-o", str(out), "--scheduler", address]
    started = []
    try:
        started += [_start(scheduler_command, tmp_path / "scheduler.log")]
        started += [_start(worker_command, tmp_path / "worker.log")]
        process = subprocess.Popen(grade, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1].decode()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
        assert process.returncode != 0
        rows = _gradebook(out / "gradebook.csv")
        assert sorted(rows) == sorted(names)
        finished = {name for name, row in rows.items() if row["status"] != "pending"}
        assert finished and finished != set(rows), rows
        assert all((out / name / "results.json").exists() for name in finished)
        assert not [p for p in out.rglob(".*") if p.is_file()], "a temporary file was left behind"
        with Client(address, timeout=30, set_as_default=False) as client:
            deadline = time.monotonic() + 60
            while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                assert time.monotonic() < deadline, "tasks were left on the scheduler"
                time.sleep(0.5)
            plugins = client.run(
                lambda dask_worker: [n for n in dask_worker.plugins if n.startswith("labkit")]
            )
        assert list(plugins.values()) == [[]], plugins
        rerun = subprocess.run(grade, capture_output=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr.decode()
        assert f"{len(finished)} already graded" in rerun.stdout.decode()
    finally:
        for running in reversed(started):
            _stop(running)
    assert {row["status"] for row in _gradebook(out / "gradebook.csv").values()} == {"ok"}
