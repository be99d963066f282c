"""Intake for ``labkit grade``: what was submitted, and the autograder zip, checked before grading.

Everything a student uploaded is checked here first (empty files, broken JSON, zips without
exactly one notebook at their top, as ``otter run`` finds it) and only the notebook itself is
handed on: nothing of a zip is ever extracted (entries named outside it are flagged), and no
pickle or log a student made is ever read.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from labkit.data import sha256_of
from labkit.grader import cells
from labkit.grader.config import PLUGIN_NAME, ConfigError, GradingConfig

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
LOG_FLAG = "the zip carried a .OTTER_LOG (a pickle), ignored unread"


class GradingError(Exception):
    """A problem with the batch itself (the autograder zip, clashing names); nothing was graded."""


class InvalidSubmission(Exception):
    """A submission that cannot be graded; the message says why, in the grader's words."""


@dataclass
class Submission:
    """One submitted file (or one folder of Gradescope's bulk export)."""

    name: str
    path: Path


@dataclass
class Autograder:
    """The autograder zip and what grading needs from it, read once into memory."""

    path: Path
    sha256: str
    points: dict[str, float]
    tests: dict[str, str]
    files: dict[str, bytes]
    config: GradingConfig

    @classmethod
    def load(cls, path: Path) -> Autograder:
        """Read the tests, the grading files and the plugin's settings from the zip."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                tests = {
                    PurePosixPath(n).name: archive.read(n).decode()
                    for n in names
                    if n.startswith("tests/") and n.endswith(".py")
                }
                files = {
                    n.removeprefix("files/"): archive.read(n)
                    for n in names
                    if n.startswith("files/") and not n.endswith("/")
                }
                otter_config = (
                    json.loads(archive.read("otter_config.json"))
                    if "otter_config.json" in names
                    else {}
                )
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise GradingError(f"{path}: not a readable autograder zip ({exc})") from exc
        if not tests:
            raise GradingError(f"{path}: no tests/*.py inside: not an otter autograder zip")
        try:
            config = GradingConfig.from_dict(_plugin_config(otter_config))
            points = {
                cells.question_of(name, source): _points(source)
                for name, source in sorted(tests.items())
            }
        except (ConfigError, SyntaxError, ValueError) as exc:
            raise GradingError(f"{path}: {exc}") from exc
        return cls(
            path=path,
            sha256=sha256_of(path),
            points=points,
            tests=tests,
            files=files,
            config=config,
        )


def _points(source: str) -> float:
    """A test file's ``points = ...`` (1 if absent)."""
    import ast

    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "points"
        ):
            return float(ast.literal_eval(node.value))
    return 1.0


def _plugin_config(otter_config: dict) -> dict:
    """The settings the zip gives labkit's otter plugin, if any."""
    for plugin in otter_config.get("plugins", []):
        if isinstance(plugin, dict) and PLUGIN_NAME in plugin:
            return plugin[PLUGIN_NAME] or {}
    return {}


# --- what was submitted ---------------------------------------------------------------------------


def find_submissions(paths: list[Path]) -> list[Submission]:
    """Expand files and folders into submissions: one per file, or per bulk-export folder."""
    found: dict[str, Submission] = {}
    for path in map(Path, paths):
        if path.is_dir():
            entries = [p for p in sorted(path.iterdir()) if not p.name.startswith(".")]
        elif path.exists():
            entries = [path]
        else:
            raise GradingError(f"{path}: no such file or folder")
        for entry in entries:
            if entry.name == "submission_metadata.yml":
                continue
            if entry.name in found:
                raise GradingError(
                    f"two submissions are named {entry.name}: {found[entry.name].path} and {entry}"
                )
            found[entry.name] = Submission(entry.name, entry)
    return sorted(found.values(), key=lambda s: s.name)


def read_notebook(path: Path) -> tuple[str, bytes]:
    """Return the submitted notebook's file name and bytes, or raise InvalidSubmission.

    ``path`` is a notebook, a zip made by ``grader.export()``, or a folder of Gradescope's bulk
    export holding one of those.
    """
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.suffix in (".ipynb", ".zip"))
        if len(candidates) != 1:
            raise InvalidSubmission(
                f"expected one .ipynb or .zip in the folder, found {len(candidates)}"
            )
        return read_notebook(candidates[0])
    if path.suffix == ".zip":
        name, data = _notebook_from_zip(path)
    elif path.suffix == ".ipynb":
        name, data = path.name, path.read_bytes()
    else:
        raise InvalidSubmission(f"not a notebook (.ipynb) or an exported .zip: {path.name}")
    if not data.strip():
        raise InvalidSubmission("empty notebook file")
    try:
        text = data.decode("utf-8")
        json.loads(text)
        nbformat.validate(nbformat.reads(text, as_version=4))
    except UnicodeDecodeError:
        raise InvalidSubmission("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not a notebook: invalid JSON ({exc})") from None
    except Exception as exc:  # nbformat's reader and validation errors
        raise InvalidSubmission(f"not a valid notebook: {str(exc).splitlines()[0]}") from None
    return name, data


def _notebook_from_zip(path: Path) -> tuple[str, bytes]:
    """Return the notebook at the top level of an exported zip: the one ``otter run`` grades.

    Otter extracts the zip (dropping ``..``, ``.`` and leading ``/`` from each entry's path, a
    later entry replacing an earlier one of the same path) and grades the one ``*.ipynb`` at the
    top; nothing is extracted here, the same entry is read. More than one, or none, is invalid.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if sum(info.file_size for info in infos) > MAX_UNZIPPED_BYTES:
                raise InvalidSubmission("zip expands to more than 200 MB")
            top = {}
            for info in infos:
                extracted = _extracted_path(info.filename)
                if "/" not in extracted and extracted.endswith(".ipynb"):
                    top[extracted] = info
            if len(top) != 1:
                names = ", ".join(sorted(top)) or "none"
                raise InvalidSubmission(
                    f"expected one notebook at the top of the zip, found {names}"
                )
            ((name, info),) = top.items()
            return name, archive.read(info)
    except zipfile.BadZipFile as exc:
        raise InvalidSubmission(f"not a readable zip ({exc})") from None


def _extracted_path(filename: str) -> str:
    """Where ``zipfile``'s extraction puts an entry, relative to the folder (POSIX rules)."""
    parts = filename.split("/")
    return "/".join(part for part in parts if part not in ("", ".", ".."))


def outside_entries(path: Path) -> list[str]:
    """The entries of a submitted zip whose names point outside it (``..``, absolute paths)."""
    if path.suffix != ".zip":
        return []
    with zipfile.ZipFile(path) as archive:
        return [
            n
            for n in archive.namelist()
            if n.startswith("/") or ".." in PurePosixPath(n.replace("\\", "/")).parts
        ]


def zip_flags(path: Path) -> list[str]:
    """Flags for the TA about a submitted zip: a log inside, names pointing outside it."""
    flags = [LOG_FLAG] if carries_otter_log(path) else []
    outside = outside_entries(path)
    if outside:
        shown = ", ".join(repr(n[:80]) for n in outside[:3])
        flags.append(f"the zip has entries named outside it ({shown}), ignored: never extracted")
    return flags


def carries_otter_log(path: Path) -> bool:
    """Whether a submitted zip holds an ``.OTTER_LOG`` (never read here: it is a pickle)."""
    if path.suffix != ".zip":
        return False
    with zipfile.ZipFile(path) as archive:
        return any(PurePosixPath(n).name == ".OTTER_LOG" for n in archive.namelist())


def fingerprint(path: Path) -> str:
    """Return the sha256 of a submitted file, or of every file in a submitted folder."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
