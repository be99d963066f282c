"""Where and as whom student code runs: its folder, its user, and what it cannot reach."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from labkit.grader import isolation
from labkit.grader.isolation import SharedFiles, StudentUser, Workspace, student_user

FILES = {
    "data/mnist.npz": b"digits",
    "hidden_photos/photo_000.jpg": b"jpeg",
    "hidden_photos/labels.csv": b"photo,label\nphoto_000.jpg,7\n",
}


def _uncrossable_folder() -> str | None:
    """The first folder above this Python (the venv's, and the one it was made from) that other
    users cannot cross, or None: student code, run as another user, must be able to run it."""
    for path in (sys.executable, os.path.realpath(sys.executable)):
        folder = os.path.dirname(os.path.abspath(path))
        while folder != "/":
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return folder
            folder = os.path.dirname(folder)
    return None


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
crossable = pytest.mark.skipif(
    os.geteuid() == 0 and _uncrossable_folder() is not None,
    reason=f"as root, other users must be able to cross {_uncrossable_folder()} to run this "
    "Python (chmod o+x it, as .ci/run does)",
)


def _workspace(user: StudentUser, shared: SharedFiles | None = None) -> Workspace:
    return Workspace(
        files=FILES,
        judge_only=("hidden_photos/labels.csv",),
        notebook_name="lab.ipynb",
        notebook=b"{}",
        user=user,
        shared=shared,
    )


def _run_as(user: StudentUser, workspace: Workspace, args: list[str]):
    """Run ``args`` in the workspace as the student's user, with its environment."""
    return subprocess.run(
        args,
        cwd=workspace.path,
        user=user.uid,
        group=user.uid,
        extra_groups=[],
        env=workspace.env(),
        capture_output=True,
        text=True,
        check=True,
    )


def test_workspace_holds_the_notebook_and_no_judge_only_file():
    """Does the notebook's folder get the grading files it may read, and never a judge-only one?"""
    with _workspace(StudentUser(None, "test")) as workspace:
        found = sorted(
            p.relative_to(workspace.path).as_posix()
            for p in workspace.path.rglob("*")
            if p.is_file()
        )
        outer = workspace.outer
        assert found == ["data/mnist.npz", "hidden_photos/photo_000.jpg", "lab.ipynb"]
        assert workspace.env()["HOME"].startswith(str(workspace.path))
        assert "TAMPER_MARKER" not in workspace.env()
    assert not outer.exists()


def test_without_a_user_of_its_own_a_workspace_copies_the_shared_files():
    """Where the notebook runs as the grader's user (who could change a shared file's mode), are
    the grading files its own copies, never links to the batch's shared ones?"""
    shared = SharedFiles(FILES, judge_only=("hidden_photos/labels.csv",))
    try:
        with _workspace(StudentUser(None, "test"), shared) as workspace:
            copy = workspace.path / "data" / "mnist.npz"
            assert copy.read_bytes() == b"digits"
            assert not copy.samefile(shared.paths["data/mnist.npz"])
        assert sorted(shared.paths) == ["data/mnist.npz", "hidden_photos/photo_000.jpg"]
    finally:
        shared.remove()
    assert not shared.folder.exists()


def test_not_root_means_the_graders_own_user_and_a_note(monkeypatch):
    """Without root, does student code run as the grader's user, and is the TA told why?"""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    user = student_user(62000)
    assert user.uid is None and "does not run as root" in user.note()


@as_root
@crossable
def test_each_grader_gets_a_user_of_its_own():
    """Do two claims in one process (two slots of a batch) get two different user ids?"""
    first, second = student_user(62000), student_user(62000)
    assert first.uid is not None and second.uid is not None, first.why_not
    assert first.uid != second.uid and first.uid >= 62000


@as_root
@crossable
def test_a_python_the_student_cannot_reach_is_named_with_the_fix(tmp_path, monkeypatch):
    """A Python in a folder only root may enter: is the student's user refused, naming the
    interpreter and what to change? This test's own (crossable) Python is accepted."""
    monkeypatch.setattr(isolation, "_PROBED", {})
    assert isolation._probe(62000) == ""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    os.chmod(tmp_path, 0o700)
    python = str(venv / "bin" / "python")
    monkeypatch.setattr(isolation.sys, "executable", python)
    problem = isolation._probe(62000)
    assert problem.startswith(f"user 62000 cannot run {python}: ")
    assert "Permission denied" in problem and "chmod o+x" in problem


@as_root
@crossable
def test_student_user_cannot_reach_the_grader(tmp_path):
    """As the student's user: its folder is writable, but a grader's file is unreadable and the
    grader's process cannot be signalled. As the grader's user, both work (the control)."""
    user = student_user(62000)
    assert user.uid is not None, user.why_not
    secret = tmp_path / "hidden_test.py"
    secret.write_text("def test_hidden(): ...\n")
    os.chmod(tmp_path, 0o711)
    secret.chmod(0o600)
    probe = (
        "import os, sys\n"
        "open('written.txt', 'w').write('ok')\n"
        "try:\n    open(sys.argv[1]).read(); print('read')\n"
        "except OSError: print('unreadable')\n"
        "try:\n    os.kill(int(sys.argv[2]), 0); print('signalled')\n"
        "except OSError: print('unsignalled')\n"
    )
    with _workspace(user) as workspace:
        args = [sys.executable, "-c", probe, str(secret), str(os.getpid())]
        done = _run_as(user, workspace, args)
        assert done.stdout.split() == ["unreadable", "unsignalled"]
        assert (workspace.path / "written.txt").read_text() == "ok"
        control = subprocess.run(args, cwd=workspace.path, capture_output=True, text=True)
        assert control.stdout.split() == ["read", "signalled"]


@as_root
@crossable
def test_linked_grading_files_are_read_only_to_every_student(tmp_path):
    """Two workspaces of a batch link the same grading files: can the first notebook's user read
    them and delete its links, but neither write, chmod nor chown them, so that the second
    notebook reads the bytes the zip holds? Its folders and notebook stay its own."""
    first, second = student_user(62000), student_user(62000)
    assert first.uid is not None and second.uid is not None, first.why_not
    shared = SharedFiles(FILES, judge_only=("hidden_photos/labels.csv",))
    probe = (
        "import os\n"
        "print(open('data/mnist.npz', 'rb').read().decode())\n"
        "for attempt in (lambda: open('data/mnist.npz', 'r+b'),\n"
        "                lambda: os.chmod('data/mnist.npz', 0o666),\n"
        "                lambda: os.chown('data/mnist.npz', os.getuid(), os.getgid())):\n"
        "    try:\n        attempt(); print('changed')\n"
        "    except PermissionError:\n        print('refused')\n"
        "os.remove('hidden_photos/photo_000.jpg'); print('removed')\n"
        "open('data/mine.npz', 'wb').write(b'mine'); print('written')\n"
    )
    try:
        with _workspace(first, shared) as one, _workspace(second, shared) as two:
            linked = one.path / "data" / "mnist.npz"
            assert linked.samefile(shared.paths["data/mnist.npz"])
            assert linked.samefile(two.path / "data" / "mnist.npz")
            info = linked.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o444)
            assert (one.path / "data").stat().st_uid == first.uid
            assert (one.path / "lab.ipynb").stat().st_uid == first.uid
            done = _run_as(first, one, [sys.executable, "-c", probe])
            assert done.stdout.split() == [
                "digits", "refused", "refused", "refused", "removed", "written",
            ]  # fmt: skip
            assert (two.path / "data" / "mnist.npz").read_bytes() == b"digits"
            assert (two.path / "hidden_photos" / "photo_000.jpg").read_bytes() == b"jpeg"
            assert stat.S_IMODE(linked.stat().st_mode) == 0o444
    finally:
        shared.remove()
