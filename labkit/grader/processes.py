"""Finding and killing the processes a notebook started, read from ``/proc`` (Linux).

Whatever a notebook leaves running is killed before its answers are read, so nothing of it can
touch the results once they are judged. Two ways find those processes: every process of the
unprivileged user the notebook ran as (``kill_user``), and, where it ran as the grader's own user,
every descendant of this process, orphans included once it is a subreaper (``kill_descendants``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from dataclasses import dataclass

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class ProcessInfo:
    """One process as ``/proc`` shows it."""

    pid: int
    state: str
    parent: int
    group: int
    uid: int


def processes() -> list[ProcessInfo]:
    """Every process of the machine (or of this PID namespace)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            uid = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (command) "
        found.append(ProcessInfo(int(entry), fields[0], int(fields[1]), int(fields[2]), uid))
    return found


def become_subreaper(on: bool = True) -> bool:
    """Make orphaned descendants of this process its children (or stop); False where impossible."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    return False


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [p.pid for p in processes() if p.parent == pid]


def _kill_all(victims: list[int]) -> int:
    killed = 0
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    for pid in victims:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    return killed


def kill_user(uid: int) -> int:
    """Kill every live process of user ``uid``; return how many were killed."""
    if not os.path.isdir("/proc"):
        return 0
    killed = 0
    for _ in range(5):  # a process may fork while we look
        victims = [p.pid for p in processes() if p.uid == uid and p.state != "Z"]
        if not victims:
            break
        killed += _kill_all(victims)
        time.sleep(0.05)
    return killed


def kill_descendants(*, keep: frozenset[int] = frozenset()) -> int:
    """Kill every descendant of this process except ``keep`` (and theirs); return how many.

    Descendants that escaped by daemonizing are found too once ``become_subreaper`` was called.
    """
    if not os.path.isdir("/proc"):
        return 0
    killed = 0
    for _ in range(5):
        tree: dict[int, list[int]] = {}
        for p in processes():
            if p.state != "Z":
                tree.setdefault(p.parent, []).append(p.pid)
        victims, queue = [], [p for p in tree.get(os.getpid(), []) if p not in keep]
        while queue:
            pid = queue.pop()
            victims.append(pid)
            queue.extend(tree.get(pid, []))
        if not victims:
            break
        killed += _kill_all(victims)
        time.sleep(0.05)
    return killed


def reap_zombies() -> None:
    """Collect the exit status of any child of this process that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def describe_exit(status: int | None) -> str:
    """An exit status as the grader words it: ``exit code 3`` or ``killed by SIGKILL``."""
    if status is None:
        return "exit status unknown"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit code {status}"
