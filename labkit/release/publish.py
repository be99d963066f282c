"""Publishing a release: build, verify, and swap it in for the committed one, all or nothing.

``build_release`` replaces the committed release folders only after every gate passed;
``check_release`` rebuilds in a temporary folder and names the committed files that differ (the
tests run it, so a release that is not what the source produces fails CI).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labkit.data import REPO_ROOT, sha256_of
from labkit.release.build import build_tree
from labkit.release.gates import verify_release
from labkit.release.source import (
    RELEASE_DIRS,
    SOURCE_NOTEBOOK,
    ZIP_NAME,
    SourceQuestion,
    check_hidden_tests,
    read_source,
)


@dataclass
class ReleaseSummary:
    """What a build produced: its questions, timing and the zip's hash."""

    questions: list[SourceQuestion]
    seconds: float
    zip_sha256: str

    def render(self) -> str:
        """Return the summary as the few lines printed at the end of a release."""
        auto = [q for q in self.questions if not q.manual]
        manual = [q for q in self.questions if q.manual]
        lines = [f"{'question':<18}{'points':>7}  kind            hidden  public"]
        for q in self.questions:
            kind = ("manual" if q.manual else "auto") + (" (bonus)" if q.bonus else "")
            lines.append(
                f"{q.name:<18}{q.points:>7g}  {kind:<14}"
                f"{len(q.hidden_tests):>7}{len(q.public_tests):>8}"
            )
        lines.append(
            f"{len(self.questions)} questions: {sum(q.points for q in auto):g} points autograded, "
            f"{sum(q.points for q in manual):g} graded by hand; a maximum of "
            f"{sum(q.points for q in self.questions if not q.bonus):g} plus "
            f"{sum(q.points for q in self.questions if q.bonus):g} bonus; "
            f"{sum(len(q.hidden_tests) for q in auto)} hidden and "
            f"{sum(len(q.public_tests) for q in auto)} public tests"
        )
        lines.append(
            f"built and verified in {self.seconds:.0f} s; {ZIP_NAME} sha256 {self.zip_sha256}"
        )
        return "\n".join(lines)


def build_release(*, root: Path = REPO_ROOT, verify: bool = True) -> ReleaseSummary:
    """Build, verify and publish the release of ``root/assignment`` into ``root``.

    Args:
        root: the repository root holding ``assignment/``.
        verify: run the verification gates (only tests of the build itself turn this off).

    The committed release folders are replaced only after every gate passed; on any error they
    are left exactly as they were.
    """
    started = time.monotonic()
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="labkit-release-") as tmp:
        release, questions = _build_verified(root, Path(tmp), verify=verify)
        _swap_in(release, root)
    return ReleaseSummary(
        questions, time.monotonic() - started, sha256_of(root / "autograder" / ZIP_NAME)
    )


def check_release(*, root: Path = REPO_ROOT) -> list[str]:
    """Rebuild in a temporary folder; return the committed release files that differ from it."""
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as tmp:
        release, _ = _build_verified(root, Path(tmp), verify=True)
        return compare_trees(release, root)


def _build_verified(
    root: Path, work_dir: Path, *, verify: bool
) -> tuple[Path, list[SourceQuestion]]:
    source_dir = root / SOURCE_NOTEBOOK.parent
    questions = read_source(source_dir)
    check_hidden_tests(questions)
    build = build_tree(source_dir, work_dir, questions=questions)
    if verify:
        verify_release(build)
    return build.release, questions


def compare_trees(built: Path, root: Path) -> list[str]:
    """Return the release files (relative to ``root``) that differ, are missing or are extra."""
    differences = []
    for name in RELEASE_DIRS:
        new = {p.relative_to(built): p for p in (built / name).rglob("*") if p.is_file()}
        old_dir = root / name
        old = (
            {p.relative_to(root): p for p in old_dir.rglob("*") if p.is_file()}
            if old_dir.exists()
            else {}
        )
        for rel in sorted(set(new) | set(old)):
            if rel not in old:
                differences.append(f"{rel} (missing from the committed release)")
            elif rel not in new:
                differences.append(f"{rel} (not produced by the source)")
            elif new[rel].read_bytes() != old[rel].read_bytes():
                differences.append(f"{rel} (differs from what the source produces)")
    return differences


def _swap_in(release: Path, root: Path) -> None:
    """Replace root's release folders with the new ones, all or nothing."""
    staging = Path(tempfile.mkdtemp(prefix=".release-staging-", dir=root))
    try:
        for name in RELEASE_DIRS:
            shutil.copytree(release / name, staging / "new" / name)
        (staging / "old").mkdir()
        started: list[str] = []
        try:
            for name in RELEASE_DIRS:
                if (root / name).exists():
                    os.replace(root / name, staging / "old" / name)
                started.append(name)
                os.replace(staging / "new" / name, root / name)
        except OSError:
            for name in reversed(started):
                if (root / name).exists() and not (staging / "new" / name).exists():
                    os.replace(root / name, staging / "new" / name)
                if (staging / "old" / name).exists():
                    os.replace(staging / "old" / name, root / name)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
