"""Intake: what was submitted, and the autograder zip, read and checked before any job uses them.

``labkit grade`` (``labkit.batch``) and ``labkit similarity`` read submissions through here.
Everything a student uploaded is checked here first (empty files, broken JSON, zips without
exactly one notebook at their top, as ``otter run`` finds it) and only the notebook itself is
handed on: nothing of a zip is ever extracted (entries named outside it are flagged), and no
pickle or log a student made is ever read. Gradescope's ``submission_metadata.yml`` (beside the
folders of its bulk export) is read as plain data, for the submitters' names, emails and ids and
each submission's time; a Canvas "Download Submissions" name gives its student's Canvas id
(``labkit.batch.times``). The zip's ``questions.json`` gives every question's order, points and
bonus flag (``labkit.grader.manifest``); a zip built before it existed gets one from its tests.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
import yaml

from labkit import submission_times as times
from labkit.data import sha256_of
from labkit.gradebook.course import COURSE_TOML
from labkit.gradebook.manifest import MANIFEST_NAME, Manifest, ManifestError, checked_manifest
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.written import QUESTIONS_NAME, WrittenQuestion, questions_from_json
from labkit.grader import cells, syntax
from labkit.grader.config import PLUGIN_NAME, ConfigError, GradingConfig

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
LOG_FLAG = "the zip carried a .OTTER_LOG (a pickle), ignored unread"
METADATA_NAME = "submission_metadata.yml"
MAX_METADATA_BYTES = 20 * 1024 * 1024
MAX_SUBMITTERS = 20
MAX_STUDENT_FIELD_CHARS = 200


class GradingError(Exception):
    """A problem with the batch itself (the autograder zip, clashing names); nothing was graded."""


class InvalidSubmission(Exception):
    """A submission that cannot be graded; the message says why, in the grader's words."""


@dataclass
class Submission:
    """One submitted file (or one folder of Gradescope's bulk export)."""

    name: str
    path: Path
    students: list[dict] = field(default_factory=list)  # from Gradescope's metadata, if any
    submitted: times.SubmittedAt = field(default_factory=times.SubmittedAt)


@dataclass
class Autograder:
    """The autograder zip and what grading needs from it, read once into memory."""

    path: Path
    sha256: str
    points: dict[str, float]
    tests: dict[str, str]
    files: dict[str, bytes]
    config: GradingConfig
    written: list[WrittenQuestion] = field(default_factory=list)  # hand-graded, in order
    written_json: bytes = b""  # the zip's written_questions.json, as it is
    manifest: Manifest = field(default_factory=lambda: Manifest("", ()))

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
                # Zips built before the written questions were listed have none.
                written_json = archive.read(QUESTIONS_NAME) if QUESTIONS_NAME in names else b""
                manifest_json = archive.read(MANIFEST_NAME) if MANIFEST_NAME in names else b""
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
        try:
            written = questions_from_json(written_json) if written_json else []
        except ValueError as exc:
            raise GradingError(f"{path}: {QUESTIONS_NAME}: {exc}") from exc
        manifest = _manifest(path, manifest_json, points, written)
        points = {q.name: points[q.name] for q in manifest.autograded()}
        return cls(
            path=path,
            sha256=sha256_of(path),
            points=points,
            tests=tests,
            files=files,
            config=config,
            written=written,
            written_json=written_json,
            manifest=manifest,
        )

    def outcome(self, submission: Submission, status: Status, reason: str = "") -> Outcome:
        """A fresh outcome of ``submission`` graded with this zip: its autograded questions'
        points, the maximum and bonus, its submitters and when it was handed in
        (``Outcome.new``), whoever writes it."""
        return Outcome.new(
            submission.name,
            status,
            points=self.points,
            maximum=self.manifest.maximum,
            bonus_max=self.manifest.bonus_max,
            students=submission.students,
            reason=reason,
            autograder_sha256=self.sha256,
            submitted_at=submission.submitted.at,
            time_source=submission.submitted.source,
            late_marker=submission.submitted.late_marker,
        )


def _manifest(
    path: Path, text: bytes, points: dict[str, float], written: list[WrittenQuestion]
) -> Manifest:
    """The zip's manifest, checked against its tests (or one built from them, for old zips)."""
    try:
        return checked_manifest(text, points, {q.name: q.points for q in written})
    except ManifestError as exc:
        raise GradingError(f"{path}: {MANIFEST_NAME}: {exc}") from exc


def _points(source: str) -> float:
    """A test file's ``points = ...`` (1 if absent)."""
    import ast

    for node in syntax.parse(source).body:
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


def find_submissions(paths: list[Path], *, time_from_mtime: bool = False) -> list[Submission]:
    """Expand files and folders into submissions: one per file, or per bulk-export folder.

    A folder holding Gradescope's ``submission_metadata.yml`` gives each of its sub-folders the
    submitters and the time the file lists for it (see ``read_metadata``); a Canvas download
    name gives its student and late marker (``labkit.batch.times``); ``time_from_mtime`` takes
    the time of any other submission from its file. A ``course.toml`` in a folder is its
    settings (``labkit.gradebook.course``), not a submission.
    """
    found: dict[str, Submission] = {}
    for path in map(Path, paths):
        metadata, stamps = {}, {}
        if path.is_dir():
            entries = [p for p in sorted(path.iterdir()) if not p.name.startswith(".")]
            if (path / METADATA_NAME).is_file():
                metadata, stamps = read_metadata_file(path / METADATA_NAME)
        elif path.exists():
            if times.is_canvas_download(path):
                raise GradingError(
                    f"{path} is Canvas's Download Submissions zip (every file in it is named "
                    "lastfirst_<userid>_<subid>_<file>): unzip it and grade the folder"
                )
            entries = [path]
        else:
            raise GradingError(f"{path}: no such file or folder")
        for entry in entries:
            if entry.name in (METADATA_NAME, COURSE_TOML) and entry.parent == path:
                continue
            if entry.name in found:
                raise GradingError(
                    f"two submissions are named {entry.name}: {found[entry.name].path} and {entry}"
                )
            students = metadata.get(entry.name, []) if entry.is_dir() else []
            students = students or times.canvas_students(entry.name)
            submitted = times.submitted_at(
                entry, gradescope=stamps.get(entry.name, ""), from_mtime=time_from_mtime
            )
            found[entry.name] = Submission(entry.name, entry, students, submitted)
    return sorted(found.values(), key=lambda s: s.name)


class _MetadataLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading any tag (Gradescope's export may carry Ruby ones) as plain
    data: it never builds an object of a type the file names."""


def _plain(loader: _MetadataLoader, _suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_MetadataLoader.add_multi_constructor("!", _plain)
_MetadataLoader.add_multi_constructor("tag:", _plain)


def load_metadata(path: Path):
    """Gradescope's ``submission_metadata.yml`` as plain data (any tag read as data, nothing
    built); GradingError naming the file if it is too large or not YAML."""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise GradingError(f"{path}: larger than {MAX_METADATA_BYTES // 2**20} MB")
        return yaml.load(path.read_bytes(), Loader=_MetadataLoader)  # noqa: S506 (safe loader)
    except (OSError, yaml.YAMLError, RecursionError) as exc:
        problem = " ".join(str(exc).split())[:300]
        raise GradingError(f"{path}: not a readable metadata file ({problem})") from None


def read_metadata(path: Path) -> dict[str, list[dict]]:
    """The submitters of each submission folder, from Gradescope's ``submission_metadata.yml``
    (see ``read_metadata_file``)."""
    return read_metadata_file(path)[0]


def read_metadata_file(path: Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """The submitters and the time of each submission folder, from Gradescope's
    ``submission_metadata.yml``.

    The file maps each folder's name to its details, whose ``:submitters`` list each person's
    ``:name``, ``:email`` and ``:sid``, and whose ``:created_at:`` is when it was handed in.
    Only those are read, as text, capped in length and number; entries of any other shape are
    skipped. A file that is not YAML, or too large, is a GradingError naming it.
    """
    data = load_metadata(path)
    if not isinstance(data, dict):
        return {}, {}
    found, stamps = {}, {}
    for folder, details in data.items():
        if not isinstance(folder, str) or not isinstance(details, dict):
            continue
        stamp = times.gradescope_time(details)
        if stamp:
            stamps[folder] = stamp
        submitters = _field(details, "submitters")
        if not isinstance(submitters, list):
            continue
        people = []
        for person in submitters[:MAX_SUBMITTERS]:
            if isinstance(person, dict):
                people.append({key: _text_field(person, key) for key in ("name", "email", "sid")})
        found[folder] = people
    return found, stamps


def _field(mapping: dict, key: str):
    """A value of Gradescope's metadata, whose keys are Ruby symbols (``:name``) or plain."""
    return mapping.get(f":{key}", mapping.get(key))


def _text_field(person: dict, key: str) -> str:
    value = _field(person, key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(str(value).split())[:MAX_STUDENT_FIELD_CHARS]


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
        name, data = notebook_from_zip(path)
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


def notebook_from_zip(path: Path) -> tuple[str, bytes]:
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


def submission_sha256(path: Path) -> str:
    """Return the sha256 of a submitted file, or of every file in a submitted folder."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
