"""Changing the TAs' grades of written answers: scores, comments, rubric items, imports.

A mixin of ``ReviewStore`` (``labkit.gradebook.store``): every change is one ``BEGIN IMMEDIATE``
transaction, its values checked by the rules of ``labkit.gradebook.grades``. A score set by a TA
(typed, a rubric item applied, or confirmed) records the answer's fingerprint, so that a later
change of the answer makes it stale.
"""

from __future__ import annotations

import json

from labkit.gradebook.folder import GradebookError
from labkit.gradebook.grades import (
    Grade,
    RubricItem,
    check_comment,
    check_item_points,
    check_item_text,
    check_score,
)


class GradeEdits:
    """The changes of ``ReviewStore``; see its class for the connection and reads."""

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

    def confirm(self, submission: str, question: str) -> Grade:
        """Keep a stale score for the changed answer: it counts again, as it stands."""
        with self._transaction() as db:
            _, fingerprint = self._require_answer(db, submission, question)
            grade = self._grade(db, submission, question)
            if grade.score is None:
                raise GradebookError(f"{submission} has no score for {question} to confirm")
            db.execute(
                "UPDATE grades SET scored_fingerprint = ?, updated_at = ? "
                "WHERE submission = ? AND question = ?",
                (fingerprint, _now(), submission, question),
            )
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

    def import_rows(self, rows: list[tuple[str, str, float | None, str | None]]) -> None:
        """Set ``(submission, question, score, comment)`` rows in one transaction: all or none.

        A score of ``None``, or the score the answer already has, leaves it as it is; another
        score replaces the rubric's: the items applied to that answer are removed and recorded
        as replaced (the page and the feedback say so), and the score is the one imported. A
        comment of ``None`` keeps the stored one.
        """
        with self._transaction() as db:
            for submission, question, score, comment in rows:
                if score is not None and score != self._grade(db, submission, question).score:
                    self._replace_rubric(db, submission, question)
                    self._set_score(db, submission, question, score)
                if comment is not None:
                    self._set_comment(db, submission, question, comment)

    # --- inside a transaction ---------------------------------------------------------------------

    def _replace_rubric(self, db, submission: str, question: str) -> None:
        items = db.execute(
            "SELECT r.text, r.points FROM applied a JOIN rubric_items r ON r.id = a.item_id "
            "WHERE a.submission = ? AND a.question = ? ORDER BY r.position, r.id",
            (submission, question),
        ).fetchall()
        if not items:
            return
        db.execute(
            "DELETE FROM applied WHERE submission = ? AND question = ?", (submission, question)
        )
        texts = [f"{text} ({points:+g})" for text, points in items]
        db.execute(
            "INSERT OR REPLACE INTO replaced_rubric VALUES (?, ?, ?, ?)",
            (submission, question, json.dumps(texts), _now()),
        )

    def _set_score(self, db, submission: str, question: str, score) -> None:
        points, fingerprint = self._require_answer(db, submission, question)
        if score is None:
            db.execute(
                "DELETE FROM applied WHERE submission = ? AND question = ?", (submission, question)
            )
            db.execute(
                "DELETE FROM replaced_rubric WHERE submission = ? AND question = ?",
                (submission, question),
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
            db.execute(  # the rubric is in use again: no imported score replaces it now
                "DELETE FROM replaced_rubric WHERE submission = ? AND question = ?",
                (submission, question),
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


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
