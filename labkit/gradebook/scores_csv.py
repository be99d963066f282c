"""Written scores through a spreadsheet: ``labkit review OUT --export FILE`` and ``--import FILE``.

The file has one row per collected answer: ``submission, question, score, comment``. An import is
all rows or none: a bad row is named (the header is row 1, as a spreadsheet counts) and nothing
of the file is kept.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.grades import MAX_COMMENT_CHARS, check_score
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore

EXPORT_COLUMNS = ["submission", "question", "score", "comment"]


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
    GradebookError naming the row and nothing of the file is imported. Returns the number of
    rows imported.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GradebookError(f"{path}: cannot read it ({exc})") from None
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise GradebookError(f"{path}: not a CSV file ({exc})") from None
    if not table or [c.strip() for c in table[0]] != EXPORT_COLUMNS:
        raise GradebookError(f"{path}: row 1 must be the header {','.join(EXPORT_COLUMNS)}")
    with ReviewStore.open(output_dir) as store:
        points = {q.name: q.points for q in store.questions()}
        answered = {(a.submission, q) for q in points for a in store.answers(q)}
        rows, seen = [], {}
        for number, cells in enumerate(table[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            where = f"{path}: row {number}"
            if len(cells) != len(EXPORT_COLUMNS):
                raise GradebookError(f"{where}: expected 4 values, found {len(cells)}")
            submission, question, score_text, comment = cells
            if question not in points:
                raise GradebookError(f"{where}: unknown written question {question!r}")
            if (submission, question) not in answered:
                raise GradebookError(f"{where}: unknown submission {submission!r}")
            if (submission, question) in seen:
                raise GradebookError(
                    f"{where}: {submission} {question} is on row {seen[submission, question]} too"
                )
            seen[submission, question] = number
            score = None
            if score_text.strip():
                try:
                    number_value = float(score_text)
                except ValueError:
                    raise GradebookError(
                        f"{where}: the score {score_text!r} is not a number"
                    ) from None
                try:
                    score = check_score(number_value, points[question], what="the score")
                except GradebookError as exc:
                    raise GradebookError(f"{where}: {exc}") from None
            if len(comment) > MAX_COMMENT_CHARS:
                raise GradebookError(f"{where}: the comment is longer than {MAX_COMMENT_CHARS}")
            rows.append((submission, question, score, comment))
        try:
            store.import_rows(rows)
        except GradebookError as exc:
            raise GradebookError(f"{path}: {exc}") from None
    refresh_reports(GradedFolder(output_dir))
    return len(rows)
