"""The questions manifest of a graded folder: order, points and bonus flag of every question.

``labkit grade`` copies the autograder zip's ``questions.json`` (``labkit.grader.manifest``, the
format) into the graded folder; everything downstream reads the questions from there. A zip
built before the manifest existed has none: ``fallback_manifest`` then builds one from what such
a zip does carry (its tests' points, by file name, then its written questions, in notebook
order), with no bonus known.
"""

from __future__ import annotations

from pathlib import Path

from labkit.gradebook.written import questions_from_json
from labkit.grader.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    ManifestQuestion,
)

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "ManifestQuestion",
    "checked_manifest",
    "fallback_manifest",
    "read_manifest",
]


def fallback_manifest(
    autograded: dict[str, float], written: dict[str, float], *, assignment: str = ""
) -> Manifest:
    """A manifest for a zip or folder without ``questions.json``: the autograded questions as
    given, then the written ones; none of them a bonus."""
    questions = [ManifestQuestion(name, float(p), "autograded") for name, p in autograded.items()]
    questions += [
        ManifestQuestion(name, float(p), "written")
        for name, p in written.items()
        if name not in autograded
    ]
    return Manifest(assignment=assignment, questions=tuple(questions))


def checked_manifest(
    text: bytes, autograded: dict[str, float], written: dict[str, float]
) -> Manifest:
    """An autograder zip's manifest (``text``; a fallback if empty), checked against the points
    of its tests (``autograded``); raise ManifestError naming what disagrees."""
    if not text:
        return fallback_manifest(autograded, written)
    manifest = Manifest.from_json(text)
    listed = {q.name: q.points for q in manifest.autograded()}
    if set(listed) != set(autograded):
        raise ManifestError(
            f"lists the autograded questions {sorted(listed)}, but the zip's tests are "
            f"{sorted(autograded)}"
        )
    wrong = [
        f"{q}: {listed[q]:g} in the manifest, {autograded[q]:g} in its tests"
        for q in listed
        if abs(listed[q] - autograded[q]) > 1e-9
    ]
    if wrong:
        raise ManifestError(f"disagrees with the tests: {'; '.join(wrong)}")
    return manifest


def read_manifest(
    manifest_path: Path, *, written_path: Path, autograded: dict[str, float]
) -> Manifest:
    """The manifest of a graded folder: ``questions.json`` if it is there, else one built from
    ``written_questions.json`` and the outcomes' ``autograded`` points (``fallback_manifest``).

    Raises ManifestError naming the file when one exists but cannot be read.
    """
    if manifest_path.exists():
        try:
            return Manifest.from_json(manifest_path.read_bytes())
        except (OSError, ManifestError) as exc:
            raise ManifestError(f"{manifest_path}: {exc}") from None
    written: dict[str, float] = {}
    if written_path.exists():
        try:
            written = {q.name: q.points for q in questions_from_json(written_path.read_bytes())}
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{written_path}: {exc}") from None
    return fallback_manifest(autograded, written)
