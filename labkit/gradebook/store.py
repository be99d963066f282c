"""The TAs' grades of written answers: ``OUT/review.sqlite``, beside what ``labkit grade`` wrote.

The store copies what it needs of ``OUT/written_questions.json`` and ``OUT/*/results.json`` (the
answers, as data) and keeps what only it holds: scores, comments, rubrics (``schema``). Regrading
rewrites the copies and keeps the grades; a grade whose answer changed since it was scored is
*stale*. Scores follow the rules of ``grades``.

Each ``ReviewStore`` has its own connection; several processes or threads may write at once (WAL,
every change one ``BEGIN IMMEDIATE`` transaction, waiting for the others).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from labkit.gradebook import schema
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.grades import (
    Answer,
    Grade,
    RubricItem,
    SubmissionRow,
    check_comment,
    check_item_points,
    check_item_text,
    check_score,
    score_of,
)
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.written import WrittenQuestion, questions_from_json


class ReviewStore:
    """One connection to ``OUT/review.sqlite``; use one per thread or process."""

    def __init__(self, folder: GradedFolder, connection):
        self.folder = folder
        self._db = connection

    @classmethod
    def open(cls, output_dir: Path, *, sync: bool = True) -> ReviewStore:
        """Open (creating if needed) ``OUT/review.sqlite`` and bring it up to date with OUT."""
        folder = GradedFolder(output_dir)
        if not folder.path.is_dir():
            raise GradebookError(f"{folder.path}: no such folder (run labkit grade first)")
        db = schema.connect(folder.store)
        try:
            schema.ensure_schema(db)
            store = cls(folder, db)
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
    def _transaction(self, *, write: bool = True) -> Iterator:
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
        for name, path in self.folder.result_files().items():
            try:
                stat = path.stat()
            except OSError:
                continue
            found[name] = (stat.st_mtime_ns, stat.st_size)
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
            for name, stamp in found.items():
                if known.get(name) != stamp:
                    self._copy_outcome(db, name, stamp)

    def _read_questions(self) -> list[WrittenQuestion] | None:
        path = self.folder.questions
        if not path.exists():
            return None
        try:
            return questions_from_json(path.read_bytes())
        except ValueError as exc:
            raise GradebookError(f"{path}: {exc}") from None

    def _copy_outcome(self, db, name: str, stamp: tuple[int, int]) -> None:
        outcome = self.folder.load_outcome(name)
        if outcome is None:
            return
        tests = (outcome.verdict or {}).get("tests", [])
        db.execute(
            "INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?, ?)",
            (name, outcome.to_json(summary=True), _dump(tests), *stamp),
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

    def questions(self) -> list[WrittenQuestion]:
        """The written questions, in notebook order."""
        rows = self._db.execute(
            "SELECT name, points, prompt, reference FROM questions ORDER BY position"
        ).fetchall()
        return [WrittenQuestion(n, p, pr, json.loads(ref)) for n, p, pr, ref in rows]

    def question(self, name: str) -> WrittenQuestion:
        """One written question; GradebookError if there is none of that name."""
        for question in self.questions():
            if question.name == name:
                return question
        raise GradebookError(f"no written question named {name!r}")

    def answers(self, question: str) -> list[Answer]:
        """Every graded submission's answer to ``question``, sorted by submission."""
        return self._answers(question)

    def answer(self, submission: str, question: str) -> Answer:
        """One submission's answer to ``question``; GradebookError if there is none."""
        found = self._answers(question, submission=submission)
        if not found:
            raise GradebookError(f"no answer of {submission!r} to {question!r}")
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
                grade=grades.get((sub, question)) or Grade.ungraded(sub, question),
                notes=json.loads(notes),
            )
            for sub, cells, fp, empty, notes in rows
        ]

    def submissions(self) -> list[SubmissionRow]:
        """Every graded submission, sorted by name."""
        with self._transaction(write=False) as db:
            written = dict(db.execute("SELECT name, points FROM questions ORDER BY position"))
            grades = self._grades(db)
            rows = db.execute("SELECT outcome, tests FROM submissions ORDER BY name").fetchall()
        return [
            _submission_row(Outcome.from_json(outcome), json.loads(tests), written, grades)
            for outcome, tests in rows
        ]

    def outcomes(self) -> list[Outcome]:
        """The graded submissions as the gradebook needs them (outcomes without verdicts)."""
        rows = self._db.execute("SELECT outcome FROM submissions ORDER BY name").fetchall()
        return [Outcome.from_json(outcome) for (outcome,) in rows]

    def submission(self, name: str) -> SubmissionRow:
        """One graded submission; GradebookError if there is none of that name."""
        for row in self.submissions():
            if row.name == name:
                return row
        raise GradebookError(f"no graded submission named {name!r}")

    def rubric(self, question: str) -> list[RubricItem]:
        """The rubric items of ``question``, in their order."""
        rows = self._db.execute(
            "SELECT id, question, points, text, position FROM rubric_items WHERE question = ? "
            "ORDER BY position, id",
            (question,),
        ).fetchall()
        return [RubricItem(*row) for row in rows]

    def rubric_item(self, item_id: int) -> RubricItem:
        """One rubric item; GradebookError if there is none with that id."""
        return self._item(self._db, item_id)

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
            points, text = check_item_points(points, limit), check_item_text(text)
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
            new_points = item.points if points is None else check_item_points(points, limit)
            new_text = item.text if text is None else check_item_text(text)
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

    def applied_to(self, item_id: int) -> list[str]:
        """The submissions whose answer has rubric item ``item_id`` applied, sorted."""
        rows = self._db.execute(
            "SELECT submission FROM applied WHERE item_id = ? ORDER BY submission", (item_id,)
        ).fetchall()
        return [submission for (submission,) in rows]

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
        score = check_score(score, points, what=f"the score of {submission} for {question}")
        applied = self._applied_points(db, submission, question)
        self._write_grade(
            db, submission, question, adjustment=score - applied, fingerprint=fingerprint
        )

    def _set_comment(self, db, submission: str, question: str, comment) -> None:
        self._require_answer(db, submission, question)
        comment = check_comment(comment)
        self._ensure_grade(db, submission, question)
        db.execute(
            "UPDATE grades SET comment = ?, updated_at = ? WHERE submission = ? AND question = ?",
            (comment, _now(), submission, question),
        )

    def _apply(self, db, submission: str, question: str, item_id: int, *, applied: bool) -> None:
        _, fingerprint = self._require_answer(db, submission, question)
        item = self._item(db, item_id)
        if item.question != question:
            raise GradebookError(
                f"rubric item {item_id} belongs to {item.question}, not {question}"
            )
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
            raise GradebookError(f"no written question named {question!r}")
        return points

    def _require_answer(self, db, submission: str, question: str) -> tuple[float, str]:
        points = self._require_points(db, question)
        row = db.execute(
            "SELECT a.fingerprint FROM answers a JOIN submissions s ON s.name = a.submission "
            "WHERE a.submission = ? AND a.question = ?",
            (submission, question),
        ).fetchone()
        if row is None:
            raise GradebookError(f"no answer of {submission!r} to {question} was collected")
        return points, row[0]

    @staticmethod
    def _item(db, item_id) -> RubricItem:
        row = db.execute(
            "SELECT id, question, points, text, position FROM rubric_items WHERE id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            raise GradebookError(f"no rubric item {item_id!r}")
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
        return grades.get((submission, question)) or Grade.ungraded(submission, question)

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
            score = score_of(adjustment, [p for _, p in applied], points)
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


def _submission_row(outcome: Outcome, tests: list[dict], written: dict[str, float], grades):
    name = outcome.submission
    own = {q: grades.get((name, q)) or Grade.ungraded(name, q) for q in written}
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dump(value) -> str:
    return json.dumps(value, sort_keys=True)
