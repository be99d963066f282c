"""Item analysis of a graded folder: how each question and hidden test behaved across the class.

For each question, autograded or written: the mean score and its discrimination, the Pearson
correlation of the question's score with the rest of the total (a question that strong students
get right and weak ones miss discriminates well; one near 0 or negative deserves a look). For each
hidden test: how often it failed. Plots are drawn on the server with matplotlib's Agg backend as
SVG, so the page needs nothing from elsewhere.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

GRADED_STATUSES = ("ok",)  # submissions with a total (``labkit.gradebook.totals``)
MIN_FOR_DISCRIMINATION = 20


@dataclass(frozen=True)
class QuestionStat:
    """How one question scored: mean, how many scores, and discrimination (None if undefined)."""

    name: str
    kind: str  # "autograded" or "written"
    points: float | None
    mean: float | None
    count: int
    discrimination: float | None
    bonus: bool = False

    @property
    def label(self) -> str:
        """The name as the page shows it: bonus questions say so."""
        return f"{self.name} (bonus)" if self.bonus else self.name


@dataclass(frozen=True)
class TestStat:
    """How often one hidden test failed."""

    question: str
    name: str
    failures: int
    runs: int

    @property
    def rate(self) -> float:
        """The share of runs that failed."""
        return self.failures / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class ItemRow:
    """One submission as the analysis reads it: status, total before any late penalty, and each
    question's score that counts (None: not graded yet, or stale), in notebook order."""

    status: str
    total: float | None
    scores: dict[str, float | None]
    tests: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """The item analysis of a graded folder."""

    count: int
    questions: list[QuestionStat] = field(default_factory=list)
    tests: list[TestStat] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    max_total: float = 0.0
    bonus_max: float = 0.0

    @property
    def warning(self) -> str:
        """Why the discrimination should not be read, if there are too few submissions."""
        if self.count >= MIN_FOR_DISCRIMINATION:
            return ""
        return (
            f"Only {self.count} graded submission(s): with fewer than {MIN_FOR_DISCRIMINATION}, "
            "a correlation is mostly noise, so the discrimination below means little."
        )


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r of two equally long samples, or None when it is undefined (n < 3, no spread)."""
    n = len(xs)
    if n != len(ys) or n < 3:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def build_report(rows: Iterable[ItemRow], manifest) -> Report:
    """The item analysis of submission rows, question by question in the manifest's order.

    Only submissions with a total count. A written question's statistics use the scores that
    count so far; a submission's total is its points so far (before any late penalty).
    """
    rows = [row for row in rows if row.status in GRADED_STATUSES and row.total is not None]
    totals = [float(row.total) for row in rows]
    stats = []
    for question in manifest.questions:
        pairs = []
        for row, total in zip(rows, totals, strict=True):
            score = row.scores.get(question.name)
            if score is not None:
                pairs.append((float(score), total - float(score)))
        stats.append(
            QuestionStat(
                name=question.name,
                kind=question.kind,
                points=question.points,
                mean=sum(s for s, _ in pairs) / len(pairs) if pairs else None,
                count=len(pairs),
                discrimination=correlation([s for s, _ in pairs], [r for _, r in pairs]),
                bonus=question.bonus,
            )
        )
    runs: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        for test in row.tests:
            if test.get("hidden"):
                key = (str(test.get("question", "")), str(test.get("test", "")))
                counts = runs.setdefault(key, [0, 0])
                counts[0] += 0 if test.get("passed") else 1
                counts[1] += 1
    order = {name: k for k, name in enumerate(manifest.names)}
    tests = sorted(
        (TestStat(q, name, failures, total) for (q, name), (failures, total) in runs.items()),
        key=lambda t: (order.get(t.question, len(order)), t.question),
    )
    return Report(
        count=len(rows),
        questions=stats,
        tests=tests,
        totals=totals,
        max_total=manifest.maximum,
        bonus_max=manifest.bonus_max,
    )


def analyse(store) -> Report:
    """The item analysis of everything in a review store."""
    from labkit.gradebook.refresh import load_rows

    settings, rows, _ = load_rows(store)
    tests = {row.name: row.tests for row in store.submissions()}
    items = [
        ItemRow(
            status=row.outcome.status.value,
            total=row.totals.before_penalty,
            scores={part.name: part.score for part in row.totals.parts},
            tests=tests.get(row.submission, []),
        )
        for row in rows
    ]
    return build_report(items, settings.manifest)


def _svg(figure: Figure) -> bytes:
    """A matplotlib figure as SVG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()


def histogram_svg(report: Report) -> bytes:
    """Histogram of the submissions' totals (autograded plus written scores so far)."""
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    top = max(report.max_total + report.bonus_max, 1.0)
    axes.hist(report.totals, bins=list(range(0, int(math.ceil(top)) + 2)), color="#1f5fa8")
    axes.set_xlim(0, top + 0.5)
    axes.axvline(report.max_total, color="#555", linestyle="--", linewidth=1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("total score")
    axes.set_ylabel("submissions")
    axes.set_title(f"Totals of {report.count} submissions")
    return _svg(figure)


def question_means_svg(report: Report) -> bytes:
    """Each question's mean score as a share of its points, autograded and written."""
    stats = [s for s in report.questions if s.mean is not None and s.points]
    figure = Figure(figsize=(7, 0.35 * max(len(stats), 3) + 1))
    axes = figure.add_subplot()
    colors = ["#1f5fa8" if s.kind == "autograded" else "#d98c00" for s in stats]
    axes.barh([s.label for s in stats], [s.mean / s.points for s in stats], color=colors)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("mean score / points (blue: autograded, orange: written)")
    return _svg(figure)


def failure_rates_svg(report: Report) -> bytes:
    """Each hidden test's failure rate."""
    tests = report.tests
    figure = Figure(figsize=(7, 0.3 * max(len(tests), 3) + 1))
    axes = figure.add_subplot()
    axes.barh([f"{t.question}: {t.name}" for t in tests], [t.rate for t in tests], color="#a61b1b")
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("failure rate")
    return _svg(figure)


PLOTS: dict[str, Callable[[Report], bytes]] = {
    "histogram": histogram_svg,
    "questions": question_means_svg,
    "tests": failure_rates_svg,
}
