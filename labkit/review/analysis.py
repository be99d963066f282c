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

GRADED_STATUSES = ("ok", "timeout")  # a timeout still has the answers it recorded


@dataclass(frozen=True)
class QuestionStat:
    """How one question scored: mean, how many scores, and discrimination (None if undefined)."""

    name: str
    kind: str  # "autograded" or "written"
    points: float | None
    mean: float | None
    count: int
    discrimination: float | None


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
class Report:
    """The item analysis of a graded folder."""

    count: int
    questions: list[QuestionStat] = field(default_factory=list)
    tests: list[TestStat] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    max_total: float = 0.0


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


def build_report(rows: Iterable, written_points: dict[str, float]) -> Report:
    """The item analysis of submission rows (the store's ``SubmissionRow``) and written questions.

    Only submissions with a total count (the store gives one to those graded to the end). A
    written question's statistics use the answers scored so far; a submission's total (the
    store's) is its autograded total plus its written scores so far.
    """
    rows = [row for row in rows if str(row.status) in GRADED_STATUSES and row.total is not None]
    autograded: list[str] = []
    auto_points: dict[str, float] = {}
    for row in rows:
        for name in row.scores:
            if name not in autograded:
                autograded.append(name)
        per_question: dict[str, float] = {}
        for test in row.tests:
            if test.get("hidden"):
                question = str(test.get("question", ""))
                per_question[question] = per_question.get(question, 0.0) + float(test["points"])
        for question, points in per_question.items():
            auto_points[question] = max(auto_points.get(question, 0.0), points)

    def written_score(row, name: str) -> float | None:
        grade = row.written.get(name)
        return None if grade is None else grade.score

    # The store's total already counts the written scores given so far.
    totals = [float(row.total) for row in rows]
    stats = []
    for kind, names in (("autograded", autograded), ("written", list(written_points))):
        for name in names:
            pairs = []
            for row, total in zip(rows, totals, strict=True):
                score = row.scores.get(name) if kind == "autograded" else written_score(row, name)
                if score is not None:
                    pairs.append((float(score), total - float(score)))
            points = auto_points.get(name) if kind == "autograded" else written_points[name]
            stats.append(
                QuestionStat(
                    name=name,
                    kind=kind,
                    points=points,
                    mean=sum(s for s, _ in pairs) / len(pairs) if pairs else None,
                    count=len(pairs),
                    discrimination=correlation([s for s, _ in pairs], [r for _, r in pairs]),
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
    tests = [TestStat(q, name, failures, total) for (q, name), (failures, total) in runs.items()]
    max_total = max((float(row.max_total) for row in rows), default=0.0)
    return Report(count=len(rows), questions=stats, tests=tests, totals=totals, max_total=max_total)


def analyse(store) -> Report:
    """The item analysis of everything in a review store."""
    written = {question.name: question.points for question in store.questions()}
    return build_report(store.submissions(), written)


def _svg(figure: Figure) -> bytes:
    """A matplotlib figure as SVG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()


def histogram_svg(report: Report) -> bytes:
    """Histogram of the submissions' totals (autograded plus written scores so far)."""
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    bins = max(1, min(30, int(math.ceil(report.max_total)) or 1))
    axes.hist(report.totals, bins=bins, range=(0, max(report.max_total, 1.0)), color="#1f5fa8")
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
    axes.barh([s.name for s in stats], [s.mean / s.points for s in stats], color=colors)
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
