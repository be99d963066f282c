"""The reports follow the store: ``gradebook.csv``, each ``feedback.txt`` and ``summary.png``.

The review store is the record of the TAs' grades; after a change (in the app, by an import, or
after ``labkit grade``) the gradebook and the students' feedback are rewritten from the store's
copies of the outcomes, its grades and overrides, and the folder's settings
(``labkit.gradebook.ledger``), so every number comes from the one function.
"""

from __future__ import annotations

import dataclasses

from labkit.gradebook import reports
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.ledger import Row, Settings, build_rows
from labkit.gradebook.outcome import BatchResult, Outcome, Status
from labkit.gradebook.roster import Join
from labkit.gradebook.store import ReviewStore
from labkit.gradebook.totals import Override, WrittenScore


@dataclasses.dataclass
class StoredGrades:
    """The TAs' grades and overrides a folder's store holds (none if it has no store)."""

    written: dict[tuple[str, str], WrittenScore] = dataclasses.field(default_factory=dict)
    overrides: dict[tuple[str, str], Override] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, folder: GradedFolder) -> StoredGrades:
        """The grades of ``folder``'s store, if it has one (opening it brings it up to date)."""
        if not folder.store.exists():
            return cls()
        with ReviewStore.open(folder.path) as store:
            return cls(written=store.written_scores(), overrides=store.overrides())


def load_rows(store: ReviewStore) -> tuple[Settings, list[Row], Join | None]:
    """The folder's settings and every stored submission's row, from an open store."""
    outcomes = store.outcomes()
    settings = Settings.load(store.folder, autograded=_autograded_points(outcomes))
    rows, joined = build_rows(
        settings, outcomes, written=store.written_scores(), overrides=store.overrides()
    )
    return settings, rows, joined


def _autograded_points(outcomes: list[Outcome]) -> dict[str, float]:
    return next((o.points for o in outcomes if o.points), {})


def refresh_reports(
    folder: GradedFolder, *, submissions: list[str] | None = None, summary: bool = False
) -> None:
    """Rewrite the gradebook and the feedback of ``submissions`` (all if None) from the store;
    with ``summary``, ``summary.png`` too (drawing it takes a while: ``labkit grade`` and the
    review server's stop ask for it).

    Rows the gradebook lists as ``pending`` (a batch that was stopped) stay listed.
    """
    with ReviewStore.open(folder.path) as store:
        settings, rows, _ = load_rows(store)
    graded = {row.submission for row in rows}
    pending = [
        Outcome.new(
            name,
            Status.PENDING,
            points=_autograded_points([r.outcome for r in rows]),
            maximum=settings.manifest.maximum,
            bonus_max=settings.manifest.bonus_max,
        )
        for name in folder.pending()
        if name not in graded
    ]
    extra, _ = build_rows(settings, pending)
    all_rows = sorted(rows + extra, key=lambda row: row.submission)
    reports.write_gradebook(folder.gradebook, settings, all_rows)
    names = graded if submissions is None else set(submissions) & graded
    for row in rows:
        if row.submission not in names:
            continue
        outcome = folder.load_outcome(row.submission)
        if outcome is not None:
            full = dataclasses.replace(row, outcome=outcome)
            folder.write_feedback(row.submission, reports.feedback_text(full))
    if summary and rows:
        result = BatchResult(
            [row.outcome for row in all_rows],
            _autograded_points([r.outcome for r in rows]),
            0.0,
            0,
            settings=settings,
            rows=all_rows,
        )
        reports.write_summary_png(folder.summary_png, result)
