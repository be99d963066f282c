"""What else the review store keeps: overrides of autograded scores, settings, pseudonyms.

A mixin of ``ReviewStore`` (``labkit.gradebook.store``):

- **Overrides.** A TA may replace an autograded question's score, with a reason the student
  reads. The hidden tests' score stays where it is (``results.json``); the override lives here,
  with the computed score it replaced, and only a TA clears it (a regrade does not).
- **Settings**, such as the anonymous-grading switch, which so survives a restart.
- **Pseudonyms.** Each submission gets one (``S-017``) the first time the store sees it and keeps
  it across restarts and regrades. Numbers are handed out in the order of a keyed hash of the
  names (an HMAC under a random key made once per store): deterministic for a store, neither the
  name's alphabetical rank nor anything computable from the name without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from labkit.gradebook.folder import GradebookError
from labkit.gradebook.grades import check_reason, check_score
from labkit.gradebook.outcome import Outcome
from labkit.gradebook.totals import Override

ANONYMOUS_KEY = "anonymous"
PSEUDONYM_KEY = "pseudonym_key"
PSEUDONYM_PREFIX = "S-"


def pseudonym_text(number: int) -> str:
    """The pseudonym of number ``number``: ``S-001`` ... ``S-999``, then ``S-1000``."""
    return f"{PSEUDONYM_PREFIX}{number:03d}"


class ReviewExtras:
    """Overrides, settings and pseudonyms of ``ReviewStore``."""

    # --- overrides of autograded scores ------------------------------------------------------

    def set_override(self, submission: str, question: str, score: float, reason: str) -> Override:
        """Replace the autograded score of ``question`` with ``score``, for ``reason``."""
        with self._transaction() as db:
            outcome = self._outcome(db, submission)
            points = outcome.points.get(question)
            if points is None:
                raise GradebookError(f"{question!r} is not an autograded question of {submission}")
            score = check_score(score, points, what=f"the override of {question}")
            reason = check_reason(reason)
            computed = outcome.scores.get(question)
            db.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?, ?, ?)",
                (submission, question, score, reason, computed, _now()),
            )
        return self.overrides()[submission, question]

    def clear_override(self, submission: str, question: str) -> None:
        """Give ``question`` its computed score back."""
        with self._transaction() as db:
            self._outcome(db, submission)
            db.execute(
                "DELETE FROM overrides WHERE submission = ? AND question = ?",
                (submission, question),
            )

    def overrides(self) -> dict[tuple[str, str], Override]:
        """Every override, by ``(submission, question)``."""
        rows = self._db.execute(
            "SELECT submission, question, score, reason, computed, updated_at FROM overrides"
        ).fetchall()
        return {
            (s, q): Override(score, reason, computed, at)
            for s, q, score, reason, computed, at in rows
        }

    def _outcome(self, db, submission: str) -> Outcome:
        row = db.execute("SELECT outcome FROM submissions WHERE name = ?", (submission,)).fetchone()
        if row is None:
            raise GradebookError(f"no graded submission named {submission!r}")
        return Outcome.from_json(row[0])

    # --- settings -------------------------------------------------------------------------------

    def setting(self, key: str, default: str = "") -> str:
        """A stored setting's value (``default`` if it was never set)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    @property
    def anonymous(self) -> bool:
        """Whether anonymous grading is on: pages show pseudonyms, never names or file names."""
        return self.setting(ANONYMOUS_KEY) == "on"

    def set_anonymous(self, on: bool) -> None:
        """Switch anonymous grading on or off, for every TA and every later run."""
        self.set_setting(ANONYMOUS_KEY, "on" if on else "off")

    # --- pseudonyms -------------------------------------------------------------------------------

    def pseudonyms(self) -> dict[str, str]:
        """Each submission's pseudonym, by submission name."""
        return dict(self._db.execute("SELECT submission, pseudonym FROM pseudonyms"))

    def resolve(self, key: str) -> str:
        """The submission a page names by ``key``: its name, or its pseudonym."""
        row = self._db.execute(
            "SELECT submission FROM pseudonyms WHERE pseudonym = ?", (key,)
        ).fetchone()
        return key if row is None else row[0]

    def _assign_pseudonyms(self, db, names: list[str]) -> None:
        """Give each of ``names`` without a pseudonym the next numbers, in keyed-hash order."""
        known = {name for (name,) in db.execute("SELECT submission FROM pseudonyms")}
        new = [name for name in names if name not in known]
        if not new:
            return
        row = db.execute("SELECT value FROM settings WHERE key = ?", (PSEUDONYM_KEY,)).fetchone()
        if row is None:
            key = secrets.token_hex(32)
            db.execute("INSERT INTO settings VALUES (?, ?)", (PSEUDONYM_KEY, key))
        else:
            key = row[0]
        (top,) = db.execute("SELECT COALESCE(MAX(number), 0) FROM pseudonyms").fetchone()

        def order(name: str) -> str:
            return hmac.new(key.encode(), name.encode("utf-8"), hashlib.sha256).hexdigest()

        for number, name in enumerate(sorted(new, key=order), start=top + 1):
            db.execute(
                "INSERT INTO pseudonyms VALUES (?, ?, ?)", (name, pseudonym_text(number), number)
            )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
