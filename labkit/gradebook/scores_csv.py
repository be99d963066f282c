"""Written scores through a spreadsheet: ``labkit review OUT --export FILE`` and ``--import FILE``.

The export has one row per collected answer: ``submission, question, score, comment, rubric``
(the rubric items applied, as the student reads them, joined by ``; ``). An import reads that
file back, or one with the first four columns only, as a spreadsheet saves it: ``,`` or ``;``
between cells, ``1.5`` or ``1,5`` for a score. It is all rows or none: a bad row is named (the
header is row 1, as a spreadsheet counts) and nothing of the file is kept.

What an imported row does: an empty score leaves the score as it is, and so does the score the
answer already has; another score replaces the rubric's (the items applied to that answer are
removed, and the page and the feedback say which the imported score replaced). An empty comment
keeps the stored comment. The ``rubric`` column is for reading: it is not imported.
"""

from __future__ import annotations

from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.csvcells import (
    TableError,
    guard,
    parse_number,
    read_table,
    unguard,
    write_table,
)
from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.grades import MAX_COMMENT_CHARS, check_score
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore

EXPORT_COLUMNS = ["submission", "question", "score", "comment", "rubric"]
IMPORT_COLUMNS = EXPORT_COLUMNS[:4]


def export_scores(output_dir: Path, path: Path) -> int:
    """Write every collected answer's ``submission, question, score, comment, rubric`` to a CSV
    file (an ungraded answer has an empty score). Returns the number of rows written."""
    with ReviewStore.open(output_dir) as store:
        texts = {
            item.id: f"{item.text} ({item.points:+g})"
            for q in store.questions()
            for item in store.rubric(q.name)
        }
        rows = [
            (
                a.submission,
                q.name,
                "" if a.grade.score is None else f"{a.grade.score:g}",
                a.grade.comment,
                "; ".join(texts[i] for i in a.grade.rubric_ids if i in texts),
            )
            for q in store.questions()
            for a in store.answers(q.name)
        ]
    table = [EXPORT_COLUMNS]
    table += [
        [guard(sub), q, score, guard(comment), guard(rubric)]
        for sub, q, score, comment, rubric in sorted(rows)
    ]
    write_atomically(Path(path), write_table(table))
    return len(rows)


def import_scores(output_dir: Path, path: Path) -> int:
    """Read a CSV of ``submission, question, score, comment[, rubric]`` into the store: all rows
    or none (see the module's docstring for what each row does).

    Any problem (an unknown submission or question, a score out of range, a malformed row)
    raises GradebookError naming the row and nothing of the file is imported. Returns the number
    of rows imported.
    """
    path = Path(path)
    try:
        table = read_table(path)
    except TableError as exc:
        raise GradebookError(str(exc)) from None
    header = [c.strip().casefold() for c in table[0]] if table else []
    if header not in (EXPORT_COLUMNS, IMPORT_COLUMNS):
        raise GradebookError(
            f"{path}: row 1 must be the header {','.join(EXPORT_COLUMNS)} (or its first four)"
        )
    width = len(header)
    with ReviewStore.open(output_dir) as store:
        points = {q.name: q.points for q in store.questions()}
        answered = {(a.submission, q) for q in points for a in store.answers(q)}
        rows, seen = [], {}
        for number, cells in enumerate(table[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            where = f"{path}: row {number}"
            if len(cells) != width:
                raise GradebookError(f"{where}: expected {width} values, found {len(cells)}")
            submission, question, score_text, comment = (unguard(c) for c in cells[:4])
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
                    number_value = parse_number(score_text)
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
            rows.append((submission, question, score, comment if comment.strip() else None))
        try:
            store.import_rows(rows)
        except GradebookError as exc:
            raise GradebookError(f"{path}: {exc}") from None
    refresh_reports(GradedFolder(output_dir))
    return len(rows)
