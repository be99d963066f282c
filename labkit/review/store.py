"""The TAs' grades of written answers: ``OUT/review.sqlite``, beside what ``labkit grade`` wrote.

The store copies what it needs of ``OUT/written_questions.json`` and ``OUT/*/results.json`` (the
answers, as data) and keeps what only it holds: scores, comments, rubrics. Regrading rewrites the
copies and keeps the grades; a grade whose answer changed since it was scored is *stale*.

A score is ``clamp(adjustment + points of the applied rubric items, 0, points)``: typing a score
sets the adjustment, so editing an item's points moves every score it is applied to. Each
``ReviewStore`` has its own connection; several processes or threads may write at once (WAL, every
change one ``BEGIN IMMEDIATE`` transaction, waiting up to ``BUSY_TIMEOUT_MS`` for the others).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.batch import reports
from labkit.batch.outcome import Outcome, Status
from labkit.review.written import questions_from_json

DATABASE_NAME = "review.sqlite"
QUESTIONS_NAME = "written_questions.json"
BUSY_TIMEOUT_MS = 30_000
MAX_COMMENT_CHARS = 10_000
MAX_RUBRIC_TEXT_CHARS = 2_000
EXPORT_COLUMNS = ["submission", "question", "score", "comment"]
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    name TEXT PRIMARY KEY, points REAL NOT NULL, prompt TEXT NOT NULL,
    reference TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    name TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT NOT NULL, total REAL NOT NULL,
    max_total REAL NOT NULL, points TEXT NOT NULL, scores TEXT NOT NULL, flags TEXT NOT NULL,
    notes TEXT NOT NULL, sandbox TEXT NOT NULL, tests TEXT NOT NULL, students TEXT NOT NULL,
    source_mtime_ns INTEGER NOT NULL, source_size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    submission TEXT NOT NULL, question TEXT NOT NULL, cells TEXT NOT NULL,
    fingerprint TEXT NOT NULL, empty INTEGER NOT NULL, notes TEXT NOT NULL,
    PRIMARY KEY (submission, question));
CREATE TABLE IF NOT EXISTS grades (
    submission TEXT NOT NULL, question TEXT NOT NULL,
    adjustment REAL,                 -- NULL: not graded
    comment TEXT NOT NULL DEFAULT '',
    scored_fingerprint TEXT,         -- the answer's fingerprint when the score was last set
    updated_at TEXT NOT NULL,
    PRIMARY KEY (submission, question));
CREATE TABLE IF NOT EXISTS rubric_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, points REAL NOT NULL,
    text TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS applied (
    submission TEXT NOT NULL, question TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES rubric_items(id) ON DELETE CASCADE,
    PRIMARY KEY (submission, question, item_id));
"""


class ReviewError(Exception):
    """A change the store refuses; the message names the row, field or value and the problem."""


@dataclass(frozen=True)
class Question:
    """A written question as the store holds it."""

    name: str
    points: float
    prompt: str
    reference: list[dict]
    position: int


@dataclass(frozen=True)
class RubricItem:
    """A rubric item: points added (or, negative, taken) when a TA applies it to an answer."""

    id: int
    question: str
    points: float
    text: str
    position: int


@dataclass(frozen=True)
class Grade:
    """The TA's grade of one (submission, written question)."""

    submission: str
    question: str
    score: float | None  # None: not graded
    comment: str
    rubric_ids: tuple[int, ...]  # applied items
    stale: bool  # the answer changed since it was scored
    updated_at: str


@dataclass(frozen=True)
class Answer:
    """One submission's answer to a written question, and its grade."""

    submission: str
    question: str
    cells: list[dict]
    fingerprint: str
    empty: bool
    grade: Grade
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubmissionRow:
    """A graded submission: autograded results, students, and its written grades.

    ``total`` (None unless the status is ``ok``) and ``max_total`` include the written questions:
    a written score counts once graded.
    """

    name: str
    status: str
    total: float | None
    max_total: float
    scores: dict[str, float]
    flags: list[str]
    notes: list[str]
    message: str
    tests: list[dict]
    students: list[dict]
    written: dict[str, Grade]


class ReviewStore:
    """One connection to ``OUT/review.sqlite``; use one per thread or process."""

    def __init__(self, output_dir: Path, connection: sqlite3.Connection):
        self.output_dir = Path(output_dir)
        self._db = connection

    @classmethod
    def open(cls, output_dir: Path, *, sync: bool = True) -> ReviewStore:
        """Open (creating if needed) ``OUT/review.sqlite`` and bring it up to date with OUT."""
        output_dir = Path(output_dir)
        if not output_dir.is_dir():
            raise ReviewError(f"{output_dir}: no such folder (run labkit grade first)")
        db = _connect(output_dir / DATABASE_NAME)
        try:
            store = cls(output_dir, db)
            with store._transaction():
                # executescript would commit on its own; one statement at a time stays inside.
                for statement in _statements():
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            if sync:
                store.sync()
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- bringing the copies up to date -----------------------------------------------------------

    def sync(self) -> None:
        """Re-read ``written_questions.json`` and every changed ``results.json``; keep the grades.

        A results.json that cannot be read is skipped (its previous copy stays): ``labkit grade``
        writes them atomically, so that only happens to a file edited by hand.
        """
        questions = self._read_questions()
        found = {}
        for path in sorted(self.output_dir.glob("*/results.json")):
            try:
                stat = path.stat()
            except OSError:
                continue
            found[path.parent.name] = (path, stat.st_mtime_ns, stat.st_size)
        with self._transaction() as db:
            if questions is not None:
                db.execute("DELETE FROM questions")
                db.executemany(
                    "INSERT INTO questions VALUES (?, ?, ?, ?, ?)",
                    [
                        (q.name, q.points, q.prompt, _dump(q.reference), k)
                        for k, q in enumerate(questions)
                    ],
                )
            known = {
                name: (mtime, size)
                for name, mtime, size in db.execute(
                    "SELECT name, source_mtime_ns, source_size FROM submissions"
                )
            }
            for name in set(known) - set(found):
                db.execute("DELETE FROM submissions WHERE name = ?", (name,))
                db.execute("DELETE FROM answers WHERE submission = ?", (name,))
            for name, (path, mtime, size) in found.items():
                if known.get(name) != (mtime, size):
                    self._copy_outcome(db, name, path, mtime, size)

    def _read_questions(self):
        path = self.output_dir / QUESTIONS_NAME
        if not path.exists():
            return None
        try:
            return questions_from_json(path.read_bytes())
        except ValueError as exc:
            raise ReviewError(f"{path}: {exc}") from None

    @staticmethod
    def _copy_outcome(db, name: str, path: Path, mtime: int, size: int) -> None:
        try:
            outcome = Outcome.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return
        verdict = outcome.verdict or {}
        tests = [
            {
                "question": t.get("question"),
                "name": t.get("test"),
                "hidden": t.get("hidden"),
                "points": t.get("points"),
                "passed": t.get("passed"),
                "message": t.get("message", ""),
            }
            for t in verdict.get("tests", [])
        ]
        db.execute(
            "INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                outcome.status.value,
                outcome.reason,
                outcome.total,
                outcome.max_total,
                _dump(outcome.points or verdict.get("possible", {})),
                _dump(outcome.scores),
                _dump(outcome.flags),
                _dump(outcome.notes),
                _dump(outcome.sandbox),
                _dump(tests),
                _dump(outcome.students),
                mtime,
                size,
            ),
        )
        db.execute("DELETE FROM answers WHERE submission = ?", (name,))
        db.executemany(
            "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    name,
                    question,
                    _dump(answer.get("cells", [])),
                    str(answer.get("fingerprint", "")),
                    bool(answer.get("empty", True)),
                    _dump(answer.get("notes", [])),
                )
                for question, answer in outcome.written.items()
                if isinstance(answer, dict)
            ],
        )

    # --- reading ----------------------------------------------------------------------------------

    def questions(self) -> list[Question]:
        """The written questions, in notebook order."""
        rows = self._db.execute("SELECT * FROM questions ORDER BY position").fetchall()
        return [Question(n, p, pr, json.loads(ref), pos) for n, p, pr, ref, pos in rows]

    def question(self, name: str) -> Question:
        """One written question; ReviewError if there is none of that name."""
        for question in self.questions():
            if question.name == name:
                return question
        raise ReviewError(f"no written question named {name!r}")

    def answers(self, question: str) -> list[Answer]:
        """Every graded submission's answer to ``question``, sorted by submission."""
        return self._answers(question)

    def answer(self, submission: str, question: str) -> Answer:
        """One submission's answer to ``question``; ReviewError if there is none."""
        found = self._answers(question, submission=submission)
        if not found:
            raise ReviewError(f"no answer of {submission!r} to {question!r}")
        return found[0]

    def _answers(self, question: str, *, submission: str | None = None) -> list[Answer]:
        only = "" if submission is None else "AND a.submission = ?"
        with self._transaction(write=False) as db:
            if self._points(db, question) is None:
                return []
            rows = db.execute(
                "SELECT a.submission, a.cells, a.fingerprint, a.empty, a.notes FROM answers a "
                "JOIN submissions s ON s.name = a.submission "
                f"WHERE a.question = ? {only} ORDER BY a.submission",
                (question,) if submission is None else (question, submission),
            ).fetchall()
            grades = self._grades(db, question=question, submission=submission)
        return [
            Answer(
                submission=sub,
                question=question,
                cells=json.loads(cells),
                fingerprint=fp,
                empty=bool(empty),
                grade=grades.get((sub, question)) or _ungraded(sub, question),
                notes=json.loads(notes),
            )
            for sub, cells, fp, empty, notes in rows
        ]

    def submissions(self) -> list[SubmissionRow]:
        """Every graded submission, sorted by name."""
        with self._transaction(write=False) as db:
            written = {name: points for name, points in db.execute(_QUESTION_POINTS)}
            grades = self._grades(db)
            outcomes = self._outcomes(db)
            tests = dict(db.execute("SELECT name, tests FROM submissions"))
        return [
            _submission_row(outcome, json.loads(tests[outcome.submission]), written, grades)
            for outcome in outcomes
        ]

    def outcomes(self) -> list[Outcome]:
        """The graded submissions as the gradebook needs them (outcomes without verdicts)."""
        with self._transaction(write=False) as db:
            return self._outcomes(db)

    @staticmethod
    def _outcomes(db) -> list[Outcome]:
        rows = db.execute(
            "SELECT name, status, reason, total, max_total, points, scores, flags, notes, sandbox, "
            "students FROM submissions ORDER BY name"
        ).fetchall()
        return [
            Outcome(
                name,
                Status(status),
                reason=reason,
                total=total,
                max_total=max_total,
                points=json.loads(points),
                scores=json.loads(scores),
                flags=json.loads(flags),
                notes=json.loads(notes),
                sandbox=json.loads(sandbox),
                students=json.loads(students),
            )
            for (
                name,
                status,
                reason,
                total,
                max_total,
                points,
                scores,
                flags,
                notes,
                sandbox,
                students,
            ) in rows
        ]

    def submission(self, name: str) -> SubmissionRow:
        """One graded submission; ReviewError if there is none of that name."""
        for row in self.submissions():
            if row.name == name:
                return row
        raise ReviewError(f"no graded submission named {name!r}")

    def rubric(self, question: str) -> list[RubricItem]:
        """The rubric items of ``question``, in their order."""
        rows = self._db.execute(
            "SELECT id, question, points, text, position FROM rubric_items WHERE question = ? "
            "ORDER BY position, id",
            (question,),
        ).fetchall()
        return [RubricItem(*row) for row in rows]

    def progress(self, question: str) -> tuple[int, int]:
        """``(graded, answers)`` for ``question``."""
        graded, total = self._db.execute(
            "SELECT COUNT(g.adjustment), COUNT(*) FROM answers a "
            "JOIN submissions s ON s.name = a.submission "
            "LEFT JOIN grades g ON g.submission = a.submission AND g.question = a.question "
            "WHERE a.question = ?",
            (question,),
        ).fetchone()
        return graded, total

    def grade(self, submission: str, question: str) -> Grade:
        """The grade of one answer (ungraded if never touched)."""
        with self._transaction(write=False) as db:
            return self._grade(db, submission, question)

    # --- changing ---------------------------------------------------------------------------------

    def set_score(self, submission: str, question: str, score: float | None) -> Grade:
        """Set a typed score (``None``: not graded, and no rubric item applied).

        The score must lie in ``[0, points]`` and be a multiple of 0.5; the rubric items applied
        stay applied and the adjustment takes up the difference.
        """
        with self._transaction() as db:
            self._set_score(db, submission, question, score)
            return self._grade(db, submission, question)

    def set_comment(self, submission: str, question: str, comment: str) -> Grade:
        """Set the comment the student reads beside the score."""
        with self._transaction() as db:
            self._set_comment(db, submission, question, comment)
            return self._grade(db, submission, question)

    def add_rubric_item(self, question: str, *, points: float, text: str) -> RubricItem:
        """Add an item at the end of ``question``'s rubric."""
        with self._transaction() as db:
            limit = self._require_points(db, question)
            points, text = _item_points(points, limit), _item_text(text)
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM rubric_items WHERE question = ?",
                (question,),
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO rubric_items (question, points, text, position) VALUES (?, ?, ?, ?)",
                (question, points, text, position),
            )
            return RubricItem(cursor.lastrowid, question, points, text, position)

    def update_rubric_item(
        self, item_id: int, *, points: float | None = None, text: str | None = None
    ) -> RubricItem:
        """Change an item's points or text; every answer it is applied to follows."""
        with self._transaction() as db:
            item = self._item(db, item_id)
            limit = self._require_points(db, item.question)
            new_points = item.points if points is None else _item_points(points, limit)
            new_text = item.text if text is None else _item_text(text)
            db.execute(
                "UPDATE rubric_items SET points = ?, text = ? WHERE id = ?",
                (new_points, new_text, item_id),
            )
            return RubricItem(item.id, item.question, new_points, new_text, item.position)

    def delete_rubric_item(self, item_id: int) -> None:
        """Delete an item; the answers it was applied to lose its points."""
        with self._transaction() as db:
            self._item(db, item_id)
            db.execute("DELETE FROM rubric_items WHERE id = ?", (item_id,))

    def apply_rubric_item(
        self, submission: str, question: str, item_id: int, *, applied: bool
    ) -> Grade:
        """Apply (or remove) a rubric item to an answer; an ungraded answer starts from 0."""
        with self._transaction() as db:
            self._apply(db, submission, question, item_id, applied=applied)
            return self._grade(db, submission, question)

    def import_rows(self, rows: list[tuple[str, str, float | None, str]]) -> None:
        """Set ``(submission, question, score, comment)`` rows in one transaction: all or none.

        A score of ``None`` leaves the score as it is; the comment replaces the stored one.
        """
        with self._transaction() as db:
            for submission, question, score, comment in rows:
                if score is not None:
                    self._set_score(db, submission, question, score)
                self._set_comment(db, submission, question, comment)

    # --- inside a transaction ---------------------------------------------------------------------

    def _set_score(self, db, submission: str, question: str, score) -> None:
        points, fingerprint = self._require_answer(db, submission, question)
        if score is None:
            db.execute(
                "DELETE FROM applied WHERE submission = ? AND question = ?", (submission, question)
            )
            self._write_grade(db, submission, question, adjustment=None, fingerprint=None)
            return
        score = _score(score, points, what=f"the score of {submission} for {question}")
        applied = self._applied_points(db, submission, question)
        self._write_grade(
            db, submission, question, adjustment=score - applied, fingerprint=fingerprint
        )

    def _set_comment(self, db, submission: str, question: str, comment) -> None:
        self._require_answer(db, submission, question)
        if not isinstance(comment, str):
            raise ReviewError(f"the comment must be text, not {type(comment).__name__}")
        if len(comment) > MAX_COMMENT_CHARS:
            raise ReviewError(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
        self._ensure_grade(db, submission, question)
        db.execute(
            "UPDATE grades SET comment = ?, updated_at = ? WHERE submission = ? AND question = ?",
            (comment, _now(), submission, question),
        )

    def _apply(self, db, submission: str, question: str, item_id: int, *, applied: bool) -> None:
        _, fingerprint = self._require_answer(db, submission, question)
        item = self._item(db, item_id)
        if item.question != question:
            raise ReviewError(f"rubric item {item_id} belongs to {item.question}, not {question}")
        self._ensure_grade(db, submission, question)
        (adjustment,) = db.execute(
            "SELECT adjustment FROM grades WHERE submission = ? AND question = ?",
            (submission, question),
        ).fetchone()
        if applied:
            db.execute(
                "INSERT OR IGNORE INTO applied VALUES (?, ?, ?)", (submission, question, item_id)
            )
        else:
            db.execute(
                "DELETE FROM applied WHERE submission = ? AND question = ? AND item_id = ?",
                (submission, question, item_id),
            )
        self._write_grade(
            db,
            submission,
            question,
            adjustment=0.0 if adjustment is None else adjustment,
            fingerprint=fingerprint,
        )

    def _write_grade(self, db, submission, question, *, adjustment, fingerprint) -> None:
        self._ensure_grade(db, submission, question)
        db.execute(
            "UPDATE grades SET adjustment = ?, scored_fingerprint = ?, updated_at = ? "
            "WHERE submission = ? AND question = ?",
            (adjustment, fingerprint, _now(), submission, question),
        )

    @staticmethod
    def _ensure_grade(db, submission: str, question: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO grades (submission, question, updated_at) VALUES (?, ?, ?)",
            (submission, question, _now()),
        )

    @staticmethod
    def _points(db, question: str) -> float | None:
        row = db.execute("SELECT points FROM questions WHERE name = ?", (question,)).fetchone()
        return None if row is None else row[0]

    def _require_points(self, db, question: str) -> float:
        points = self._points(db, question)
        if points is None:
            raise ReviewError(f"no written question named {question!r}")
        return points

    def _require_answer(self, db, submission: str, question: str) -> tuple[float, str]:
        points = self._require_points(db, question)
        row = db.execute(
            "SELECT a.fingerprint FROM answers a JOIN submissions s ON s.name = a.submission "
            "WHERE a.submission = ? AND a.question = ?",
            (submission, question),
        ).fetchone()
        if row is None:
            raise ReviewError(f"no answer of {submission!r} to {question} was collected")
        return points, row[0]

    @staticmethod
    def _item(db, item_id) -> RubricItem:
        row = db.execute(
            "SELECT id, question, points, text, position FROM rubric_items WHERE id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            raise ReviewError(f"no rubric item {item_id!r}")
        return RubricItem(*row)

    @staticmethod
    def _applied_points(db, submission: str, question: str) -> float:
        (total,) = db.execute(
            "SELECT COALESCE(SUM(r.points), 0) FROM applied a JOIN rubric_items r "
            "ON r.id = a.item_id WHERE a.submission = ? AND a.question = ?",
            (submission, question),
        ).fetchone()
        return total

    def _grade(self, db, submission: str, question: str) -> Grade:
        grades = self._grades(db, question=question, submission=submission)
        return grades.get((submission, question)) or _ungraded(submission, question)

    @staticmethod
    def _grades(db, *, question=None, submission=None) -> dict[tuple[str, str], Grade]:
        """Grades keyed by ``(submission, question)``, scores computed from their parts."""
        where, args = [], []
        if question is not None:
            where.append("g.question = ?")
            args.append(question)
        if submission is not None:
            where.append("g.submission = ?")
            args.append(submission)
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        rows = db.execute(
            "SELECT g.submission, g.question, g.adjustment, g.comment, g.scored_fingerprint, "
            "g.updated_at, q.points, a.fingerprint FROM grades g "
            "JOIN questions q ON q.name = g.question "
            "LEFT JOIN answers a ON a.submission = g.submission AND a.question = g.question "
            f"{condition}",
            args,
        ).fetchall()
        items: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for sub, q, item_id, points in db.execute(
            "SELECT a.submission, a.question, a.item_id, r.points FROM applied a "
            "JOIN rubric_items r ON r.id = a.item_id ORDER BY r.position, r.id"
        ):
            items.setdefault((sub, q), []).append((item_id, points))
        grades = {}
        for sub, q, adjustment, comment, scored, updated, points, current in rows:
            applied = items.get((sub, q), [])
            score = None
            if adjustment is not None:
                raw = adjustment + sum(p for _, p in applied)
                score = min(max(raw, 0.0), points)
            grades[(sub, q)] = Grade(
                submission=sub,
                question=q,
                score=score,
                comment=comment,
                rubric_ids=tuple(i for i, _ in applied),
                stale=score is not None and current is not None and scored != current,
                updated_at=updated,
            )
        return grades


_QUESTION_POINTS = "SELECT name, points FROM questions ORDER BY position"


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the database in WAL mode (which it keeps once switched).

    SQLite does not wait here on its own: two processes may create the database at once, and a
    connection opened before the other switched it cannot switch while that one is open, so it
    reconnects (and then finds the database in WAL mode already).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                db.execute("PRAGMA foreign_keys = ON")
                return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                db.close()
                raise
        except BaseException:
            db.close()
            raise
        db.close()
        if time.monotonic() > deadline:
            raise ReviewError(f"{path}: another program keeps the database locked")
        time.sleep(0.02)


def _statements() -> list[str]:
    return [s.strip() for s in _SCHEMA.split(";") if s.strip()]


def _submission_row(outcome: Outcome, tests: list[dict], written: dict[str, float], grades):
    name = outcome.submission
    own = {q: grades.get((name, q)) or _ungraded(name, q) for q in written}
    graded = sum(g.score for g in own.values() if g.score is not None)
    return SubmissionRow(
        name=name,
        status=outcome.status.value,
        total=round(outcome.total + graded, 6) if outcome.status is Status.OK else None,
        max_total=outcome.max_total + sum(written.values()),
        scores=outcome.scores,
        flags=outcome.flags,
        notes=outcome.notes,
        message=outcome.message,
        tests=tests,
        students=outcome.students,
        written=own,
    )


def _ungraded(submission: str, question: str) -> Grade:
    return Grade(submission, question, None, "", (), False, "")


def _score(value, points: float, *, what: str) -> float:
    """A typed score, checked: a number in ``[0, points]``, a multiple of 0.5."""
    number = _half_points(value, what=what)
    if not 0 <= number <= points:
        raise ReviewError(f"{what} must be between 0 and {points:g}, not {number:g}")
    return number


def _item_points(value, limit: float) -> float:
    number = _half_points(value, what="a rubric item's points")
    if abs(number) > limit:
        raise ReviewError(
            f"a rubric item's points must be between -{limit:g} and {limit:g}, not {number:g}"
        )
    return number


def _half_points(value, *, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReviewError(f"{what} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number * 2 != round(number * 2):
        raise ReviewError(f"{what} must be a multiple of 0.5, not {value!r}")
    return number


def _item_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ReviewError("a rubric item needs a text")
    if len(text) > MAX_RUBRIC_TEXT_CHARS:
        raise ReviewError(f"a rubric item's text is longer than {MAX_RUBRIC_TEXT_CHARS} characters")
    return text.strip()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dump(value) -> str:
    return json.dumps(value, sort_keys=True)


# --- reports, export and import -------------------------------------------------------------------


def written_grades(store: ReviewStore) -> reports.WrittenGrades:
    """The written questions' points and every grade, as the reports show them."""
    questions = store.questions()
    texts = {
        item.id: f"{item.text} ({item.points:+g})"
        for q in questions
        for item in store.rubric(q.name)
    }
    scores = {}
    for row in store.submissions():
        for question, grade in row.written.items():
            if grade.score is not None or grade.comment:
                scores[(row.name, question)] = reports.WrittenScore(
                    score=grade.score,
                    comment=grade.comment,
                    rubric=tuple(texts[i] for i in grade.rubric_ids if i in texts),
                )
    return reports.WrittenGrades(points={q.name: q.points for q in questions}, scores=scores)


def refresh_reports(output_dir: Path, *, submissions: list[str] | None = None) -> None:
    """Rewrite ``gradebook.csv`` and the feedback of ``submissions`` (all if None) from the store.

    Rows the gradebook lists as ``pending`` (a batch that was stopped) stay listed.
    """
    output_dir = Path(output_dir)
    with ReviewStore.open(output_dir) as store:
        grades = written_grades(store)
        outcomes = store.outcomes()
    graded = {o.submission for o in outcomes}
    outcomes += [
        Outcome(name, Status.PENDING, max_total=_autograded_max(outcomes))
        for name in reports.pending_in_gradebook(output_dir / "gradebook.csv")
        if name not in graded
    ]
    points = next((o.points for o in outcomes if o.points), {})
    reports.write_gradebook(output_dir / "gradebook.csv", outcomes, points, written=grades)
    names = graded if submissions is None else set(submissions) & graded
    for name in sorted(names):
        path = output_dir / name / "results.json"
        try:
            outcome = Outcome.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            continue
        write_atomically(
            output_dir / name / "feedback.txt", reports.feedback_text(outcome, written=grades)
        )


def _autograded_max(outcomes: list[Outcome]) -> float:
    return next((o.max_total for o in outcomes if o.max_total), 0.0)


def export_scores(output_dir: Path, path: Path) -> int:
    """Write every collected answer's ``submission, question, score, comment`` to a CSV file.

    An ungraded answer has an empty score. Returns the number of rows written.
    """
    with ReviewStore.open(output_dir) as store:
        rows = [
            (
                a.submission,
                q.name,
                "" if a.grade.score is None else f"{a.grade.score:g}",
                a.grade.comment,
            )
            for q in store.questions()
            for a in store.answers(q.name)
        ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(sorted(rows))
    write_atomically(Path(path), buffer.getvalue())
    return len(rows)


def import_scores(output_dir: Path, path: Path) -> int:
    """Read a CSV of ``submission, question, score, comment`` into the store: all rows or none.

    An empty score leaves the stored score as it is; the comment replaces the stored one. Any
    problem (an unknown submission or question, a score out of range, a malformed row) raises
    ReviewError naming the row (the header is row 1, as a spreadsheet counts) and nothing of the
    file is imported. Returns the number of rows imported.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{path}: cannot read it ({exc})") from None
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ReviewError(f"{path}: not a CSV file ({exc})") from None
    if not table or [c.strip() for c in table[0]] != EXPORT_COLUMNS:
        raise ReviewError(f"{path}: row 1 must be the header {','.join(EXPORT_COLUMNS)}")
    with ReviewStore.open(output_dir) as store:
        points = {q.name: q.points for q in store.questions()}
        answered = {(a.submission, q) for q in points for a in store.answers(q)}
        rows, seen = [], {}
        for number, cells in enumerate(table[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            where = f"{path}: row {number}"
            if len(cells) != len(EXPORT_COLUMNS):
                raise ReviewError(f"{where}: expected 4 values, found {len(cells)}")
            submission, question, score_text, comment = cells
            if question not in points:
                raise ReviewError(f"{where}: unknown written question {question!r}")
            if (submission, question) not in answered:
                raise ReviewError(f"{where}: unknown submission {submission!r}")
            if (submission, question) in seen:
                raise ReviewError(
                    f"{where}: {submission} {question} is on row {seen[submission, question]} too"
                )
            seen[submission, question] = number
            score = None
            if score_text.strip():
                try:
                    number_value = float(score_text)
                except ValueError:
                    raise ReviewError(
                        f"{where}: the score {score_text!r} is not a number"
                    ) from None
                try:
                    score = _score(number_value, points[question], what="the score")
                except ReviewError as exc:
                    raise ReviewError(f"{where}: {exc}") from None
            if len(comment) > MAX_COMMENT_CHARS:
                raise ReviewError(f"{where}: the comment is longer than {MAX_COMMENT_CHARS}")
            rows.append((submission, question, score, comment))
        try:
            store.import_rows(rows)
        except ReviewError as exc:
            raise ReviewError(f"{path}: {exc}") from None
    refresh_reports(output_dir)
    return len(rows)
