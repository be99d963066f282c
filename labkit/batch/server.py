"""The grading servers of ``labkit grade``: clean processes that fork the children of a slot.

The parent starts one spawner (``python -m labkit.batch.server FD``) with its environment and
``ONE_THREAD``. The spawner imports otter and the lab's libraries once (``PRELOAD``), so that each
child starts warm, computes what the judges share, then forks a server per slot on request
(``SpawnRequest``), each a copy of it answering the parent on a socket of its own; so the slots
pay the imports and the shared results once. None of them runs student code, so that a process
forked from them is clean. A server becomes a subreaper, so that whatever a child leaves running
is its to kill. It forks two kinds of child:

- ``run_student`` (untrusted): its own session, no network and a filesystem of its own (its
  folder and the runtime only) where the OS allows them, a memory cap, every inherited
  descriptor closed but its two pipes, then the student's user; it runs the cells
  the parent sends, one at a time, in an IPython shell (``labkit.batch.channel``).
- ``run_judge`` (trusted): parses and judges a record of answers in the grading files' folder
  and writes the verdict on a pipe to the server, which passes it on.

Before it forks any server, the spawner computes what the hidden tests share
(``labkit.grader.judging.prepare``), so that every judge inherits it instead of computing it
again; a student's child drops it, and the hidden tests' sources, before anything else (the
grading files the spawner keeps only on disk, in a folder of its own that outlives its servers).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path

from labkit.batch import channel
from labkit.grader import isolation, processes, reference

_STARTED = time.monotonic()

# Imported once here, so that each child starts warm.
PRELOAD = (
    "numpy",
    "scipy.ndimage",
    "scipy.special",
    "pandas",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "PIL.Image",
    "PIL.ImageOps",
    "matplotlib.pyplot",
    "seaborn",
    "IPython.core.interactiveshell",
    "nbformat",
    "otter",
    "otter.test_files",
    "threadpoolctl",
    "labkit.grader.answers",
    "labkit.grader.judging",
)
SETUP_FAILED = 113  # the child's exit code when it could not confine itself (no cell ran)

# ``ForkServer`` starts the server with these in its environment: its numeric libraries load with
# one thread each, so every child computes on one core, as the judges' shared results were
# computed. Limiting them after the fact in each child (threadpoolctl) made OpenBLAS start a
# worker thread per library in every child, spinning beside the notebook: each page the child
# touched cost ten times more, and the other slot lost its core.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_student(
    request: channel.RunRequest,
    command_fd: int,
    report_fd: int,
    log_fd: int,
    *,
    hidden_tests: dict[str, str],
):
    """Entry point of a student's child: confine this process, then run the cells it is sent.

    First it drops, from its copy of the server's memory, what only the judges may read: the
    hidden tests' sources (``hidden_tests``, emptied) and the judges' shared results. Never
    returns: the child exits with 0 when told to, or ``SETUP_FAILED`` if it could not confine
    itself (then no student code ran, least of all as root).
    """
    try:
        hidden_tests.clear()
        reference.forget()
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        confinement = isolation.confine(workspace=request.workspace, network=True)
        isolation.limit_memory(request.memory_mb)
        for fd in map(int, os.listdir("/proc/self/fd")):  # the server's socket above all
            if fd not in (0, 1, 2, command_fd, report_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if request.uid is not None:
            isolation.drop_privileges(request.uid)
        os.environ.clear()
        os.environ.update(request.env)
        os.chdir(request.workspace)
        sys.path.insert(0, request.workspace)
        import matplotlib.pyplot as plt
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        plt.switch_backend("Agg")  # plots are drawn off screen, never shown
        config = Config()
        config.HistoryManager.enabled = False
        shell = InteractiveShell.instance(config=config, colors="NoColor")
        shell.InteractiveTB.set_mode("Plain")  # tracebacks only reach the grading log
        os.write(report_fd, channel.encode_hello(confinement))
    except BaseException:
        os._exit(SETUP_FAILED)
    while True:
        command = channel.read_command(command_fd)
        if command is None:
            break
        index, source = command
        shell.run_cell(source, store_history=False)
        os.write(report_fd, channel.encode_done(index))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_judge(request: channel.JudgeRequest, tests: dict, files_dir: Path, out_fd: int):
    """Entry point of a judging child: judge the record, write the verdict's JSON on ``out_fd``."""
    from labkit.grader import judging

    try:
        verdict = judging.judge_record(tests, request.record, files_dir=files_dir)
        payload = {"verdict": verdict.to_json()}
    except BaseException as exc:
        payload = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    data = json.dumps(payload).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(out_fd, view) :]
    os._exit(0)


def _serve_run(conn: Connection, request: channel.RunRequest, tests: dict[str, str]) -> None:
    fds = [recv_handle(conn) for _ in range(3)]
    pid = os.fork()
    if pid == 0:
        run_student(request, *fds, hidden_tests=tests)
    for fd in fds:
        os.close(fd)
    conn.send(channel.Started(pid))
    _, status = os.waitpid(pid, 0)
    if request.uid is not None:
        leftovers = processes.kill_user(request.uid)
    else:
        leftovers = processes.kill_descendants()
    processes.reap_zombies()
    conn.send(channel.Ended(channel.exit_status(status), leftovers))


def _serve_judge(conn: Connection, request: channel.JudgeRequest, tests, files_dir) -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        run_judge(request, tests, files_dir, write_end)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(1 << 20):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    try:
        payload = json.loads(b"".join(chunks))
    except ValueError:
        reason = processes.describe_exit(channel.exit_status(status))
        conn.send(channel.Judged(None, f"it stopped without a verdict ({reason})"))
        return
    conn.send(channel.Judged(payload.get("verdict"), payload.get("error", "")))


def serve(conn: Connection) -> None:
    """The spawner: prepare once, then fork a server for each ``SpawnRequest`` until the
    parent says ``Quit`` or goes away."""
    setup = conn.recv()
    if not isinstance(setup, channel.Setup):
        raise SystemExit("labkit.batch.server: expected the setup first")
    for module in PRELOAD:
        importlib.import_module(module)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # a no-op where the environment did it; inherited by every child
    with tempfile.TemporaryDirectory(prefix="labkit-judge-") as folder:
        from labkit.grader import judging

        files_dir = judging.materialize(setup.files, Path(folder))
        setup.files.clear()  # judges read them from files_dir; no child inherits them in memory
        judging.prepare(setup.tests, files_dir=files_dir)
        gc.collect()  # what prepare compiled (the test files' code) is gone before any fork
        gc.freeze()  # children's collections skip what is here: fewer pages copied per fork
        conn.send(channel.Ready(os.getpid(), round(time.monotonic() - _STARTED, 3)))
        _spawn_servers(conn, setup.tests, files_dir)


def _requests(conn: Connection):
    """The parent's requests, one at a time, until it goes away."""
    while True:
        try:
            yield conn.recv()
        except (EOFError, OSError):
            return


def _serve_requests(conn: Connection, tests: dict[str, str], files_dir: Path) -> None:
    for request in _requests(conn):
        if isinstance(request, channel.RunRequest):
            _serve_run(conn, request, tests)
        elif isinstance(request, channel.JudgeRequest):
            _serve_judge(conn, request, tests, files_dir)
        else:
            break


def _spawn_servers(conn: Connection, tests: dict[str, str], files_dir: Path) -> None:
    """The spawner's loop: fork a server per request, passing the parent its socket's end.

    Then it waits for its servers (the parent stops them too): their judges read ``files_dir``,
    which must outlive them; no zombie is kept; and their time, their children's included, is
    counted in the spawner's, as the parent sees it.
    """
    try:
        for request in _requests(conn):
            if not isinstance(request, channel.SpawnRequest):
                break
            asked = time.monotonic()
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                ours.close()
                conn.close()
                _run_spawned(Connection(theirs.detach()), tests, files_dir, asked)
            theirs.close()
            conn.send(channel.Spawned(pid))
            send_handle(conn, ours.fileno(), pid)
            ours.close()
            _reap_exited()
    finally:
        with contextlib.suppress(ChildProcessError):
            while True:
                os.waitpid(-1, 0)


def _run_spawned(conn: Connection, tests: dict[str, str], files_dir: Path, asked: float):
    """A server forked by the spawner: it answers the parent on ``conn``, its judges in the
    spawner's ``files_dir``. Never returns: it must not unwind into the spawner's frames (and
    remove the spawner's folder)."""
    status = 0
    try:
        processes.become_subreaper()
        conn.send(channel.Ready(os.getpid(), round(time.monotonic() - asked, 3)))
        _serve_requests(conn, tests, files_dir)
        processes.kill_descendants()
    except BaseException:
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _reap_exited() -> None:
    """Collect the spawned servers that have exited (they are the spawner's children)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def main(argv: list[str]) -> None:
    """``python -m labkit.batch.server FD``: serve on the socket inherited as FD."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.closing(Connection(int(argv[0]))) as conn:
        serve(conn)
    # Its children are gone and its folder removed: tearing down the lab's libraries one module
    # at a time would only keep the parent waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
