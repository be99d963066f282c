"""The review store's SQLite schema and connections (``OUT/review.sqlite``).

Two kinds of table: copies of what ``labkit grade`` wrote (``questions``, ``submissions``,
``answers``), rebuilt from the folder whenever it changes, and what only the store holds
(``grades``, ``rubric_items``, ``applied``, ``replaced_rubric``: rubric items an imported score
replaced; ``overrides`` of autograded scores; ``settings``, such as the anonymous switch; and
``pseudonyms``). A schema change of the copies drops and rebuilds them; the tables only the store
holds are never dropped (new ones are created beside them).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from labkit.gradebook.folder import GradebookError

BUSY_TIMEOUT_MS = 30_000
SCHEMA_VERSION = 3

_COPIES = """
CREATE TABLE IF NOT EXISTS questions (
    name TEXT PRIMARY KEY, points REAL NOT NULL, prompt TEXT NOT NULL,
    reference TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    name TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,           -- the outcome's summary JSON (no verdict, no answers)
    tests TEXT NOT NULL,             -- the verdict's tests, as JSON
    source_mtime_ns INTEGER NOT NULL, source_size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    submission TEXT NOT NULL, question TEXT NOT NULL, cells TEXT NOT NULL,
    fingerprint TEXT NOT NULL, empty INTEGER NOT NULL, notes TEXT NOT NULL,
    PRIMARY KEY (submission, question));
"""
_GRADES = """
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
CREATE TABLE IF NOT EXISTS replaced_rubric (
    submission TEXT NOT NULL, question TEXT NOT NULL,
    items TEXT NOT NULL,             -- JSON list of the replaced items, as the student read them
    updated_at TEXT NOT NULL,
    PRIMARY KEY (submission, question));
CREATE TABLE IF NOT EXISTS overrides (
    submission TEXT NOT NULL, question TEXT NOT NULL,
    score REAL NOT NULL, reason TEXT NOT NULL,
    computed REAL,                   -- the hidden tests' score when the override was set
    updated_at TEXT NOT NULL,
    PRIMARY KEY (submission, question));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pseudonyms (
    submission TEXT PRIMARY KEY, pseudonym TEXT NOT NULL UNIQUE, number INTEGER NOT NULL UNIQUE);
"""


def connect(path: Path) -> sqlite3.Connection:
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
            raise GradebookError(f"{path}: another program keeps the database locked")
        time.sleep(0.02)


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the tables, or bring an older store up to ``SCHEMA_VERSION`` (in one transaction).

    A store already at this version costs one read; a newer one is refused.
    """
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()  # another may have done it
        if version > SCHEMA_VERSION:
            raise GradebookError(
                f"the review store was written by a newer labkit (schema {version}, "
                f"this one reads {SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            for table in ("questions", "submissions", "answers"):  # copies: rebuilt by sync
                db.execute(f"DROP TABLE IF EXISTS {table}")
            # executescript would commit on its own; one statement at a time stays inside.
            for statement in _statements(_COPIES + _GRADES):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
