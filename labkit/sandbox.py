"""The two kinds of child process of batch grading: one runs a notebook, one judges its answers.

``labkit grade`` forks both from a warm server process that has already imported otter and the
lab's libraries (see ``PRELOAD``), so neither pays Python's start-up nor a Jupyter kernel's. The
server itself never runs student code, so a process forked from it is clean.

``run_child`` is untrusted: it limits itself (its own session and process group, a memory cap, no
network where the OS allows it) and runs the notebook's cells in its IPython shell, the last cell
recording the answers as JSON (``labkit.answers``). ``run_judge`` is trusted: it gets the hidden
tests, the record of answers (unparsed: the parent never parses it) and the grading files from the
parent, judges in a fresh folder (``labkit.judging``) and sends the verdict back as JSON text.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path

# Imported once by the fork server (``set_forkserver_preload``), so that each child starts warm.
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
    "labkit.answers",
    "labkit.execution",
    "labkit.judging",
)

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40


def isolate_network() -> str:
    """Move this process into a new, empty network namespace; return how (or why not).

    As root a plain network namespace is enough; otherwise an unprivileged user namespace is
    tried. Only the loopback interface exists inside, brought up so that otter's local logging
    still works.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for flags, how in (
        (_CLONE_NEWNET, "network namespace"),
        (_CLONE_NEWUSER | _CLONE_NEWNET, "user+network namespace"),
    ):
        if libc.unshare(flags) == 0:
            with contextlib.suppress(OSError), socket.socket() as sock:
                fcntl.ioctl(
                    sock, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", _IFF_UP_LOOPBACK_RUNNING)
                )
            return f"no network ({how})"
    return f"network not isolated (unshare: {os.strerror(ctypes.get_errno())})"


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space at its current size plus ``megabytes``."""
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    cap = current + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_cells(cells: list[str], *, skip: set[int], progress_path: str) -> None:
    """Run the prelude and ``cells`` (but those in ``skip``) in this process's IPython shell.

    Before each cell its index is written to ``progress_path``, so the parent can tell which
    cell was running when it had to stop this process.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from labkit.execution import PRELUDE

    shell_config = Config()
    shell_config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=shell_config, colors="NoColor")
    shell.InteractiveTB.set_mode("Plain")  # tracebacks only reach the grading log
    shell.run_cell(PRELUDE, store_history=False)
    for index, source in enumerate(cells):
        if index in skip:
            continue
        with open(progress_path, "w") as f:
            f.write(str(index))
        shell.run_cell(source, store_history=False)


def run_child(
    work_dir: str,
    *,
    cells: list[str],
    skip: list[int],
    memory_mb: int,
    log_path: str,
    progress_path: str,
) -> None:
    """Entry point of a grading child: sandbox this process, then run the notebook's cells.

    Runs in ``<work_dir>/submission``; the last cell records the answers (``labkit.answers``).
    Writes a line saying how the network was isolated to ``<work_dir>/sandbox.txt``. Never
    returns normally: the child exits with 0 once the cells have run.
    """
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    log = open(log_path, "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    network = isolate_network()
    with open(os.path.join(work_dir, "sandbox.txt"), "w") as f:
        f.write(network + "\n")
    import matplotlib.pyplot as plt
    from threadpoolctl import threadpool_limits

    plt.switch_backend("Agg")  # plots are drawn off screen, never shown
    threadpool_limits(1)
    limit_memory(memory_mb)
    os.chdir(os.path.join(work_dir, "submission"))
    sys.path.insert(0, os.getcwd())
    run_cells(cells, skip=set(skip), progress_path=progress_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_judge(connection, *, tests: dict, record: bytes | None, files: dict) -> None:
    """Entry point of a judging child (forked from the clean server, never runs student code).

    Parses and judges the record of answers in a fresh folder holding ``files``, and sends the
    verdict back as JSON text.
    """
    from threadpoolctl import threadpool_limits

    from labkit import judging

    threadpool_limits(1)
    try:
        with tempfile.TemporaryDirectory(prefix="labkit-judge-") as folder:
            judging.materialize(files, Path(folder))
            verdict = judging.judge_record(tests, record, files_dir=Path(folder))
        connection.send_bytes(verdict.to_json().encode())
    except BaseException as exc:
        connection.send_bytes(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
    finally:
        connection.close()
