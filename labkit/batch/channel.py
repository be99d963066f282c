"""What crosses a process boundary in ``labkit grade``, each reader beside its writer.

Two channels:

- **parent <-> student's child**: two pipes the parent creates and the child inherits (no path
  on disk, so nothing in the notebook's folder can stand in for them). The parent sends one
  command per cell (its index and source, or ``END``); the child answers with fixed-size reports:
  ``HELLO`` once, before any student code runs (what it was cut off from), then ``DONE`` with
  the index of each cell it finished. Student code runs in that child and could write on the
  pipe, so the parent accepts only a report it expects (``ReportReader``, ``expect_done``): a
  number in range, never text. A forged report can at most end the student's own run early or
  put the blame on another of its cells; every limit stays the parent's own.
- **parent <-> server**: a socket pair to the fork server, which never runs student code (the
  child closes its end before anything else). Plain dataclasses, pickled by
  ``multiprocessing.connection``; only processes of the grader read them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from labkit.grader.filesystem import Filesystem
from labkit.grader.isolation import Confinement, Network

COMMAND_HEADER = struct.Struct("!II")  # cell index (or END), source length in bytes
REPORT = struct.Struct("!II")  # kind, value
END = 0xFFFFFFFF
MAX_SOURCE_BYTES = 64 * 1024 * 1024
MAX_ERRNO = 4095


class ChannelError(Exception):
    """A report the parent did not ask for: the child wrote on the channel, or closed it."""


class Report(IntEnum):
    """What the student's child reports."""

    HELLO = 1  # value: a Confinement (see encode_hello), sent before any student code runs
    DONE = 2  # value: the index of the cell that finished


# --- parent -> child: commands --------------------------------------------------------------------


def encode_command(index: int, source: str) -> bytes:
    """A command to run cell ``index`` (its source travels with it)."""
    data = source.encode("utf-8")
    if not 0 <= index < END or len(data) > MAX_SOURCE_BYTES:
        raise ValueError("cell index or source out of range")
    return COMMAND_HEADER.pack(index, len(data)) + data


def encode_end() -> bytes:
    """The command to exit once the cells have run."""
    return COMMAND_HEADER.pack(END, 0)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_command(fd: int) -> tuple[int, str] | None:
    """The child's side: the next cell to run as ``(index, source)``, or None to exit."""
    header = _read_exactly(fd, COMMAND_HEADER.size)
    if header is None:
        return None
    index, length = COMMAND_HEADER.unpack(header)
    if index == END:
        return None
    data = _read_exactly(fd, length)
    return None if data is None else (index, data.decode("utf-8"))


# --- child -> parent: reports ---------------------------------------------------------------------


def encode_hello(confinement: Confinement) -> bytes:
    """The child's first report: what it was cut off from. One number: the network's state in
    bits 0-1 (3: not asked), the filesystem's in bits 2-3, then each step's errno (12 bits)."""
    network = 3 if confinement.network is None else int(confinement.network)
    value = network | int(confinement.filesystem) << 2
    value |= _clamp(confinement.network_errno) << 8 | _clamp(confinement.filesystem_errno) << 20
    return REPORT.pack(Report.HELLO, value)


def _clamp(errno: int) -> int:
    return min(max(errno, 0), MAX_ERRNO)


def encode_done(index: int) -> bytes:
    """The child finished cell ``index``."""
    return REPORT.pack(Report.DONE, index)


def parse_hello(value: int) -> Confinement:
    """Validate a HELLO report's value: what the child was cut off from."""
    try:
        network = None if value & 0x3 == 3 else Network(value & 0x3)
        filesystem = Filesystem(value >> 2 & 0x3)
    except ValueError:
        raise ChannelError("a HELLO report with an unknown state") from None
    if value >> 4 & 0xF:
        raise ChannelError("a HELLO report with unknown bits set")
    return Confinement(filesystem, value >> 20 & MAX_ERRNO, network, value >> 8 & MAX_ERRNO)


class ReportReader:
    """Splits bytes read from the report pipe into reports, refusing unknown kinds."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[Report, int]]:
        """Add bytes read from the pipe; return the complete reports they finish."""
        self._buffer += data
        reports = []
        while len(self._buffer) >= REPORT.size:
            kind, value = REPORT.unpack_from(self._buffer)
            self._buffer = self._buffer[REPORT.size :]
            try:
                reports.append((Report(kind), value))
            except ValueError:
                raise ChannelError(f"an unknown report kind {kind}") from None
        return reports

    @property
    def pending(self) -> bool:
        """Whether part of a report was read (bytes a well-behaved child never leaves)."""
        return bool(self._buffer)


def expect_done(reports: list[tuple[Report, int]], index: int) -> bool:
    """True if ``reports`` is exactly ``DONE(index)``; False if empty; else ChannelError."""
    if not reports:
        return False
    if reports != [(Report.DONE, index)]:
        raise ChannelError(f"unexpected report(s) while cell {index} ran")
    return True


# --- parent <-> server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Parent -> spawner, once: what the judges need, read from the autograder zip."""

    tests: dict[str, str]
    files: dict[str, bytes]


@dataclass(frozen=True)
class Ready:
    """Spawner or server -> parent: it has imported the lab's libraries and can fork; it took
    ``seconds`` from its start."""

    pid: int
    seconds: float = 0.0


@dataclass(frozen=True)
class RunRequest:
    """Parent -> server: fork a child to run a notebook; three file descriptors follow
    (the command pipe's read end, the report pipe's write end, the grading log)."""

    workspace: str
    env: dict[str, str] = field(default_factory=dict)
    uid: int | None = None
    memory_mb: int = 2048


@dataclass(frozen=True)
class Started:
    """Server -> parent: the child's process id."""

    pid: int


@dataclass(frozen=True)
class Ended:
    """Server -> parent: the child ended with ``exit_status`` (negative: killed by that signal)
    and ``leftovers`` processes it left were killed."""

    exit_status: int
    leftovers: int


@dataclass(frozen=True)
class JudgeRequest:
    """Parent -> server: judge a record of answers (unparsed bytes) in a clean child."""

    record: bytes | None


@dataclass(frozen=True)
class Judged:
    """Server -> parent: the verdict as JSON text, or why there is none."""

    verdict_json: str | None
    error: str = ""


@dataclass(frozen=True)
class SpawnRequest:
    """Parent -> spawner: fork a server for one slot; it answers on a socket of its own."""


@dataclass(frozen=True)
class Spawned:
    """Spawner -> parent: the new server's process id; its end of the socket follows."""

    pid: int


@dataclass(frozen=True)
class Quit:
    """Parent -> server: exit."""


def exit_status(wait_status: int) -> int:
    """``os.waitpid``'s status as an exit code, or minus the signal that killed the process."""
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)
