"""The autograder zip's runner: the notebook's cells run in a Jupyter kernel, one at a time.

The kernel is started as the workspace's user, in the workspace, with an environment of its own,
the memory cap and the filesystem ``labkit grade``'s child gets (``labkit.grader.isolation``:
its folder and the runtime, nothing else of the grader's files); the grader sends
each cell when its turn comes and waits for its reply with that cell's limit
(``labkit.grader.pipeline``). Whatever the kernel started is killed when the session closes: every
descendant of this process (a subreaper, so daemons that left the kernel's process group are found
too).
"""

from __future__ import annotations

import contextlib
import functools
import os

import nbformat
from jupyter_client import AsyncKernelManager

from labkit.grader import filesystem, isolation, processes
from labkit.grader.isolation import Workspace
from labkit.grader.pipeline import CellResult, GraderFault, Stop

CONNECTION_FILE = ".kernel.json"


class _StudentKernelManager(AsyncKernelManager):
    """A kernel manager whose connection file the student's user can read."""

    owner: int | None = None

    def write_connection_file(self, **kwargs):
        """Write the file as usual, then give it to the kernel's user."""
        super().write_connection_file(**kwargs)
        if self.owner is not None and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self.owner, self.owner)


class KernelSession:
    """One python3 kernel running a notebook's cells."""

    def __init__(self, workspace: Workspace, *, memory_mb: int):
        from nbclient import NotebookClient

        self.uid = workspace.user.uid
        manager = _StudentKernelManager(kernel_name="python3")
        manager.owner = self.uid
        manager.connection_file = str(workspace.path / CONNECTION_FILE)
        self.notebook = nbformat.v4.new_notebook()
        self.client = NotebookClient(
            self.notebook,
            km=manager,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(workspace.path)}},
        )
        confined = filesystem.probe()[0] is filesystem.Filesystem.OWN_FOLDER
        launch = {
            "cwd": str(workspace.path),
            "env": workspace.env(),
            # labkit grade's child's cap (an allocation past it fails in its cell only) and
            # filesystem, then the student's user
            "preexec_fn": functools.partial(
                isolation.enter_kernel_sandbox,
                workspace=str(workspace.path),
                memory_mb=memory_mb,
                uid=self.uid,
                confined=confined,
            ),
        }
        try:
            self.client.start_new_kernel(**launch)
            self.client.start_new_kernel_client()
        except Exception as exc:
            self.close()
            raise GraderFault(f"the notebook's kernel did not start ({exc})") from exc

    def run_cell(self, index: int, source: str, *, timeout: float) -> CellResult:
        """Send one cell to the kernel and wait for its reply, at most ``timeout`` seconds."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        cell = nbformat.v4.new_code_cell(source)
        self.notebook.cells.append(cell)
        self.client.timeout = max(1, round(timeout))
        try:
            self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        except CellTimeoutError:
            return CellResult(Stop.TIMED_OUT)
        except DeadKernelError:
            return CellResult(Stop.DIED, self._exit_status())
        finally:
            cell.outputs = []  # what the notebook printed is of no use to the grader
        if not self._alive():
            return CellResult(Stop.DIED, self._exit_status())
        return CellResult(Stop.DONE)

    def _process(self):
        provisioner = getattr(self.client.km, "provisioner", None)
        return getattr(provisioner, "process", None)

    def _alive(self) -> bool:
        process = self._process()
        return process is not None and process.poll() is None

    def _exit_status(self) -> int | None:
        process = self._process()
        if process is None:
            return None
        with contextlib.suppress(Exception):
            process.wait(timeout=5)
        return process.returncode

    def close(self) -> int:
        """Kill the kernel, then whatever it left running; return how many were left."""
        process = self._process()
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, 9)
        with contextlib.suppress(Exception):
            self.client._cleanup_kernel()
        with contextlib.suppress(Exception):
            if process is not None:
                process.wait(timeout=10)
        return processes.kill_descendants()


class KernelRunner:
    """Runs notebooks in Jupyter kernels (the autograder zip's way), each with a memory cap."""

    def __init__(self, *, memory_mb: int):
        self.memory_mb = memory_mb
        filesystem.probe()  # early, while this process runs few threads (it forks)

    def start(self, workspace: Workspace) -> KernelSession:
        """A fresh kernel in the workspace, as its user."""
        return KernelSession(workspace, memory_mb=self.memory_mb)

    def sandbox_notes(self) -> list[str]:
        """Where the kernel sees the grader's files (it always has the grading machine's
        network: Gradescope's container)."""
        note = filesystem.note(*filesystem.probe())
        return [note] if note else []
