"""The untrusted side of batch grading: run otter's grading of one submission in a sandbox.

``labkit grade`` forks one process per submission from a warm server process that has already
imported otter and the lab's libraries (see ``PRELOAD``), so a submission pays neither Python's
start-up nor a Jupyter kernel's. The child limits itself (its own process group, a memory cap, no
network where the OS allows it), then runs otter's own autograder (``otter.run.run_autograder``)
in the layout ``otter run`` builds. Otter executes the notebook with ``grade_notebook``; here that
one function is swapped for ``grade_notebook_in_process``, which applies otter's own
``GradingPreprocessor`` and runs the cells in this process's IPython shell instead of a kernel.
Everything else, test files and scoring included, is otter's, so scores equal ``otter run``'s.

The parent never unpickles anything the child wrote: it reads otter's ``results.json``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import pickle
import resource
import signal
import socket
import struct
import sys
import tempfile

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
    "otter.execute",
    "otter.run.run_autograder",
    "otter.run.run_autograder.runners.python_runner",
    "otter.test_files",
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


def grade_notebook_in_process(
    submission_path,
    *,
    tests_glob=None,
    ignore_errors=True,
    script=False,
    cwd=None,
    test_dir=None,
    seed=None,
    seed_variable=None,
    log=None,
    variables=None,
    plugin_collection=None,
    force_python3_kernel=True,
):
    """Stand-in for ``otter.execute.grade_notebook``: same steps, cells run in this process."""
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from otter.execute.logging import start_server
    from otter.execute.preprocessor import GradingPreprocessor
    from otter.test_files import GradingResults
    from traitlets.config import Config

    if script:
        with open(submission_path) as f:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f.read())])
    else:
        nb = nbformat.read(submission_path, as_version=4)
    if plugin_collection is not None:
        nb = plugin_collection.before_execution(nb)

    handle, results_file = tempfile.mkstemp(suffix=".pkl")
    os.close(handle)
    config = Config()
    (host, port), stop_server = start_server()
    try:
        settings = config.GradingPreprocessor
        settings.cwd = cwd
        settings.test_dir = test_dir
        settings.tests_glob = tests_glob or []
        settings.results_path = results_file
        settings.seed = seed
        settings.seed_variable = seed_variable
        settings.otter_log = log
        settings.variables = variables
        settings.logging_server_host = host
        settings.logging_server_port = port
        settings.force_python3_kernel = force_python3_kernel
        preprocessor = GradingPreprocessor(config=config)
        nb, _ = preprocessor.preprocess(nb)
        shell_config = Config()
        shell_config.HistoryManager.enabled = False
        shell = InteractiveShell.instance(config=shell_config, colors="NoColor")
        shell.InteractiveTB.set_mode("Plain")  # tracebacks only reach the grading log
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            outcome = shell.run_cell(cell.source, store_history=False)
            if not ignore_errors and not outcome.success:
                break
    finally:
        stop_server()
        preprocessor.cleanup()
    try:
        # Written a moment ago by otter's export cell, in this very process.
        with open(results_file, "rb") as f:
            results = pickle.load(f)
    except Exception as exc:
        results = GradingResults.without_results(exc)
    finally:
        os.remove(results_file)
    results.notebook = nb
    if plugin_collection is not None:
        plugin_collection.run("after_grading", results)
    return results


def run_child(autograder_dir: str, *, memory_mb: int, log_path: str) -> None:
    """Entry point of a grading child: sandbox this process, then run otter's autograder.

    Writes otter's ``results/results.json`` under ``autograder_dir`` and a line saying how the
    network was isolated to ``<autograder_dir>/sandbox.txt``. Never returns normally: the child
    exits with 0 on success and 1 when otter raised.
    """
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    log = open(log_path, "w", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    network = isolate_network()
    with open(os.path.join(autograder_dir, "sandbox.txt"), "w") as f:
        f.write(network + "\n")
    import matplotlib.pyplot as plt
    from threadpoolctl import threadpool_limits

    plt.switch_backend("Agg")  # plots are drawn off screen, never shown
    threadpool_limits(1)
    limit_memory(memory_mb)

    import otter.run.run_autograder as run_autograder
    from otter.run.run_autograder.runners import python_runner

    python_runner.grade_notebook = grade_notebook_in_process
    code = 0
    try:
        run_autograder.main(
            autograder_dir, otter_run=True, logo=False, print_summary=False, print_score=False
        )
    except BaseException as exc:  # otter has written results.json where it could
        print(f"grading raised {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
