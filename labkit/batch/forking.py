"""Supervision in ``labkit grade``: the fork server of a grading slot, and the runner over it.

Each slot (one submission graded at a time) has its own server process (``labkit.batch.server``,
forked by a ``ServerSpawner``) and its own unprivileged user id, so that two notebooks graded at
once cannot reach each other.
``ForkRunner`` is the pipeline's runner (``labkit.grader.pipeline``): each session is a child
forked by the server, and this side sends it one cell at a time, waits for its report with the
cell's limit, and kills its process group when the limit passes. The child's exit status comes
from the server (its parent), never from the child.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

from labkit.batch import channel
from labkit.batch.server import ONE_THREAD
from labkit.grader import isolation
from labkit.grader.isolation import Workspace
from labkit.grader.pipeline import CellResult, GraderFault, Stop

SERVER_START_SECONDS = 180.0
HELLO_SECONDS = 60.0
END_SECONDS = 10.0
POLL_SECONDS = 0.2


class _ServerHandle:
    """The parent's side of a grading server process (a fork server, or the spawner) and its
    socket."""

    def __init__(self, process, conn: Connection):
        self.process = process
        self.conn = conn
        self.start_seconds: float | None = None  # the server's own, once it is ready

    def wait_ready(self):
        """Wait until the server can fork (``GraderFault`` if it never says so)."""
        if self.start_seconds is None:
            ready = self.receive(SERVER_START_SECONDS)
            if not isinstance(ready, channel.Ready):
                self.close()
                raise GraderFault(f"the grading server did not start ({ready!r})")
            self.start_seconds = ready.seconds
        return self

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process.poll() is None

    def receive(self, timeout: float):
        """The server's next message, or None if none came within ``timeout`` or it is gone."""
        try:
            if not self.conn.poll(timeout):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def ask_to_quit(self) -> None:
        """Tell the server to stop, without waiting (``close`` waits)."""
        with contextlib.suppress(OSError):
            self.conn.send(channel.Quit())
        with contextlib.suppress(OSError):
            self.conn.close()

    def close(self) -> None:
        """Stop the server (and so whatever it still has running)."""
        self.ask_to_quit()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ForkServer(_ServerHandle):
    """The parent's handle on one slot's fork server, forked by the spawner
    (``ServerSpawner.spawn``); ``wait_ready`` waits until it can fork."""

    def run(self, request: channel.RunRequest, fds: list[int]) -> int:
        """Ask for a child running a notebook; return its process id."""
        self.wait_ready()
        self.conn.send(request)
        for fd in fds:
            send_handle(self.conn, fd, self.process.pid)
        started = self.receive(SERVER_START_SECONDS)
        if not isinstance(started, channel.Started):
            raise GraderFault("the grading server did not start the notebook's process")
        return started.pid

    def judge(self, record: bytes | None) -> channel.Judged:
        """Judge a record of answers in a clean child of the server."""
        self.wait_ready()
        self.conn.send(channel.JudgeRequest(record))
        judged = self.receive(3600)
        if not isinstance(judged, channel.Judged):
            raise GraderFault("the grading server stopped while judging")
        return judged


class ServerSpawner(_ServerHandle):
    """The parent's handle on the spawner: a server that imports the lab's libraries and
    prepares the judges' shared results once, then forks a fork server for each slot that asks
    (``spawn``), instead of each slot's server doing all of it at once on the same cores.
    It never runs a notebook or a judge. Made, it is starting; ``wait_ready`` waits for it.
    """

    def __init__(self, *, tests: dict[str, str], files: dict[str, bytes]):
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "labkit.batch.server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env={**os.environ, **ONE_THREAD},
                start_new_session=True,  # Ctrl-C in the terminal is the parent's alone
            )
        finally:
            theirs.close()
        super().__init__(process, Connection(ours.detach()))
        self._lock = threading.Lock()  # the slots' threads ask one at a time
        try:
            self.conn.send(channel.Setup(tests=tests, files=files))
        except OSError:
            pass  # it died at once: wait_ready says so

    def spawn(self) -> ForkServer:
        """A new fork server, forked from the spawner (``GraderFault`` if it cannot be)."""
        with self._lock:
            self.wait_ready()
            try:
                self.conn.send(channel.SpawnRequest())
                spawned = self.receive(SERVER_START_SECONDS)
                if not isinstance(spawned, channel.Spawned):
                    raise GraderFault(f"the grading server did not start ({spawned!r})")
                process = _SpawnedProcess(spawned.pid)
                return ForkServer(process, Connection(recv_handle(self.conn)))
            except (EOFError, OSError) as exc:  # OSError: a kernel without pidfds (< 5.3)
                raise GraderFault(f"the grading server did not start ({exc})") from None


class _SpawnedProcess:
    """A server the spawner forked: not this process's child, so it is watched through a pidfd
    (readable once the process has exited) and killed through it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None  # -1 once gone: its status is the spawner's
        self._fd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        """None while it runs."""
        if self.returncode is None and select.select([self._fd], [], [], 0)[0]:
            self._gone()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait until it has exited (``subprocess.TimeoutExpired`` after ``timeout``)."""
        if self.returncode is None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"grading server {self.pid}", timeout)
            self._gone()
        return self.returncode

    def kill(self) -> None:
        """Kill it, if it still runs."""
        if self.returncode is None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._fd, signal.SIGKILL)

    def _gone(self) -> None:
        self.returncode = -1
        os.close(self._fd)


class ForkSession:
    """One child of the server running a notebook, driven cell by cell over its two pipes."""

    def __init__(
        self, server: ForkServer, workspace: Workspace, *, memory_mb: int, stopping: threading.Event
    ):
        self.server = server
        self.stopping = stopping
        self.ended: channel.Ended | None = None
        self.reader = channel.ReportReader()
        command_read, self.command_fd = os.pipe()
        self.report_fd, report_write = os.pipe()
        log_fd = os.open(
            workspace.private_file("grading.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        request = channel.RunRequest(
            workspace=str(workspace.path),
            env=workspace.env(),
            uid=workspace.user.uid,
            memory_mb=memory_mb,
        )
        try:
            self.pid = server.run(request, [command_read, report_write, log_fd])
        finally:
            for fd in (command_read, report_write, log_fd):
                os.close(fd)
        os.set_blocking(self.command_fd, False)
        self.confinement = self._hello()

    def _hello(self) -> isolation.Confinement:
        deadline = time.monotonic() + HELLO_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.report_fd, self.server.conn], [], [], POLL_SECONDS)
            if self.report_fd in ready:
                data = os.read(self.report_fd, 4096)
                reports = self.reader.feed(data) if data else []
                if reports and reports[0][0] is channel.Report.HELLO and len(reports) == 1:
                    return channel.parse_hello(reports[0][1])
                break
            if self.server.conn in ready:
                break
        self.close()
        raise GraderFault("the notebook's process could not be started in its sandbox")

    def _kill(self) -> None:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(self.pid, signal.SIGKILL)

    def _wait_ended(self, timeout: float) -> bool:
        if self.ended is None:
            message = self.server.receive(timeout)
            if isinstance(message, channel.Ended):
                self.ended = message
        return self.ended is not None

    def _send(self, data: bytes, deadline: float) -> bool:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _, writable, _ = select.select([], [self.command_fd], [], min(remaining, POLL_SECONDS))
            if writable:
                try:
                    view = view[os.write(self.command_fd, view) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    return False
        return True

    def run_cell(self, index: int, source: str, *, timeout: float) -> CellResult:
        """Send cell ``index`` and wait for the child's report, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if self.ended is not None:
            return CellResult(Stop.DIED, self.ended.exit_status)
        if not self._send(channel.encode_command(index, source), deadline):
            return self._after_silence(deadline)
        while True:
            if self.stopping.is_set():
                self._kill()
                return CellResult(Stop.INTERRUPTED)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._after_silence(deadline)
            wait = min(remaining, POLL_SECONDS)
            ready, _, _ = select.select([self.report_fd, self.server.conn], [], [], wait)
            if self.report_fd in ready:
                data = os.read(self.report_fd, 4096)
                if not data:  # the pipe was closed: by the child's death, or by its code
                    if self._wait_ended(2.0):
                        return CellResult(Stop.DIED, self.ended.exit_status)
                    self._kill()
                    return CellResult(Stop.BROKE_CHANNEL)
                try:
                    if channel.expect_done(self.reader.feed(data), index):
                        if self.reader.pending:
                            raise channel.ChannelError("bytes after a report")
                        return CellResult(Stop.DONE)
                except channel.ChannelError:
                    self._kill()
                    return CellResult(Stop.BROKE_CHANNEL)
            elif self.server.conn in ready:
                if self._wait_ended(0):
                    return CellResult(Stop.DIED, self.ended.exit_status)
                if not self.server.alive():
                    self._kill()
                    return CellResult(Stop.DIED, None)

    def _after_silence(self, deadline: float) -> CellResult:
        """The limit passed: kill the child, unless it had died already."""
        if self._wait_ended(0):
            return CellResult(Stop.DIED, self.ended.exit_status)
        self._kill()
        return CellResult(Stop.TIMED_OUT)

    def close(self) -> int:
        """End the child (asked, then killed), wait for the server's word; return leftovers."""
        if self.ended is None:
            if not self._send(channel.encode_end(), time.monotonic() + 1.0) or not (
                self._wait_ended(END_SECONDS)
            ):
                self._kill()
                self._wait_ended(END_SECONDS)
        for fd in (self.command_fd, self.report_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.command_fd = self.report_fd = -1
        return self.ended.leftovers if self.ended else 0


class ForkRunner:
    """The pipeline's runner for one slot of ``labkit grade``: sessions are children of its
    fork server (restarted if it died)."""

    def __init__(self, *, server_factory, memory_mb: int, stopping: threading.Event):
        self._server_factory = server_factory
        self.server: ForkServer | None = None
        self.memory_mb = memory_mb
        self.stopping = stopping
        self.confinement: isolation.Confinement | None = None
        self.server_seconds = 0.0  # spent starting servers (the imports they pay once)

    def ensure_server(self) -> ForkServer:
        """The slot's server, started (again) if needed, and ready."""
        if self.server is None or not self.server.alive():
            if self.server is not None:
                self.server.close()
            self.server = self._server_factory()
        if self.server.start_seconds is None:
            self.server.wait_ready()
            self.server_seconds += self.server.start_seconds
        return self.server

    def start(self, workspace: Workspace) -> ForkSession:
        """A fresh child of the server, confined, in the workspace."""
        session = ForkSession(
            self.ensure_server(), workspace, memory_mb=self.memory_mb, stopping=self.stopping
        )
        self.confinement = session.confinement
        return session

    def sandbox_notes(self) -> list[str]:
        """What the last child could not be cut off from (the network, the grader's files)."""
        return [] if self.confinement is None else self.confinement.notes()

    def ask_to_quit(self) -> None:
        """Tell the slot's server to stop, without waiting (``close`` waits)."""
        if self.server is not None:
            self.server.ask_to_quit()

    def close(self) -> None:
        """Stop the slot's server."""
        if self.server is not None:
            self.server.close()
            self.server = None
