"""What of the grader's filesystem student code sees: its own folder, the Python it runs on, and
nothing else.

Where the grader is root, or may make user namespaces, the student's process gets a mount
namespace of its own, built as bubblewrap and nsjail build one: a fresh root in memory holding

- its workspace, writable, at the same path as outside;
- read-only: the system's runtime folders (``/usr``, ``/etc``, ``/bin``, ``/lib``...), this
  Python's installation and environment (``sys.prefix``, ``sys.base_prefix``, the
  ``site-packages`` folders on ``sys.path``) and the ``labkit`` package's own folder (an editable
  install's source, never the checkout around it);
- ``/dev`` with a private ``/dev/shm``, ``/proc``, ``/sys`` (read-only);
- an empty private ``/tmp`` (it holds only the way down to the workspace when that lives there).

Everything else does not exist inside: the TA's checkout (the hidden tests in ``assignment/``,
``autograder/*.zip``), the other submissions of the batch and their folders, home folders. The
old root is detached (``pivot_root``), so there is no way back to it.

Where it cannot be done (no root and no user namespaces, or a mount refused), the process runs
with the grader's view of the filesystem and the TA is told (``note``), as for the network.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from enum import IntEnum
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2
# statvfs(3) flags, and the mount flags a bind mount's remount must keep (a user namespace may
# not drop them)
_KEPT_FLAGS = (
    (os.ST_RDONLY, MS_RDONLY),
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # syscall numbers
SYSTEM_FOLDERS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
PROBE_SECONDS = 10.0
SANDBOX_ROOT = ".sandbox-root"  # beside the workspace: where the new root is built
TMP_SIZE = "size=1g,mode=1777"
LABKIT_FOLDER = str(Path(__file__).resolve().parent.parent)  # the package, not its checkout


class Filesystem(IntEnum):
    """What of the grader's filesystem the student's process sees (what it reports, a number)."""

    OWN_FOLDER = 0  # its workspace and the runtime, read-only; nothing else
    GRADERS_VIEW = 1  # everything the grader's user may read: not confined


class ConfinementError(OSError):
    """A step of building the student's filesystem failed (``errno`` says why)."""


def runtime_folders() -> list[str]:
    """The folders the student's Python needs, read-only: the system's, this Python's and its
    environment's, ``site-packages`` folders on ``sys.path``, and labkit's package folder."""
    python = {
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        LABKIT_FOLDER,
    }
    python |= {
        p for p in sys.path if p and os.path.basename(p) in ("site-packages", "dist-packages")
    }
    folders = {os.path.realpath(p) for p in python if os.path.isdir(p)}
    folders |= {p for p in SYSTEM_FOLDERS if os.path.lexists(p)}
    return _outermost(folders)


def _outermost(folders: set[str]) -> list[str]:
    """``folders`` without those inside another of them, sorted."""
    kept: list[str] = []
    for folder in sorted(folders):
        if not any(folder == k or folder.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(folder)
    return kept


def confine_filesystem(*, workspace: str, new_user_namespace: bool) -> None:
    """Give this process (single-threaded, about to run student code) a root holding only its
    ``workspace`` (writable), the runtime folders (read-only), devices and a private ``/tmp``.

    Call it before dropping privileges. ``new_user_namespace``: the process is not root, so it
    first enters a user namespace of its own (mapping its own user and group) to be allowed to
    mount. Raises ConfinementError when a step fails; the process must then not run student code
    as if confined.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNS | (CLONE_NEWUSER if new_user_namespace else 0)
    _check(libc.unshare(flags), "unshare")
    if new_user_namespace:
        map_own_user(uid, gid)
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    workspace = os.path.realpath(workspace)
    root = os.path.join(os.path.dirname(workspace), SANDBOX_ROOT)
    if not os.path.isdir(root):  # a Workspace made it (its user may not write beside it)
        os.mkdir(root, 0o700)
    _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    # /tmp first: a runtime folder or the workspace may live below it (a clone in a temp folder)
    os.makedirs(root + "/tmp")
    _mount(libc, "tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, TMP_SIZE)
    for folder in runtime_folders():
        _bind(libc, folder, root, read_only=True)
    _bind(libc, "/dev", root, read_only=False)
    if os.path.isdir("/dev/shm"):
        _mount(libc, "tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _bind(libc, "/proc", root, read_only=False)
    if os.path.isdir("/sys"):
        _bind(libc, "/sys", root, read_only=True)
    _bind(libc, workspace, root, read_only=False)
    _pivot_root(libc, root)
    # the new root's own folders: read-only too (the private /tmp and the workspace stay writable)
    with contextlib.suppress(ConfinementError):
        _mount(libc, None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(workspace)


def probe() -> tuple[Filesystem, int]:
    """Whether a child of this process can be confined here: tried once, in a throwaway child
    and folder, and remembered; ``(Filesystem, errno)``."""
    global _PROBED
    if _PROBED is None:
        _PROBED = _try_in_child()
    return _PROBED


_PROBED: tuple[Filesystem, int] | None = None


def _try_in_child() -> tuple[Filesystem, int]:
    folder = tempfile.mkdtemp(prefix="labkit-probe-")
    try:
        workspace = os.path.join(folder, "student")
        os.mkdir(workspace)
        pid = os.fork()
        if pid == 0:  # the child: try, report by exit code, never return
            code = 0
            try:
                confine_filesystem(workspace=workspace, new_user_namespace=os.geteuid() != 0)
            except OSError as exc:
                code = min(max(exc.errno or 1, 1), 255)
            except BaseException:
                code = 255
            os._exit(code)
        deadline = time.monotonic() + PROBE_SECONDS
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:  # stuck (a lock another thread held at the fork)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return Filesystem.GRADERS_VIEW, errno.ETIMEDOUT
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(done[1])
        return (Filesystem.OWN_FOLDER, 0) if code == 0 else (Filesystem.GRADERS_VIEW, max(code, 0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise ConfinementError(number, f"{what}: {os.strerror(number)}")


def _mount(libc, source, target, fstype, flags: int, data: str | None = None) -> None:
    encoded = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    result = libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3])
    _check(result, f"mount {target}")


def _bind(libc, path: str, root: str, *, read_only: bool) -> None:
    """Show ``path`` at the same place under ``root`` (a link stays a link, as ``/bin`` is)."""
    target = root + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        with open(target, "a"):
            pass
    _mount(libc, path, target, None, MS_BIND | MS_REC)
    kept = MS_NOSUID | (MS_RDONLY if read_only else 0)
    flags = os.statvfs(target).f_flag
    kept |= sum(mount_flag for st_flag, mount_flag in _KEPT_FLAGS if flags & st_flag)
    _mount(libc, None, target, None, MS_REMOUNT | MS_BIND | kept)


def map_own_user(uid: int, gid: int) -> None:
    """Inside a new user namespace: be the same user and group as outside (one of each)."""
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        raise ConfinementError(exc.errno or 0, f"user namespace map: {exc.strerror}") from exc


def _pivot_root(libc, root: str) -> None:
    """Make ``root`` this namespace's ``/`` and detach the old one for good."""
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise ConfinementError(errno.ENOSYS, f"pivot_root: unknown on {platform.machine()}")
    old = os.path.join(root, ".old-root")
    os.mkdir(old, 0o700)
    _check(libc.syscall(number, root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")


def note(filesystem: Filesystem, errno: int) -> str:
    """A sentence for the TA when student code saw the grader's filesystem, else ''."""
    if filesystem is Filesystem.OWN_FOLDER:
        return ""
    why = os.strerror(errno) if errno else "not attempted"
    return f"filesystem not confined: student code could read what the grader's user can ({why})"
