"""The batch summary: the lines ``labkit grade`` prints at the end, and ``summary.png``.

Both read the folder's rows (``labkit.gradebook.ledger``): each question in notebook order, the
bonus and the written questions marked, totals as ``totals.compute_totals`` counts them (the
maximum is the regular points, the bonus on top). Before the written answers are graded, the
totals are points so far, and the summary says so.
"""

from __future__ import annotations

import io
import math
import statistics
from collections import Counter

from labkit.atomic import write_atomically
from labkit.gradebook.ledger import Row, Settings, build_rows
from labkit.gradebook.manifest import fallback_manifest
from labkit.gradebook.outcome import FINAL_STATUSES, BatchResult, Status


def _rows_of(result: BatchResult) -> tuple[Settings, list[Row]]:
    """The result's rows, or rows built from its outcomes alone (no written grades)."""
    if result.settings is not None and result.rows is not None:
        return result.settings, result.rows
    settings = Settings(manifest=fallback_manifest(result.points, {}))
    rows, _ = build_rows(settings, result.outcomes)
    return settings, rows


def question_means(
    settings: Settings, rows: list[Row]
) -> list[tuple[str, str, float, float | None]]:
    """Each question's ``(label, kind, points, mean)`` over the graded rows, in notebook order
    (a written question's mean is over the scores that count so far; None if there are none)."""
    graded = [row for row in rows if row.totals.graded]
    means = []
    for question in settings.manifest.questions:
        scores = [
            part.score
            for row in graded
            if (part := row.totals.part(question.name)) is not None and part.score is not None
        ]
        label = question.label if question.autograded else f"{question.name} (written)"
        means.append(
            (label, question.kind, question.points, statistics.fmean(scores) if scores else None)
        )
    return means


def summary_text(result: BatchResult) -> str:
    """The summary printed at the end: mean per question, totals and their distribution,
    written answers still to grade, flags, counts by status, time."""
    settings, rows = _rows_of(result)
    manifest = settings.manifest
    graded = [row for row in rows if row.totals.graded]
    lines = []
    if graded:
        width = max([18, *(len(label) + 2 for label, *_ in question_means(settings, rows))])
        lines.append(f"{'question':<{width}}{'mean':>7}{'points':>8}{'share':>8}")
        for label, _kind, points, mean in question_means(settings, rows):
            shown = "-" if mean is None else f"{mean:.2f}"
            share = f"{mean / points:.0%}" if points and mean is not None else "-"
            lines.append(f"{label:<{width}}{shown:>7}{points:>8g}{share:>8}")
        bonus = f" (+{manifest.bonus_max:g} bonus)" if manifest.bonus_max else ""
        complete = [row.totals.total for row in graded if row.totals.complete]
        waiting = len(graded) - len(complete)
        if complete:
            lines.append(
                f"total: mean {statistics.fmean(complete):.2f} / {manifest.maximum:g}{bonus}, "
                f"median {statistics.median(complete):g}, min {min(complete):g}, "
                f"max {max(complete):g}" + (f" ({len(complete)} final)" if waiting else "")
            )
            lines.append("distribution: " + _distribution(complete, manifest.maximum))
        if waiting:
            so_far = [row.totals.total for row in graded if not row.totals.complete]
            lines.append(
                f"not final: {waiting} submission(s) have written answers still to grade "
                f"(labkit review); points so far: mean {statistics.fmean(so_far):.2f} / "
                f"{manifest.maximum:g}{bonus}"
            )
    if settings.course.due is not None:
        late = [row for row in rows if row.lateness is not None and row.lateness.days]
        unknown = [row for row in rows if row.lateness is not None and row.lateness.days is None]
        lines.append(
            f"{settings.course.describe()}: {len(late)} late"
            + (f", {len(unknown)} without a known time (no penalty; see the message column)"
               if unknown else "")
        )  # fmt: skip
    flagged = [row.submission for row in rows if row.outcome.flags]
    if flagged:
        lines.append(
            f"flagged for review: {len(flagged)} ({', '.join(flagged)}); see the message column"
        )
    counts = result.counts()
    by_status = ", ".join(
        f"{s.value} {counts[s]}" for s in (*FINAL_STATUSES, Status.PENDING) if counts[s]
    )
    lines.append(
        f"{len(result.outcomes)} submissions ({by_status}; {result.skipped} already graded) "
        f"in {result.seconds:.1f} s"
    )
    if result.phases:
        spent = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in result.phases.items())
        servers = f"; grading servers started in {result.server_seconds:.1f} s"
        lines.append(
            f"time per phase, summed (s): {spent}" + (servers if result.server_seconds else "")
        )
    lines += [f"sandbox: {note}" for note in result.sandbox]
    return "\n".join(lines)


def _distribution(totals: list[float], maximum: float) -> str:
    edges = [maximum * k / 5 for k in range(6)]
    bins = Counter(min(int(t / maximum * 5), 4) if maximum else 0 for t in totals)
    return "  ".join(f"{edges[k]:g}-{edges[k + 1]:g}: {bins[k]}" for k in range(5))


def summary_figure(result: BatchResult):
    """The figure of ``summary.png``: the histogram of totals (whole-number counts, the x axis to
    the maximum plus the bonus) and each question's mean as a share of its points, written
    ones included, in notebook order."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    settings, rows = _rows_of(result)
    manifest = settings.manifest
    graded = [row for row in rows if row.totals.graded]
    top = manifest.maximum + manifest.bonus_max
    fig = Figure(figsize=(11, 4.5))
    left, right = fig.subplots(1, 2)
    edges = list(range(0, int(math.ceil(top)) + 2)) if top else [0, 1]
    left.hist([row.totals.total for row in graded], bins=edges, color="#1f5fa8")
    left.set_xlim(0, max(top, 1) + 0.5)
    left.axvline(manifest.maximum, color="#555", linestyle="--", linewidth=1)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel(
        f"total (maximum {manifest.maximum:g}"
        + (f", bonus up to {manifest.bonus_max:g} on top)" if manifest.bonus_max else ")")
    )
    left.set_ylabel("submissions")
    waiting = sum(1 for row in graded if not row.totals.complete)
    title = f"{len(graded)} graded submissions"
    left.set_title(title + (f" ({waiting} not final: written answers to grade)" if waiting else ""))
    means = question_means(settings, rows)
    shares = [mean / points if points and mean is not None else 0.0 for _, _, points, mean in means]
    colors = ["#1f5fa8" if kind == "autograded" else "#d98c00" for _, kind, _, _ in means]
    right.barh([label for label, *_ in means], shares, color=colors)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("mean score / points (blue: autograded, orange: written, so far)")
    fig.tight_layout()
    return fig


def write_summary_png(path, result: BatchResult) -> None:
    """Save ``summary_figure`` as ``summary.png``, atomically."""
    buffer = io.BytesIO()
    summary_figure(result).savefig(buffer, format="png", dpi=100)
    write_atomically(path, buffer.getvalue())
