"""The reports follow the store: ``gradebook.csv`` and each ``feedback.txt`` rewritten from it.

The review store is the record of the TAs' grades; after a change (in the app, by an import, or
after ``labkit grade``) the gradebook and the students' feedback are rewritten from the store's
copies of the outcomes and its grades.
"""

from __future__ import annotations

from labkit.gradebook import reports
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.store import ReviewStore


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


def stored_written_grades(folder: GradedFolder, points: dict[str, float]) -> reports.WrittenGrades:
    """The written questions (``points``, in notebook order) and the grades already given in
    the folder's review store, if it has one."""
    if not folder.store.exists():
        return reports.WrittenGrades(points=points)
    with ReviewStore.open(folder.path) as store:
        grades = written_grades(store)
    return reports.WrittenGrades(points=points, scores=grades.scores)


def refresh_reports(folder: GradedFolder, *, submissions: list[str] | None = None) -> None:
    """Rewrite the gradebook and the feedback of ``submissions`` (all if None) from the store.

    Rows the gradebook lists as ``pending`` (a batch that was stopped) stay listed.
    """
    with ReviewStore.open(folder.path) as store:
        grades = written_grades(store)
        outcomes = store.outcomes()
    graded = {o.submission for o in outcomes}
    points = next((o.points for o in outcomes if o.points), {})
    outcomes += [
        Outcome.new(name, Status.PENDING, points=points)
        for name in folder.pending()
        if name not in graded
    ]
    reports.write_gradebook(folder.gradebook, outcomes, points, written=grades)
    names = graded if submissions is None else set(submissions) & graded
    for name in sorted(names):
        outcome = folder.load_outcome(name)
        if outcome is not None:
            folder.write_feedback(name, reports.feedback_text(outcome, written=grades))
