"""What student code sees of the grader's filesystem: its folder and the runtime, nothing else.

Each confinement runs in a forked child (as ``labkit grade``'s fork server does), which reports
what it could see as JSON on a pipe; the grader's files it must not see are made here, beside
the checkout's own hidden tests and zips.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from pathlib import Path

import pytest

from labkit.grader import filesystem, isolation
from labkit.grader.filesystem import ConfinementError, Filesystem
from labkit.grader.isolation import Confinement, Network, Workspace, student_user
from labkit.grader.kernel import KernelRunner

ROOT = Path(__file__).resolve().parent.parent
can_confine = pytest.mark.skipif(
    filesystem.probe()[0] is not Filesystem.OWN_FOLDER,
    reason="this machine allows no mount namespace (neither root nor user namespaces)",
)
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
PR_SET_DUMPABLE = 4


@pytest.fixture(scope="module")
def student():
    """A student's user for this module's tests (checking it can run this Python takes a
    second, so once)."""
    user = student_user(62100)
    assert user.uid is not None, user.why_not
    return user


def _in_child(run) -> dict:
    """Fork; in the child, run ``run()`` and send its dict back as JSON; return it (or the
    child's error, never raised in the forked test process)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        data = '{"error": "unknown"}'
        try:
            data = json.dumps(run())
        except BaseException as exc:
            data = json.dumps({"error": repr(exc)})
        finally:
            os.write(write_fd, data.encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def _in_confined_child(workspace: Workspace, check, *, uid: int | None = None) -> dict:
    """In a forked child: confine to ``workspace`` (then become ``uid``) and run ``check()``."""

    def run() -> dict:
        confinement = isolation.confine(workspace=str(workspace.path), network=False)
        if uid is not None:
            isolation.drop_privileges(uid)
        return {"filesystem": confinement.filesystem.name, **check()}

    return _in_child(run)


def _visible(path: Path | str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _workspace(user=None) -> Workspace:
    return Workspace(
        files={"data/digits.npz": b"digits"},
        notebook_name="lab.ipynb",
        notebook=b"{}",
        user=user or isolation.StudentUser(None, "test"),
    )


def test_runtime_folders_hold_the_python_and_labkit_never_the_checkout():
    """Are this Python's environment and labkit's package folder read-only runtime folders,
    and the checkout around them (hidden tests, autograder zips) not one?"""
    folders = filesystem.runtime_folders()
    assert os.path.realpath(sys.prefix) in folders or any(
        os.path.realpath(sys.prefix).startswith(f + "/") for f in folders
    )
    assert str(ROOT / "labkit") in folders or any(
        str(ROOT / "labkit").startswith(f + "/") for f in folders
    )
    for kept in folders:
        for hidden in (ROOT, ROOT / "assignment", ROOT / "autograder", ROOT / "tests"):
            assert not str(hidden).startswith(kept + "/") and str(hidden) != kept, kept


def test_outermost_drops_folders_inside_others():
    """Is a folder inside another kept once (as the outer one), siblings with a common prefix
    both kept?"""
    found = filesystem._outermost({"/usr", "/usr/lib", "/opt/a", "/opt/ab", "/opt/a/b"})
    assert found == ["/opt/a", "/opt/ab", "/usr"]


@can_confine
def test_confined_child_sees_its_folder_and_the_runtime_only(tmp_path):
    """In the child: its folder writable; an empty private /tmp but for the way down to it;
    the checkout's hidden tests and zips, a sibling submission and the grader's temp files
    invisible; the runtime read-only; numpy still imports and runs."""
    sibling = tmp_path / "inbox" / "classmate.ipynb"
    sibling.parent.mkdir()
    sibling.write_text("def softmax(z): ...")
    with _workspace() as workspace:

        def check() -> dict:
            import numpy

            Path("written.txt").write_text("ok")
            try:
                Path(sys.prefix, "planted.txt").write_text("x")
                prefix_writable = True
            except OSError:
                prefix_writable = False
            return {
                "cwd": os.getcwd(),
                "tmp": sorted(os.listdir("/tmp")),
                "invisible": [
                    str(p)
                    for p in (
                        ROOT / "assignment",
                        ROOT / "autograder",
                        ROOT / "tests",
                        sibling,
                        tmp_path,
                    )
                    if not _visible(p)
                ],
                "labkit": _visible(ROOT / "labkit" / "grader" / "filesystem.py"),
                "prefix_writable": prefix_writable,
                "numpy": float(numpy.arange(4).sum()),
            }

        seen = _in_confined_child(workspace, check)
        assert "error" not in seen, seen
        assert seen["filesystem"] == "OWN_FOLDER"
        assert seen["cwd"] == str(workspace.path)
        assert (workspace.path / "written.txt").read_text() == "ok"
        # /tmp holds nothing but the ways down to the workspace and to runtime folders kept
        # there (a checkout cloned into a temporary folder has its venv below /tmp)
        ways = {
            Path(p).relative_to("/tmp").parts[0]
            for p in [str(workspace.outer), *filesystem.runtime_folders()]
            if p.startswith("/tmp/")
        }
        assert seen["tmp"] == sorted(ways)
        assert len(seen["invisible"]) == 5, seen["invisible"]
        assert seen["labkit"] and not seen["prefix_writable"]
        assert seen["numpy"] == 6.0
    assert not Path(sys.prefix, "planted.txt").exists()


@can_confine
@as_root
def test_confined_child_as_the_students_user_cannot_write_the_new_root(student):
    """As the student's user after confinement: its folder and /tmp writable, the new root's
    own folders not (nothing to plant for a later process)."""
    user = student
    with _workspace(user) as workspace:

        def check() -> dict:
            writable = {}
            for folder in (".", "/tmp", "/", "/etc", "/usr"):
                try:
                    Path(folder, f"planted-{os.getpid()}").write_text("x")
                    writable[folder] = True
                except OSError:
                    writable[folder] = False
            return {"writable": writable, "uid": os.getuid()}

        seen = _in_confined_child(workspace, check, uid=user.uid)
    assert "error" not in seen, seen
    assert seen["uid"] == user.uid
    assert seen["writable"] == {".": True, "/tmp": True, "/": False, "/etc": False, "/usr": False}


@can_confine
@as_root
def test_a_non_root_grader_confines_through_a_user_namespace(student):
    """A grader that is not root (the child drops to another user first) still confines its
    child, through a user namespace of its own, and stays that user inside."""
    user = student
    with _workspace(user) as workspace:

        def run() -> dict:
            isolation.drop_privileges(user.uid)
            # as a grader that never was root: its own /proc files (uid_map) stay its own
            ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            confinement = isolation.confine(workspace=str(workspace.path), network=True)
            return {
                "confinement": [confinement.filesystem.name, confinement.network.name],
                "uid": os.getuid(),
                "checkout": _visible(ROOT / "assignment"),
            }

        seen = _in_child(run)
    assert seen == {
        "confinement": ["OWN_FOLDER", "USER_NAMESPACE"],
        "uid": user.uid,
        "checkout": False,
    }


def test_a_confinement_that_fails_is_reported_not_raised(monkeypatch):
    """When a mount is refused: the process goes on with the grader's view, and the TA reads
    why (as for the network)."""

    def refused(**_):
        raise ConfinementError(errno.EPERM, "mount: Operation not permitted")

    monkeypatch.setattr(filesystem, "confine_filesystem", refused)
    confinement = isolation.confine(workspace="/nonexistent", network=False)
    assert confinement == Confinement(Filesystem.GRADERS_VIEW, errno.EPERM, None, 0)
    [note] = confinement.notes()
    assert "filesystem not confined" in note and os.strerror(errno.EPERM) in note


def test_notes_name_each_thing_not_cut_off():
    """One note per thing not cut off; none when all was."""
    assert Confinement(Filesystem.OWN_FOLDER, 0, Network.NAMESPACE, 0).notes() == []
    assert Confinement(Filesystem.OWN_FOLDER).notes() == []
    notes = Confinement(
        Filesystem.GRADERS_VIEW, errno.ENOSYS, Network.NOT_ISOLATED, errno.EPERM
    ).notes()
    assert [n.split(" ")[0] for n in notes] == ["filesystem", "network"]


def test_kernel_runner_says_when_its_kernels_see_the_graders_files(monkeypatch):
    """The zip path's runner (Gradescope's container may forbid mounts) gives the TA the same
    note when the probe failed, none when it worked."""
    monkeypatch.setattr(filesystem, "_PROBED", (Filesystem.GRADERS_VIEW, errno.EPERM))
    [note] = KernelRunner(memory_mb=100).sandbox_notes()
    assert "filesystem not confined" in note
    monkeypatch.setattr(filesystem, "_PROBED", (Filesystem.OWN_FOLDER, 0))
    assert KernelRunner(memory_mb=100).sandbox_notes() == []
