"""Fingerprints of a document: hashed k-grams of its tokens, selected by winnowing.

A k-gram is a run of ``k`` consecutive tokens. Every k-gram is hashed to 64 bits with a hash
that is the same in every process and on every machine (each distinct token through BLAKE2b,
then a polynomial over the k-gram), so the same input always selects the same fingerprints.
Winnowing (Schleimer, Wilkerson and Aiken, 2003) keeps, in every window of ``window``
consecutive k-grams, the one of smallest hash (the rightmost, on a tie): a shared run of at
least ``window + k - 1`` tokens always shares a fingerprint, and about ``2 / (window + 1)`` of
the k-grams are kept.

The handed-out material is removed here. A k-gram whose hash is one of the handed-out
notebook's is not a fingerprint, and its tokens are not the student's own; nor, for code, are
the tokens of a line that is, token for token, a line of the handed-out notebook's code (the
``def`` line of a stub, ``grader.check("q_z")``: lines shorter than a k-gram, or whose
neighbours in the student's cell differ from the handed-out ones). A k-gram made only of such
tokens is no fingerprint either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from labkit.similarity.tokens import Tokens, line_keys

_MULTIPLIER = np.uint64(0x100000001B3)  # odd: the polynomial hash of a k-gram
MAX_POSITIONS = 8  # occurrences of one fingerprint kept per document (repeated code)


class TokenHasher:
    """64-bit hashes of tokens, the same in every process (Python's ``hash`` is salted)."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}

    def __call__(self, norm: list[str]) -> np.ndarray:
        """The hash of each token, as an array of ``uint64``."""
        known = self._known
        for token in norm:
            if token not in known:
                digest = hashlib.blake2b(token.encode("utf-8", "replace"), digest_size=8)
                known[token] = int.from_bytes(digest.digest(), "little")
        return np.fromiter((known[t] for t in norm), dtype=np.uint64, count=len(norm))


def kgram_hashes(token_hashes: np.ndarray, k: int) -> np.ndarray:
    """The hash of every k-gram (``len - k + 1`` of them; none for a shorter document)."""
    count = len(token_hashes) - k + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(k):  # overflow wraps modulo 2**64, as meant
        hashes = hashes * _MULTIPLIER + token_hashes[offset : offset + count]
    return hashes ^ (hashes >> np.uint64(31))


def winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    """The positions winnowing selects, sorted: the rightmost minimum of each window.

    A document with fewer k-grams than ``window`` keeps its smallest one; ``window`` 1 keeps all.
    """
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    if window <= 1:
        return np.arange(len(hashes), dtype=np.int64)
    window = min(window, len(hashes))
    reversed_windows = sliding_window_view(hashes, window)[:, ::-1]
    rightmost = window - 1 - np.argmin(reversed_windows, axis=1)
    return np.unique(np.arange(len(rightmost), dtype=np.int64) + rightmost)


@dataclass
class Document:
    """One answer, fingerprinted: what the comparison of a question needs of it."""

    submission: str
    text: str
    tokens: Tokens
    handed_out: np.ndarray  # per token: inside a k-gram of the handed-out notebook
    fingerprints: dict[int, list[int]] = field(default_factory=dict)  # hash -> k-gram starts

    @property
    def own_tokens(self) -> int:
        """Tokens that are not the handed-out material's."""
        return int(len(self.tokens) - self.handed_out.sum())


def _members(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_unique`` (a binary search each)."""
    at = np.minimum(np.searchsorted(sorted_unique, values), len(sorted_unique) - 1)
    return sorted_unique[at] == values


@dataclass(frozen=True)
class Given:
    """The handed-out material as ``fingerprint`` leaves it out: k-gram hashes, code lines."""

    hashes: np.ndarray  # sorted, unique
    lines: frozenset = frozenset()  # each line's tokens as written (code only)


def given_material(snippets: list[tuple[str, Tokens]], hasher, k: int, *, lines: bool) -> Given:
    """The handed-out material of ``(text, tokens)`` snippets: every k-gram hash, and (for code,
    ``lines``) every line."""
    parts = [kgram_hashes(hasher(tokens.norm), k) for _, tokens in snippets]
    hashes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    keys = {key for text, tokens in snippets for key in line_keys(text, tokens)[1]} if lines else ()
    return Given(hashes=hashes, lines=frozenset(keys))


def fingerprint(
    submission: str,
    text: str,
    tokens: Tokens,
    *,
    hasher: TokenHasher,
    k: int,
    window: int,
    handed_out: Given,
) -> Document:
    """Fingerprint one answer, leaving out what was handed out (see the module docstring)."""
    hashes = kgram_hashes(hasher(tokens.norm), k)
    given = _members(hashes, handed_out.hashes) if len(handed_out.hashes) else None
    marks = np.zeros(len(tokens) + 1, dtype=np.int64)
    if given is not None and given.any():
        starts = np.flatnonzero(given)
        np.add.at(marks, starts, 1)
        np.add.at(marks, starts + k, -1)
    covered = np.cumsum(marks[: len(tokens)]) > 0
    if handed_out.lines and len(tokens):
        line_of, keys = line_keys(text, tokens)
        given_lines = np.fromiter((key in handed_out.lines for key in keys), bool, len(keys))
        covered |= given_lines[line_of]
    own_before = np.concatenate([[0], np.cumsum(~covered)])  # own tokens before each token
    fingerprints: dict[int, list[int]] = {}
    for position in winnow(hashes, window).tolist():
        if given is not None and given[position]:
            continue
        if own_before[position + k] == own_before[position]:
            continue  # every token of it is handed-out material
        positions = fingerprints.setdefault(int(hashes[position]), [])
        if len(positions) < MAX_POSITIONS:
            positions.append(position)
    return Document(submission, text, tokens, covered, fingerprints)
