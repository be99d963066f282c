"""Comparing every pair of answers to one question, through an inverted index of fingerprints.

1. **Common fragments.** A fingerprint found in the answers of more than ``max_share`` of the
   submissions (and of at least ``MIN_COMMON`` of them) is what everyone writes: it is left out
   of every answer, as the handed-out material already was.
2. **Candidates.** The answers' remaining fingerprints form an inverted index (a sparse matrix,
   fingerprint -> answers); its product with itself counts, for each pair of answers sharing at
   least one fingerprint, how many they share, and no other pair is ever looked at. The cost is
   the number of (pair, shared fingerprint) couples: pairs x fingerprints at worst.
3. **Measure.** A pair whose fingerprints overlap enough (Dice coefficient at least
   ``candidate_share`` of the threshold) is measured exactly: from each shared fingerprint, the
   run of equal tokens around it is grown on both sides as far as they agree; each distinct
   run, less the handed-out tokens at its ends, is a *fragment*. A side's *coverage* is the
   share of its own tokens (not the handed-out ones) inside fragments, and the pair's
   *similarity* is the share of both sides' own tokens that are covered:
   ``(covered_a + covered_b) / (own_a + own_b)``.
4. **Clusters.** Pairs at or above the threshold link answers; a connected group of three or
   more is a cluster.

An answer with fewer than ``min_tokens`` own tokens is not compared: a line or two that many
students write alike is no evidence of anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from labkit.similarity.fingerprints import Document
from labkit.similarity.settings import KindSettings, Settings

MIN_COMMON = 3  # a fragment two submissions share is what this report looks for, never common
MAX_MEASURED = 20_000  # candidate pairs measured per question (the most overlapping first)
MAX_STEPS = 1_000_000  # token comparisons spent growing one pair's fragments
MAX_EXAMPLES = 10  # common fragments shown per question


@dataclass
class Fragment:
    """One run of tokens two answers share: token and character ``[start, end)`` on each side."""

    a_tokens: tuple[int, int]
    b_tokens: tuple[int, int]
    a_chars: tuple[int, int]
    b_chars: tuple[int, int]

    @property
    def length(self) -> int:
        """Its number of tokens."""
        return self.a_tokens[1] - self.a_tokens[0]


@dataclass
class Pair:
    """Two answers to a question, measured."""

    a: str
    b: str
    similarity: float
    a_covered: float
    b_covered: float
    shared_fingerprints: int
    fragments: list[Fragment]
    truncated: bool = False  # too many repetitions to follow: the fragments found so far

    @property
    def longest_fragment(self) -> int:
        """The length, in tokens, of the longest shared fragment."""
        return max((f.length for f in self.fragments), default=0)


@dataclass
class QuestionResult:
    """The pairs of one question at or above the threshold, its clusters, what was left out."""

    pairs: list[Pair] = field(default_factory=list)
    clusters: list[list[str]] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    too_short: list[str] = field(default_factory=list)
    common_fingerprints: int = 0
    common_above: int = 0  # a fingerprint in more than this many submissions is common
    common_examples: list[tuple[str, int]] = field(default_factory=list)  # (text, submissions)
    candidates: int = 0
    notes: list[str] = field(default_factory=list)


def compare_question(
    documents: list[Document], *, submissions: int, settings: Settings, kind: KindSettings
) -> QuestionResult:
    """Compare every pair of ``documents`` (sorted by submission); ``submissions`` read in all."""
    result = QuestionResult(common_above=max(int(settings.max_share * submissions), MIN_COMMON - 1))
    frequency = Counter(h for doc in documents for h in doc.fingerprints)
    common = {h for h, count in frequency.items() if count > result.common_above}
    result.common_fingerprints = len(common)
    result.common_examples = _examples(documents, common, frequency, kind.k)
    docs = []
    for doc in documents:
        if doc.own_tokens < kind.min_tokens:
            result.too_short.append(doc.submission)
            continue
        own = {h: p for h, p in doc.fingerprints.items() if h not in common}
        docs.append(replace(doc, fingerprints=own))
    result.compared = [doc.submission for doc in docs]
    measured = []
    for i, j, overlap in _candidates(docs, settings.threshold * settings.candidate_share):
        pair = measure(docs[i], docs[j], k=kind.k)
        pair.shared_fingerprints = overlap
        if pair.similarity >= settings.threshold:
            measured.append(pair)
        result.candidates += 1
        if result.candidates == MAX_MEASURED:
            result.notes.append(f"only the {MAX_MEASURED} most overlapping pairs were measured")
            break
    measured.sort(key=lambda p: (-p.similarity, p.a, p.b))
    if len(measured) > settings.max_pairs:
        result.notes.append(f"only the {settings.max_pairs} most similar pairs are listed")
    result.clusters = clusters(measured)
    result.pairs = measured[: settings.max_pairs]
    for pair in result.pairs:  # the fragments come longest first
        if pair.truncated:
            result.notes.append(
                f"{pair.a} and {pair.b}: too much repeated code to follow every shared "
                "fragment; the figures count those found"
            )
        if len(pair.fragments) > settings.max_fragments:
            result.notes.append(
                f"{pair.a} and {pair.b}: only the {settings.max_fragments} longest of "
                f"{len(pair.fragments)} shared fragments are listed"
            )
        pair.fragments = sorted(pair.fragments[: settings.max_fragments], key=_position)
    return result


def _examples(docs: list[Document], common: set, frequency: Counter, k: int) -> list:
    """The text of the most widespread common fingerprints (one k-gram each, as first written),
    with how many submissions have it: what "common" left out, for a reader."""
    first = {}
    for doc in docs:
        for h, positions in doc.fingerprints.items():
            if h in common and h not in first:
                start, end = positions[0], positions[0] + k - 1
                first[h] = doc.text[doc.tokens.starts[start] : doc.tokens.ends[end]]
    ranked = sorted(first.items(), key=lambda item: (-frequency[item[0]], item[1]))
    return [(text, frequency[h]) for h, text in ranked[:MAX_EXAMPLES]]


def _position(fragment: Fragment) -> tuple:
    return fragment.a_tokens, fragment.b_tokens


def _candidates(docs: list[Document], floor: float) -> list[tuple[int, int, int]]:
    """Pairs ``(i, j, shared)`` whose fingerprints' Dice coefficient is at least ``floor``,
    the most overlapping first; only pairs sharing a fingerprint are ever looked at."""
    frequency = Counter(h for doc in docs for h in doc.fingerprints)
    columns = {h: n for n, h in enumerate(sorted(h for h, c in frequency.items() if c > 1))}
    rows, cols = [], []
    for row, doc in enumerate(docs):
        for h in doc.fingerprints:
            if h in columns:
                rows.append(row)
                cols.append(columns[h])
    if not rows:
        return []
    index = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(docs), len(columns))
    )
    shared = sparse.triu(index @ index.T, k=1).tocoo()
    sizes = np.array([len(doc.fingerprints) for doc in docs], dtype=np.float64)
    dice = 2 * shared.data / (sizes[shared.row] + sizes[shared.col])
    keep = np.flatnonzero(dice >= floor)
    order = keep[np.lexsort((shared.col[keep], shared.row[keep], -dice[keep]))]
    return [(int(shared.row[n]), int(shared.col[n]), int(shared.data[n])) for n in order]


def measure(a: Document, b: Document, *, k: int) -> Pair:
    """The fragments two answers share, grown from their shared fingerprints, and coverage.

    Growing runs costs at most ``MAX_STEPS`` token comparisons per pair (repeated code can
    match its repetitions many times over); past that, the pair is marked ``truncated`` and its
    figures count the fragments found so far.
    """
    norm_a, norm_b = a.tokens.norm, b.tokens.norm
    given_a, given_b = a.handed_out.tolist(), b.handed_out.tolist()
    grown: dict[int, list[tuple[int, int]]] = {}  # diagonal -> runs found on it (side a)
    fragments, steps, truncated = [], 0, False
    seeds = (
        (pa, pb)
        for h in sorted(a.fingerprints.keys() & b.fingerprints.keys())
        for pa in a.fingerprints[h]
        for pb in b.fingerprints[h]
    )
    for pa, pb in seeds:
        if any(s <= pa < e for s, e in grown.get(pa - pb, ())):
            continue
        if norm_a[pa : pa + k] != norm_b[pb : pb + k]:
            continue  # a hash collision: not a shared k-gram
        if steps > MAX_STEPS:
            truncated = True
            break
        sa, sb, ea, eb = pa, pb, pa + k, pb + k
        while sa and sb and norm_a[sa - 1] == norm_b[sb - 1]:
            sa, sb = sa - 1, sb - 1
        while ea < len(norm_a) and eb < len(norm_b) and norm_a[ea] == norm_b[eb]:
            ea, eb = ea + 1, eb + 1
        steps += ea - sa
        grown.setdefault(pa - pb, []).append((sa, ea))
        # The run, without the handed-out tokens at its ends (those inside it stay).
        while sa < ea and (given_a[sa] or given_b[sb]):
            sa, sb = sa + 1, sb + 1
        while ea > sa and (given_a[ea - 1] or given_b[eb - 1]):
            ea, eb = ea - 1, eb - 1
        if ea > sa:
            fragments.append(_fragment(a, b, (sa, ea), (sb, eb)))
    fragments = _distinct(fragments, len(norm_a), len(norm_b))
    covered_a, own_a = _coverage(a, [f.a_tokens for f in fragments])
    covered_b, own_b = _coverage(b, [f.b_tokens for f in fragments])
    return Pair(
        a=a.submission,
        b=b.submission,
        similarity=(covered_a + covered_b) / max(own_a + own_b, 1),
        a_covered=covered_a / max(own_a, 1),
        b_covered=covered_b / max(own_b, 1),
        shared_fingerprints=0,
        fragments=fragments,
        truncated=truncated,
    )


def _distinct(fragments: list[Fragment], length_a: int, length_b: int) -> list[Fragment]:
    """The fragments, longest first, less those whose tokens longer ones already cover on both
    sides (repeated code matches its repetitions too)."""
    seen_a, seen_b = np.zeros(length_a, dtype=bool), np.zeros(length_b, dtype=bool)
    kept = []
    for fragment in sorted(fragments, key=lambda f: (-f.length, f.a_tokens, f.b_tokens)):
        run_a, run_b = slice(*fragment.a_tokens), slice(*fragment.b_tokens)
        if seen_a[run_a].all() and seen_b[run_b].all():
            continue
        seen_a[run_a], seen_b[run_b] = True, True
        kept.append(fragment)
    return kept


def _fragment(a: Document, b: Document, run_a: tuple, run_b: tuple) -> Fragment:
    return Fragment(
        a_tokens=run_a,
        b_tokens=run_b,
        a_chars=(int(a.tokens.starts[run_a[0]]), int(a.tokens.ends[run_a[1] - 1])),
        b_chars=(int(b.tokens.starts[run_b[0]]), int(b.tokens.ends[run_b[1] - 1])),
    )


def _coverage(doc: Document, runs: list[tuple[int, int]]) -> tuple[int, int]:
    """How many of a document's own tokens the runs cover, and how many it has."""
    inside = np.zeros(len(doc.tokens), dtype=bool)
    for start, end in runs:
        inside[start:end] = True
    return int((inside & ~doc.handed_out).sum()), doc.own_tokens


def clusters(pairs: list[Pair]) -> list[list[str]]:
    """Groups of three or more answers linked by pairs, largest first, each sorted."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for pair in pairs:
        parent[root(pair.a)] = root(pair.b)
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(root(name), []).append(name)
    found = [sorted(group) for group in groups.values() if len(group) >= 3]
    return sorted(found, key=lambda group: (-len(group), group))
