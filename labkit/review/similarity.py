"""The Similarity pages' data: ``OUT/similarity.json`` (``labkit similarity``), read as data.

The report lists, per question, the pairs of submissions whose answers share code or text beyond
what the lab handed out, with the shared fragments' character spans in each side's text. It is
evidence for a human to weigh, never a verdict, and the pages say so. Every text in it was
written by a student: the templates escape it, and each span is checked against its text before
it is used, so a hand-edited file can only show less, never break a page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from labkit.gradebook.folder import GradebookError, GradedFolder

FORMAT = "labkit-similarity"
MAX_REPORT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class PairRow:
    """One listed pair of a question, as the list shows it."""

    a: str
    b: str
    similarity: float
    longest_fragment: int
    a_covered: float
    b_covered: float
    fragments: int


@dataclass(frozen=True)
class QuestionListing:
    """One question's pairs at or above the page's threshold, and its clusters."""

    name: str
    kind: str
    unit: str
    compared: int
    pairs: list[PairRow]
    clusters: list[dict]
    notes: list[str]


@dataclass(frozen=True)
class Segment:
    """A stretch of one side's text: plain, handed out, or inside shared fragment ``number``
    (``label``: the first stretch of that fragment on this side, where its number shows)."""

    text: str
    number: int | None = None
    handed_out: bool = False
    label: bool = False


@dataclass(frozen=True)
class Side:
    """One submission's answer, cut into segments, and when it was submitted."""

    name: str
    segments: list[Segment]
    submitted_at: str | None
    covered: float


@dataclass(frozen=True)
class SideBySide:
    """Two answers to one question, side by side, their shared fragments numbered."""

    question: str
    kind: str
    unit: str
    similarity: float
    a: Side
    b: Side
    fragments: list[dict] = field(default_factory=list)  # number, length
    first: str | None = None  # which side was submitted first, when both times are known


def load_report(folder: GradedFolder) -> dict | None:
    """The folder's similarity report (None if there is none); GradebookError naming the file
    if it is not one."""
    path = folder.similarity
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise GradebookError(f"{path}: larger than {MAX_REPORT_BYTES // 2**20} MB")
        report = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise GradebookError(f"{path}: not a readable similarity report ({exc})") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise GradebookError(f"{path}: not a similarity report written by labkit similarity")
    return report


def default_threshold(report: dict) -> float:
    """The threshold the report was written with (its pairs are all at or above it)."""
    return _number(_dict(report.get("settings")).get("threshold"), 0.7)


def listings(report: dict, *, threshold: float) -> list[QuestionListing]:
    """Each question's pairs at or above ``threshold``, most similar first, and its clusters."""
    found = []
    for question in _list(report.get("questions")):
        question = _dict(question)
        pairs = []
        for pair in map(_dict, _list(question.get("pairs"))):
            similarity = _number(pair.get("similarity"), 0.0)
            if similarity < threshold or not _names(pair):
                continue
            pairs.append(
                PairRow(
                    a=str(pair["a"]),
                    b=str(pair["b"]),
                    similarity=similarity,
                    longest_fragment=int(_number(pair.get("longest_fragment"), 0)),
                    a_covered=_number(pair.get("a_covered"), 0.0),
                    b_covered=_number(pair.get("b_covered"), 0.0),
                    fragments=len(_list(pair.get("fragments"))),
                )
            )
        pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
        clusters = [
            {
                "members": [str(m) for m in _list(c.get("members"))],
                "max_similarity": _number(c.get("max_similarity"), 0.0),
            }
            for c in map(_dict, _list(question.get("clusters")))
        ]
        found.append(
            QuestionListing(
                name=str(question.get("name", "")),
                kind=str(question.get("kind", "")),
                unit=str(question.get("unit", "")),
                compared=int(_number(question.get("compared"), 0)),
                pairs=pairs,
                clusters=[c for c in clusters if len(c["members"]) >= 3],
                notes=[str(n) for n in _list(question.get("notes"))],
            )
        )
    return found


def side_by_side(report: dict, question: str, a: str, b: str) -> SideBySide:
    """The answers of ``a`` and ``b`` to ``question``, their fragments numbered and
    highlighted; GradebookError if the report lists no such pair."""
    entry = next(
        (_dict(q) for q in _list(report.get("questions")) if _dict(q).get("name") == question),
        None,
    )
    if entry is None:
        raise GradebookError(f"the similarity report has no question named {question!r}")
    pair = next(
        (p for p in map(_dict, _list(entry.get("pairs"))) if _names(p) == (a, b)),
        None,
    )
    if pair is None:
        raise GradebookError(f"the similarity report lists no pair {a!r}, {b!r} for {question}")
    answers = _dict(entry.get("answers"))
    submissions = _dict(report.get("submissions"))
    fragments = [_dict(f) for f in _list(pair.get("fragments"))]
    sides = {}
    for key, name in (("a", a), ("b", b)):
        answer = _dict(answers.get(name))
        text = answer.get("text") if isinstance(answer.get("text"), str) else ""
        spans = [
            (f.get(key), int(_number(f.get("number"), 0)))
            for f in fragments
            if int(_number(f.get("number"), 0)) > 0
        ]
        sides[key] = Side(
            name=name,
            segments=segments(text, spans, _list(answer.get("handed_out_spans"))),
            submitted_at=_time_text(_dict(submissions.get(name)).get("submitted_at")),
            covered=_number(pair.get(f"{key}_covered"), 0.0),
        )
    return SideBySide(
        question=question,
        kind=str(entry.get("kind", "")),
        unit=str(entry.get("unit", "")),
        similarity=_number(pair.get("similarity"), 0.0),
        a=sides["a"],
        b=sides["b"],
        fragments=[
            {"number": int(_number(f.get("number"), 0)), "length": int(_number(f.get("length"), 0))}
            for f in fragments
        ],
        first=_first(sides["a"], sides["b"]),
    )


def segments(text: str, fragments: list, handed_out: list) -> list[Segment]:
    """``text`` cut where a shared fragment (``(span, number)``) or a handed-out span starts or
    ends; a span that does not fit the text is left out."""
    size = len(text)
    number_at: list[int | None] = [None] * size
    given_at = [False] * size
    for span, number in fragments:
        start, end = _span(span, size)
        for i in range(start, end):
            if number_at[i] is None or number < number_at[i]:
                number_at[i] = number
    for span in handed_out:
        start, end = _span(span, size)
        for i in range(start, end):
            given_at[i] = True
    found: list[Segment] = []
    labelled: set[int] = set()
    start = 0
    for i in range(1, size + 1):
        if i < size and (number_at[i], given_at[i]) == (number_at[start], given_at[start]):
            continue
        number = number_at[start]
        label = number is not None and number not in labelled
        if label:
            labelled.add(number)
        found.append(Segment(text[start:i], number, given_at[start] and number is None, label))
        start = i
    return found


def _span(span, size: int) -> tuple[int, int]:
    if not isinstance(span, list) or len(span) != 2:
        return 0, 0
    start, end = span
    if isinstance(start, bool) or isinstance(end, bool):
        return 0, 0
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= size:
        return 0, 0
    return start, end


def _first(a: Side, b: Side) -> str | None:
    times = [_parsed(a.submitted_at), _parsed(b.submitted_at)]
    if None in times or times[0] == times[1]:
        return None
    try:
        return a.name if times[0] < times[1] else b.name
    except TypeError:  # one with a time zone, one without
        return None


def _parsed(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _time_text(value) -> str | None:
    return " ".join(value.split())[:64] if isinstance(value, str) and value.strip() else None


def _names(pair: dict) -> tuple[str, str] | None:
    a, b = pair.get("a"), pair.get("b")
    return (a, b) if isinstance(a, str) and isinstance(b, str) else None


def _number(value, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []
