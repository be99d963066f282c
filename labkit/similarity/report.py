"""``similarity.json`` and ``pairs.csv``: what a similarity report holds, for a TA and a page.

The report is evidence for a human to weigh, never a verdict: two answers can be alike because
they were copied, because the question leaves one natural way to answer it, or because their
authors worked together as allowed. The JSON says so in ``about``.

Same input, same bytes: every list is sorted, every float rounded to 4 decimals, keys sorted,
and nothing in it depends on the clock or the machine beyond the data and the settings (times
come only from Gradescope's metadata). Character offsets count Unicode code points of the
``text`` they index, as Python's ``str`` does (a JavaScript page converts them, for characters
outside the BMP, with ``Array.from(text)``). Every text is plain text as the student wrote it:
a page must escape it.

``similarity.json`` (``format`` "labkit-similarity", ``version`` 1)::

    about            str: what the report is and is not
    settings         {threshold, max_share, candidate_share, min_common, max_pairs,
                      max_fragments, tokenizer,
                      code: {k, window, min_tokens, unit}, text: {k, window, min_tokens, unit}}
    handed_out       {notebook: its file name, sha256: of its file, excluded: what of it is
                      left out, in words}
    questions_from   str: where the question names came from (the zip, or the graded folder)
    submissions      {name: {submitted_at: ISO 8601 text or null, notebook: the notebook's
                             file name or null, read: bool, notes: [str]}}
    questions        [in the handed-out notebook's order] {
        name, kind: "code" | "text", unit: "tokens" | "words" (what lengths count),
        excluded     {handed_out_fingerprints: distinct k-grams of the handed-out notebook,
                      common_fingerprints: fingerprints left out as common,
                      common_above: a fingerprint in more submissions than this is common,
                      common_examples: [{text, submissions}] the most widespread of them},
        compared     int: answers compared;  candidates  int: pairs measured,
        answers      {submission: {
                        status: "compared"
                              | "too_short"        fewer own tokens than min_tokens
                              | "handed_out_only"  nothing but handed-out material
                              | "empty"            blank, or the untouched placeholder
                              | "missing"          no block or markers found (see notes)
                              | "unreadable",      the notebook could not be read (see the
                                                   submission's notes)
                        tokens, own_tokens (handed-out ones aside),
                        fingerprints (own ones, common ones included),
                        notes: [str],
                        # for the answers in a listed pair only:
                        text: the answer as compared (code cells joined by a blank line),
                        handed_out_spans: [[start, end], ...] of its handed-out material}},
        pairs        [similarity descending, then a, b; a < b] {
                        a, b, similarity, a_covered, b_covered (0 to 1),
                        longest_fragment (in the unit), shared_fingerprints,
                        fragments: [{number: 1, 2, ... in the order of a's text,
                                     a: [start, end], b: [start, end] (characters of each
                                     side's text), length (in the unit)}]},
        clusters     [largest first] {members: [sorted names], pairs: listed pairs among
                                      them, max_similarity},
        notes        [str]}
    notes            [str]: about the whole run

A pair is listed when its similarity is at least ``settings.threshold``. ``pairs.csv`` lists the
same pairs, one row each: question, a, b, similarity, longest_fragment, a_covered, b_covered.
"""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np

from labkit.similarity.engine import MIN_COMMON, QuestionResult
from labkit.similarity.extract import Answer, Question
from labkit.similarity.fingerprints import Document
from labkit.similarity.settings import KindSettings, Settings
from labkit.similarity.sources import Submitted

FORMAT, VERSION = "labkit-similarity", 1
ABOUT = (
    "Evidence for a human to weigh, never a verdict. Each pair lists what two submissions share "
    "beyond the handed-out notebook and beyond what most submissions write; read them side by "
    "side, and ask the students, before concluding anything."
)
EXCLUDED = (
    "the handed-out notebook: its code cells and the code its text shows (for code), its text "
    "and the answer placeholder (for written answers)"
)
CSV_COLUMNS = ["question", "a", "b", "similarity", "longest_fragment", "a_covered", "b_covered"]


def _r(value: float) -> float:
    return round(float(value), 4)


def settings_entry(settings: Settings) -> dict:
    """The settings as the report records them."""

    def kind(k: KindSettings) -> dict:
        return {"k": k.k, "window": k.window, "min_tokens": k.min_tokens, "unit": k.unit}

    return {
        "threshold": _r(settings.threshold),
        "max_share": _r(settings.max_share),
        "candidate_share": _r(settings.candidate_share),
        "min_common": MIN_COMMON,
        "max_pairs": settings.max_pairs,
        "max_fragments": settings.max_fragments,
        "tokenizer": f"Python {sys.version_info.major}.{sys.version_info.minor} tokenize",
        "code": kind(settings.code),
        "text": kind(settings.text),
    }


def submission_entry(submitted: Submitted) -> dict:
    """One submission's line of the report."""
    return {
        "submitted_at": submitted.submitted_at,
        "notebook": submitted.notebook,
        "read": submitted.read,
        "notes": list(submitted.notes),
    }


def question_entry(
    question: Question,
    kind: KindSettings,
    *,
    answers: dict[str, Answer | None],
    documents: dict[str, Document],
    result: QuestionResult,
    handed_out_fingerprints: int,
) -> dict:
    """One question's part of the report; ``answers`` holds None for unreadable notebooks."""
    listed = {p.a for p in result.pairs} | {p.b for p in result.pairs}
    entries = {}
    for name, answer in sorted(answers.items()):
        doc = documents.get(name)
        entry = {
            "status": _status(answer, doc, kind),
            "tokens": len(doc.tokens) if doc else 0,
            "own_tokens": doc.own_tokens if doc else 0,
            "fingerprints": len(doc.fingerprints) if doc else 0,
            "notes": list(answer.notes) if answer else [],
        }
        if doc is not None and doc.tokens.cut:
            entry["notes"].append(f"only the first {len(doc.tokens)} {kind.unit} are compared")
        if name in listed and doc is not None:
            entry["text"] = doc.text
            entry["handed_out_spans"] = _spans(doc)
        entries[name] = entry
    by_pair = {(p.a, p.b): p for p in result.pairs}
    return {
        "name": question.name,
        "kind": question.kind,
        "unit": kind.unit,
        "excluded": {
            "handed_out_fingerprints": handed_out_fingerprints,
            "common_fingerprints": result.common_fingerprints,
            "common_above": result.common_above,
            "common_examples": [
                {"text": text, "submissions": count} for text, count in result.common_examples
            ],
        },
        "compared": len(result.compared),
        "candidates": result.candidates,
        "answers": entries,
        "pairs": [_pair_entry(p) for p in result.pairs],
        "clusters": [_cluster_entry(members, by_pair) for members in result.clusters],
        "notes": list(result.notes),
    }


def _status(answer: Answer | None, doc: Document | None, kind: KindSettings) -> str:
    if answer is None:
        return "unreadable"
    if not answer.found:
        return "missing"
    if doc is None or len(doc.tokens) == 0:
        return "empty"
    if doc.own_tokens == 0:
        return "handed_out_only"
    return "too_short" if doc.own_tokens < kind.min_tokens else "compared"


def _spans(doc: Document) -> list[list[int]]:
    """The character spans of a document's handed-out tokens, merged."""
    marks = np.flatnonzero(np.diff(np.concatenate([[0], doc.handed_out.astype(np.int8), [0]])))
    return [
        [int(doc.tokens.starts[s]), int(doc.tokens.ends[e - 1])]
        for s, e in zip(marks[::2], marks[1::2], strict=True)
    ]


def _pair_entry(pair) -> dict:
    return {
        "a": pair.a,
        "b": pair.b,
        "similarity": _r(pair.similarity),
        "a_covered": _r(pair.a_covered),
        "b_covered": _r(pair.b_covered),
        "longest_fragment": pair.longest_fragment,
        "shared_fingerprints": pair.shared_fingerprints,
        "fragments": [
            {"number": n, "a": list(f.a_chars), "b": list(f.b_chars), "length": f.length}
            for n, f in enumerate(pair.fragments, start=1)
        ],
    }


def _cluster_entry(members: list[str], by_pair: dict) -> dict:
    links = [by_pair[(a, b)] for a in members for b in members if (a, b) in by_pair]
    return {
        "members": members,
        "pairs": len(links),
        "max_similarity": _r(max((p.similarity for p in links), default=0.0)),
    }


def assemble(
    *,
    settings: Settings,
    handed_out: dict,
    questions_from: str,
    submissions: list[Submitted],
    questions: list[dict],
    notes: list[str],
) -> dict:
    """The whole report (see the module docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "about": ABOUT,
        "settings": settings_entry(settings),
        "handed_out": {**handed_out, "excluded": EXCLUDED},
        "questions_from": questions_from,
        "submissions": {s.name: submission_entry(s) for s in sorted(submissions, key=_name)},
        "questions": questions,
        "notes": notes,
    }


def _name(submitted: Submitted) -> str:
    return submitted.name


def to_json(report: dict) -> str:
    """``similarity.json``'s text: same report, same bytes."""
    return json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def pairs_csv(report: dict) -> str:
    """``pairs.csv``'s text: one row per listed pair, questions in the report's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for question in report["questions"]:
        for pair in question["pairs"]:
            writer.writerow(
                [
                    question["name"],
                    pair["a"],
                    pair["b"],
                    f"{pair['similarity']:.4f}",
                    pair["longest_fragment"],
                    f"{pair['a_covered']:.4f}",
                    f"{pair['b_covered']:.4f}",
                ]
            )
    return buffer.getvalue()
