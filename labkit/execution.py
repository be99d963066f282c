"""Running a submission's cells with limits: what runs, in what order, and what stops it.

Both ways of grading run the same cells: a short prelude (otter's grading mode, ``grader.check``
made a no-op), the submission's code cells except those tagged ``otter_ignore``, and last the
recorder of answers (``labkit.answers``). ``run_in_kernel`` runs them in a Jupyter kernel (the
autograder zip, under ``otter run`` or on Gradescope); ``labkit.sandbox`` runs them in a forked
process for ``labkit grade``. The policy is shared: a cell that runs longer than the cell limit or
kills its interpreter is skipped and the notebook is run again from the top without it (at most
``MAX_SKIPPED`` times), so the questions answered elsewhere still count; the whole run has an
overall limit too. Afterwards every process the notebook left behind is killed
(``kill_leftovers``), so nothing of it can touch the results once they are written.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_SKIPPED = 3
IGNORE_TAG = "otter_ignore"
_PR_SET_CHILD_SUBREAPER = 36

PRELUDE = """\
import otter as _labkit_otter
_labkit_otter.Notebook.init_grading_mode("tests")
_labkit_otter.Notebook.check = lambda self, question, global_env=None: None
del _labkit_otter
"""

RECORDER = """\
_labkit_answers = {{"__name__": "labkit_answers"}}
exec(compile({source!r}, "labkit-answers", "exec"), _labkit_answers)
_labkit_answers["record"](
    globals(), tests_dir={tests_dir!r}, out_path={out_path!r}, seconds_per_test={seconds:g}
)
"""


@dataclass
class Limits:
    """How long one cell, one hidden test's call and the whole run may take (seconds)."""

    cell: float = 60.0
    test: float = 60.0
    total: float = 480.0

    @classmethod
    def from_config(cls, config: dict | None) -> Limits:
        """Read ``cell_timeout``, ``test_timeout`` and ``total_timeout`` from a plugin config."""
        config = config or {}
        return cls(
            cell=float(config.get("cell_timeout", cls.cell)),
            test=float(config.get("test_timeout", cls.test)),
            total=float(config.get("total_timeout", cls.total)),
        )


@dataclass
class RunReport:
    """How a run went: which cells were skipped and why, and whether it ran out of time."""

    skipped: dict[str, str] = field(default_factory=dict)
    out_of_time: bool = False
    stopped: bool = False
    leftovers: int = 0
    seconds: float = 0.0

    def notes(self) -> list[str]:
        """Sentences for the student and the TA (only facts the grader itself observed)."""
        notes = [f"{label} {reason}" for label, reason in self.skipped.items()]
        if self.out_of_time:
            notes.append("the notebook ran out of time: answers not recorded by then score 0")
        return notes


@dataclass
class Cell:
    """A cell to run: its source and how reports name it."""

    label: str
    source: str
    recorder: bool = False


def graded_cells(notebook: nbformat.NotebookNode) -> list[Cell]:
    """The submission's code cells that are graded, in order (``otter_ignore`` ones left out).

    Each is labelled with its number among the notebook's code cells, as a student counts them.
    """
    cells = []
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        metadata = cell.get("metadata", {})
        if IGNORE_TAG in metadata.get("tags", []) or metadata.get("otter", {}).get("ignore"):
            continue
        cells.append(Cell(f"code cell {number}", cell.source))
    return cells


def recorder_cell(*, tests_dir: str, out_path: str, seconds_per_test: float) -> Cell:
    """The last cell: the recorder's source, run in the notebook's namespace."""
    source = Path(__file__).with_name("answers.py").read_text()
    text = RECORDER.format(
        source=source, tests_dir=tests_dir, out_path=out_path, seconds=seconds_per_test
    )
    return Cell("the recording of answers", text, recorder=True)


def note_stop(report: RunReport, cells: list[Cell], index: int, reason: str, skipped: set) -> bool:
    """Record in ``report`` that ``cells[index]`` stopped the run; say whether to rerun without it.

    The recorder is never rerun (the answers it wrote so far stand), nor is a notebook that
    already lost ``MAX_SKIPPED`` cells.
    """
    cell = cells[index]
    if cell.recorder:
        report.skipped[cell.label] = f"{reason}; the answers recorded before that were kept"
        return False
    if len(skipped) >= MAX_SKIPPED:
        report.skipped[cell.label] = (
            f"{reason}; {MAX_SKIPPED} cells were skipped already, so the notebook was not run again"
        )
        return False
    report.skipped[cell.label] = f"{reason}; the notebook was run again without it"
    skipped.add(index)
    return True


def run_in_kernel(cells: list[Cell], *, cwd: Path, limits: Limits) -> RunReport:
    """Run the prelude and ``cells`` in a fresh python3 kernel in ``cwd``, within ``limits``.

    A cell that times out or kills the kernel is skipped and the notebook rerun without it (see
    ``note_stop``); the recorder (last) may use what is left of the overall limit, each hidden
    test's call being bounded by ``limits.test`` inside it.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    report = RunReport()
    started = time.monotonic()
    deadline = started + limits.total
    skipped: set[int] = set()
    while True:
        kept = [i for i in range(len(cells)) if i not in skipped]
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(PRELUDE)]
            + [
                nbformat.v4.new_code_cell(cells[i].source, metadata={"recorder": cells[i].recorder})
                for i in kept
            ]
        )
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(cwd)}},
            timeout_func=lambda c: limits.total if c.metadata.get("recorder") else limits.cell,
            shutdown_kernel="immediate",
        )
        stopped, reason, expired = None, "", threading.Event()
        with client.setup_kernel():
            watchdog = threading.Timer(
                max(0.0, deadline - time.monotonic()), _kill_kernel, (client, expired)
            )
            watchdog.start()
            current = None
            try:
                for position, cell in enumerate(notebook.cells):
                    current = kept[position - 1] if position else None
                    client.execute_cell(cell, position)
            except CellTimeoutError:
                stopped = current
                recorder = current is not None and cells[current].recorder
                reason = f"ran longer than {limits.total if recorder else limits.cell:g} s"
            except DeadKernelError:
                stopped, reason = current, "stopped the Python kernel"
            finally:
                watchdog.cancel()
        if expired.is_set():
            report.out_of_time = True
            break
        if stopped is None or not note_stop(report, cells, stopped, reason, skipped):
            break
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _kill_kernel(client, expired: threading.Event) -> None:
    expired.set()
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()


# --- processes left behind ------------------------------------------------------------------------


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux), so they can be found."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _processes() -> list[tuple[int, str, int, int]]:
    """Every process as (pid, state, parent pid, process group), read from ``/proc``."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (command) "
        found.append((int(entry), fields[0], int(fields[1]), int(fields[2])))
    return found


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, _, parent, _ in _processes():
        children.setdefault(parent, []).append(pid)
    return children


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return _children_by_parent().get(pid, [])


def kill_process_group(pgid: int) -> int:
    """Kill every process still in process group ``pgid``; return how many there were."""
    members = [pid for pid, state, _, group in _processes() if group == pgid and state != "Z"]
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return len(members)


def leftovers_note(count: int) -> str:
    """The flag for processes a notebook left running."""
    return f"{count} process(es) the notebook started were still running after it and were killed"


def kill_leftovers(*, keep: set[int] = frozenset()) -> int:
    """Kill every descendant of this process except ``keep`` (and theirs); return how many.

    Descendants that escaped by daemonizing are found too once ``become_subreaper`` was called.
    """
    if not os.path.isdir("/proc"):
        return 0
    killed = 0
    for _ in range(5):
        tree = _children_by_parent()
        victims, queue = [], [p for p in tree.get(os.getpid(), []) if p not in keep]
        while queue:
            pid = queue.pop()
            victims.append(pid)
            queue.extend(tree.get(pid, []))
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        for pid in victims:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)
    return killed
