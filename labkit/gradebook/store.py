"""The TAs' grades of written answers: ``OUT/review.sqlite``, beside what ``labkit grade`` wrote.

The store copies what it needs of ``OUT/written_questions.json`` and ``OUT/*/results.json`` (the
answers, as data) and keeps what only it holds: scores, comments, rubrics (``schema``). Regrading
rewrites the copies and keeps the grades; a grade whose answer changed since it was scored is
*stale*, and counts as ungraded until a TA confirms or rescores it. Scores follow the rules of
``grades``.

Each ``ReviewStore`` has its own connection; several processes or threads may write at once (WAL,
every change one ``BEGIN IMMEDIATE`` transaction, waiting for the others).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labkit.gradebook import schema
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.grades import Answer, Grade, Progress, RubricItem, SubmissionRow, score_of
from labkit.gradebook.outcome import Outcome
from labkit.gradebook.store_edits import GradeEdits
from labkit.gradebook.store_extras import ReviewExtras
from labkit.gradebook.totals import WrittenScore
from labkit.gradebook.written import WrittenQuestion, questions_from_json


class ReviewStore(GradeEdits, ReviewExtras):
    """One connection to ``OUT/review.sqlite``; use one per thread or process.

    Reading and syncing are here; the changes of grades are ``GradeEdits``'
    (``store_edits``), overrides, settings and pseudonyms ``ReviewExtras``' (``store_extras``).
    """

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
            self._assign_pseudonyms(db, sorted(found))

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
            written = [
                name for (name,) in db.execute("SELECT name FROM questions ORDER BY position")
            ]
            grades = self._grades(db)
            pseudonyms = dict(db.execute("SELECT submission, pseudonym FROM pseudonyms"))
            rows = db.execute("SELECT outcome, tests FROM submissions ORDER BY name").fetchall()
        return [
            _submission_row(
                Outcome.from_json(outcome), json.loads(tests), written, grades, pseudonyms
            )
            for outcome, tests in rows
        ]

    def written_scores(self) -> dict[tuple[str, str], WrittenScore]:
        """Every written grade given or commented, as the reports and totals read it (rubric
        items as the student reads them; stale ones marked)."""
        texts = {
            item_id: f"{text} ({points:+g})"
            for item_id, text, points in self._db.execute(
                "SELECT id, text, points FROM rubric_items"
            )
        }
        with self._transaction(write=False) as db:
            grades = self._grades(db)
        scores = {}
        for key, grade in grades.items():
            if grade.score is None and not grade.comment and not grade.replaced_rubric:
                continue
            scores[key] = WrittenScore(
                score=grade.score,
                comment=grade.comment,
                rubric=tuple(texts[i] for i in grade.rubric_ids if i in texts),
                stale=grade.stale,
                replaced_rubric=grade.replaced_rubric,
            )
        return scores

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

    def progress(self, question: str) -> Progress:
        """``(graded, answers, stale)`` for ``question``: a stale score is not graded."""
        graded, total, stale = self._db.execute(
            "SELECT COALESCE(SUM(g.adjustment IS NOT NULL "
            "AND g.scored_fingerprint = a.fingerprint), 0), COUNT(*), "
            "COALESCE(SUM(g.adjustment IS NOT NULL "
            "AND g.scored_fingerprint IS NOT a.fingerprint), 0) "
            "FROM answers a JOIN submissions s ON s.name = a.submission "
            "LEFT JOIN grades g ON g.submission = a.submission AND g.question = a.question "
            "WHERE a.question = ?",
            (question,),
        ).fetchone()
        return Progress(graded, total, stale)

    def grade(self, submission: str, question: str) -> Grade:
        """The grade of one answer (ungraded if never touched)."""
        with self._transaction(write=False) as db:
            return self._grade(db, submission, question)

    # --- inside a transaction ---------------------------------------------------------------------

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
        replaced = {
            (sub, q): tuple(json.loads(texts))
            for sub, q, texts in db.execute(
                "SELECT submission, question, items FROM replaced_rubric"
            )
        }
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
                replaced_rubric=() if applied else replaced.get((sub, q), ()),
            )
        return grades


def _submission_row(
    outcome: Outcome, tests: list[dict], written: list[str], grades, pseudonyms: dict[str, str]
) -> SubmissionRow:
    name = outcome.submission
    return SubmissionRow(
        name=name,
        status=outcome.status.value,
        scores=outcome.scores,
        flags=outcome.flags,
        notes=outcome.notes,
        message=outcome.message,
        tests=tests,
        students=outcome.students,
        written={q: grades.get((name, q)) or Grade.ungraded(name, q) for q in written},
        pseudonym=pseudonyms.get(name, ""),
    )


def _dump(value) -> str:
    return json.dumps(value, sort_keys=True)
