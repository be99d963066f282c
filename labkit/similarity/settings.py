"""What decides a similarity report's figures, with their defaults, written once: the command
line, ``labkit grade`` and ``write_similarity_report`` all read them here."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.data import REPO_ROOT

# The handed-out notebook, whose code and text are never counted as shared.
DEFAULT_TEMPLATE = REPO_ROOT / "student_template" / "logreg_digits.ipynb"


@dataclass(frozen=True)
class KindSettings:
    """How answers of one kind are fingerprinted: k-gram length, window, minimum length."""

    k: int
    window: int
    min_tokens: int
    unit: str  # what a token is, for a reader: "tokens" (of code) or "words"


@dataclass(frozen=True)
class Settings:
    """Everything that decides the report's figures."""

    threshold: float = 0.7  # the similarity from which a pair is listed
    max_share: float = 0.5  # a fragment in more than this share of submissions is common
    candidate_share: float = 0.5
    max_pairs: int = 2_000  # pairs listed per question (the most similar)
    max_fragments: int = 100  # fragments listed per pair (the longest)
    code: KindSettings = KindSettings(k=8, window=4, min_tokens=15, unit="tokens")
    text: KindSettings = KindSettings(k=4, window=1, min_tokens=8, unit="words")
