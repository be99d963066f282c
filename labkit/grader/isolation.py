"""Where and as whom student code runs: its own user, its own folder, no network.

``confine`` puts a process that is about to run student code in its sandbox: no network (where
asked), and a filesystem holding only its folder and the runtime (``labkit.grader.filesystem``);
it returns what it achieved (``Confinement``), and the TA is told what it could not.

Where the grader runs as root (Gradescope, a container, a TA's ``sudo``), the notebook runs as an
unprivileged user id of its own: it cannot read the grader's files (the hidden tests, the judge's
files), write them, or signal the grader's processes. Its folder (``Workspace``) holds the
notebook and the grading files it may see, never the hidden tests' source nor the judge-only
files. Where the grader is not root, the notebook runs as the grader's user, and the TA is told.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path, PurePosixPath

from labkit.grader import filesystem
from labkit.grader.filesystem import Filesystem

ANSWERS_FILE = ".labkit-answers.json"
HOME_DIR = ".home"
# Passed on to the student's process; anything else of the grader's environment is not.
ENV_KEPT = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
)

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40
_PROBED: dict[tuple[int, str], str] = {}
_CLAIMED: dict[int, int] = {}


class Network(IntEnum):
    """How the student's process was cut off from the network (what it reports, as a number)."""

    NAMESPACE = 0
    USER_NAMESPACE = 1
    NOT_ISOLATED = 2


@dataclass(frozen=True)
class StudentUser:
    """Who student code runs as: ``uid`` (its group id too), or the grader's own user (None)."""

    uid: int | None
    why_not: str = ""

    def note(self) -> str:
        """A sentence for the TA when student code runs as the grader's user, else ''."""
        return f"student code ran as the grader's user ({self.why_not})" if self.uid is None else ""


def student_user(base_uid: int) -> StudentUser:
    """The user student code can run as here: a user id of its own from ``base_uid`` on, where
    the grader is root and that user can run this Python; else the grader's own user, with why.

    The id is held (a lock on a root-only file) for as long as this process lives, so that two
    graders running at once never give their notebooks the same user.
    """
    if os.geteuid() != 0:
        return StudentUser(None, "the grader does not run as root")
    uid = _claim_uid(base_uid)
    if uid is None:
        return StudentUser(None, f"no free user id from {base_uid} on")
    problem = _probe(uid)
    return StudentUser(uid) if not problem else StudentUser(None, problem)


def _claim_uid(base_uid: int, count: int = 1000) -> int | None:
    folder = Path(tempfile.gettempdir(), "labkit-uids")
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink() or folder.stat().st_uid != 0:
        raise OSError(f"{folder} is not root's own folder")
    for uid in range(base_uid, base_uid + count):
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _CLAIMED[uid] = fd  # held until this process ends
        return uid
    return None


PROBED_PACKAGES = ("numpy", "otter", "sklearn", "pandas", "IPython")
_PROBE_SOURCE = """\
import importlib.util, sys
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"ModuleNotFoundError: No module named {name!r}")
    with open(spec.origin, "rb") as f:
        f.read(1)
"""


def _probe(uid: int) -> str:
    """Why user ``uid`` cannot run this interpreter and import the lab's packages ('' if it can).

    Checked once per process: a Python installed under a folder only root may enter (such as
    ``/root``) cannot run as another user. The user's Python finds each package of
    ``PROBED_PACKAGES`` and reads its first file, without importing it (starting the lab's
    libraries would cost a second per slot; reaching them is what permissions decide).
    """
    key = (uid, sys.executable)
    if key not in _PROBED:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE_SOURCE, *PROBED_PACKAGES],
                user=uid,
                group=uid,
                extra_groups=[],
                cwd="/",
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"},
                capture_output=True,
                timeout=120,
            )
            failed = done.returncode != 0
            detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        except (OSError, subprocess.SubprocessError) as exc:
            failed, detail = True, [str(exc)]
        _PROBED[key] = (
            f"user {uid} cannot run {sys.executable}: {detail[0][:200]}; make the Python "
            "installation readable by other users (e.g. chmod o+x on the folders above it)"
            if failed
            else ""
        )
    return _PROBED[key]


def drop_privileges(uid: int) -> None:
    """Become user ``uid`` (group ``uid``, no supplementary groups) for good."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("the user id did not change")


def isolate_network() -> tuple[Network, int]:
    """Move this process into a new, empty network namespace; return how, and errno if not.

    As root a plain network namespace is enough; otherwise an unprivileged user namespace is
    tried. Only the loopback interface exists inside, brought up so local sockets still work.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()  # inside a new user namespace, unmapped until mapped
    for flags, how in (
        (_CLONE_NEWNET, Network.NAMESPACE),
        (_CLONE_NEWUSER | _CLONE_NEWNET, Network.USER_NAMESPACE),
    ):
        if libc.unshare(flags) == 0:
            if how is Network.USER_NAMESPACE:  # be oneself inside (files written stay one's own)
                with contextlib.suppress(filesystem.ConfinementError):
                    filesystem.map_own_user(uid, gid)
            with contextlib.suppress(OSError), socket.socket() as sock:
                fcntl.ioctl(
                    sock, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", _IFF_UP_LOOPBACK_RUNNING)
                )
            return how, 0
    return Network.NOT_ISOLATED, ctypes.get_errno()


def network_note(network: Network, errno: int) -> str:
    """A sentence for the TA when the network could not be cut off, else ''."""
    if network is not Network.NOT_ISOLATED:
        return ""
    return f"network not isolated (unshare: {os.strerror(errno)})"


@dataclass(frozen=True)
class Confinement:
    """What a student's process was cut off from: the network (None: not asked) and the
    grader's filesystem, each with the errno of the step that failed (0 when it worked)."""

    filesystem: Filesystem
    filesystem_errno: int = 0
    network: Network | None = None
    network_errno: int = 0

    def notes(self) -> list[str]:
        """Sentences for the TA about what could not be cut off (none when all was)."""
        found = [filesystem.note(self.filesystem, self.filesystem_errno)]
        if self.network is not None:
            found.append(network_note(self.network, self.network_errno))
        return [n for n in found if n]


def confine(*, workspace: str, network: bool) -> Confinement:
    """Put this process (single-threaded, still the grader's user) in its sandbox before it runs
    student code: a network namespace of its own when ``network``, then a filesystem showing only
    ``workspace`` and the runtime. What cannot be done is reported, never raised."""
    how, net_errno = isolate_network() if network else (None, 0)
    try:
        filesystem.confine_filesystem(
            workspace=workspace,
            new_user_namespace=os.geteuid() != 0 and how is not Network.USER_NAMESPACE,
        )
    except OSError as exc:  # ConfinementError, or a folder it could not make
        return Confinement(Filesystem.GRADERS_VIEW, exc.errno or 0, how, net_errno)
    return Confinement(Filesystem.OWN_FOLDER, 0, how, net_errno)


def enter_kernel_sandbox(*, workspace: str, memory_mb: int, uid: int | None, confined: bool):
    """The zip path's kernel, between fork and exec: its memory cap, its filesystem (when
    ``confined``: ``filesystem.probe`` found it can be done here), then its user."""
    limit_memory(memory_mb)
    if confined:
        filesystem.confine_filesystem(workspace=workspace, new_user_namespace=os.geteuid() != 0)
    if uid is not None:
        drop_privileges(uid)


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space at its current size plus ``megabytes``."""
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    cap = current + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


class SharedFiles:
    """The grading files a notebook may read, written once for many workspaces: root-owned and
    read-only, in a folder only root can enter, so that a workspace links them instead of
    writing them again (3 MB in 125 files: 66 ms written, 4 ms linked).

    A workspace links them only where its notebook runs as a user of its own (the grader is
    root): that user reads a linked file but can neither write it nor change its mode or owner,
    so no notebook can alter what another one reads. It may delete its link, as it may delete
    its copy.
    """

    def __init__(self, files: dict[str, bytes], *, judge_only: tuple[str, ...] = ()):
        self.folder = Path(tempfile.mkdtemp(prefix="labkit-files-"))
        self.paths: dict[str, Path] = {}
        try:
            for relative, data in _readable_files(files, judge_only).items():
                target = self.folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                os.chmod(target, 0o444)
                self.paths[relative] = target
            self.inodes = frozenset((p.stat().st_dev, p.stat().st_ino) for p in self.paths.values())
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the folder (workspaces' links keep their files until they are removed)."""
        shutil.rmtree(self.folder, ignore_errors=True)


class Workspace:
    """A folder for one submission's notebook, owned by the user its code runs as.

    It lives in a root-owned folder that others may cross but not list or change
    (``<tmp>/labkit-*/student``), so the notebook cannot move it or plant links for the grader.
    It holds the notebook and the grading files it may read (linked from ``shared``, a
    ``SharedFiles`` of the same files, where the notebook runs as a user of its own; written
    otherwise); ``ANSWERS_FILE`` is where the recorder writes the answers.
    """

    def __init__(
        self,
        *,
        files: dict[str, bytes],
        judge_only: tuple[str, ...] = (),
        notebook_name: str,
        notebook: bytes,
        user: StudentUser,
        shared: SharedFiles | None = None,
    ):
        self.user = user
        self.outer = Path(tempfile.mkdtemp(prefix="labkit-"))
        try:
            os.chmod(self.outer, 0o711)
            self.path = self.outer / "student"
            sources = shared.paths if shared is not None and user.uid is not None else {}
            for relative, data in _readable_files(files, judge_only).items():
                target = self.path / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if relative not in sources or not _link(sources[relative], target):
                    target.write_bytes(data)
            self.path.mkdir(exist_ok=True)
            (self.outer / filesystem.SANDBOX_ROOT).mkdir(mode=0o700)  # where its root is built
            (self.path / HOME_DIR).mkdir()
            (self.path / PurePosixPath(notebook_name).name).write_bytes(notebook)
            if user.uid is not None:
                keep = shared.inodes if shared is not None else frozenset()
                for folder, dirs, names in os.walk(self.path):
                    for name in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
                        info = os.lstat(name)
                        if (info.st_dev, info.st_ino) not in keep:  # a linked file stays root's
                            os.chown(name, user.uid, user.uid)
            os.chmod(self.path, 0o700)
        except BaseException:
            self.remove()
            raise

    @property
    def answers(self) -> Path:
        """Where the recorder writes the answers (the student's process can write it too)."""
        return self.path / ANSWERS_FILE

    def env(self) -> dict[str, str]:
        """The student's process's environment: the grader's basics and a home of its own."""
        home = str(self.path / HOME_DIR)
        env = {k: os.environ[k] for k in ENV_KEPT if k in os.environ}
        env.update(
            HOME=home,
            USER="student",
            LOGNAME="student",
            MPLBACKEND="Agg",
            MPLCONFIGDIR=os.path.join(home, "matplotlib"),
            IPYTHONDIR=os.path.join(home, "ipython"),
            JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
            JUPYTER_DATA_DIR=os.path.join(home, "data"),
            JUPYTER_CONFIG_DIR=os.path.join(home, "config"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def private_file(self, name: str) -> Path:
        """A path for the grader's own file beside the workspace (root-only where root)."""
        return self.outer / name

    def remove(self) -> None:
        """Delete the workspace and everything the notebook wrote in it."""
        shutil.rmtree(self.outer, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _readable_files(files: dict[str, bytes], judge_only: tuple[str, ...]) -> dict[str, bytes]:
    """The grading files a notebook may read: all but the judge-only ones."""
    hidden = {PurePosixPath(p).as_posix() for p in judge_only}
    return {r: d for r, d in files.items() if PurePosixPath(r).as_posix() not in hidden}


def _link(source: Path, target: Path) -> bool:
    """Link ``target`` to ``source``; False where the filesystem refuses (another device)."""
    try:
        os.link(source, target)
    except OSError:
        return False
    return True
