"""The assignment's questions manifest: every question in notebook order, as the release wrote it.

``labkit release`` writes ``questions.json`` into the autograder zip from the source notebook::

    {"assignment": "logreg_digits",
     "questions": [{"name": "q_z", "points": 2.0, "kind": "autograded", "bonus": false}, ...]}

``kind`` is ``autograded`` or ``written`` (graded by hand); a ``bonus`` question's points are
added on top of the maximum, never part of it. Everything that counts points (the plugin's
"Scores" entry, ``labkit grade``'s reports, the review app, the LMS exports) reads order, points
and the bonus flag from here. This module stands alone (the zip ships it): JSON in, checked
dataclasses out.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

MANIFEST_NAME = "questions.json"
KINDS = ("autograded", "written")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the question or field."""


@dataclass(frozen=True)
class ManifestQuestion:
    """One question: its name, points, how it is graded, and whether it is a bonus."""

    name: str
    points: float
    kind: str = "autograded"
    bonus: bool = False

    @property
    def autograded(self) -> bool:
        """Whether the hidden tests grade it (else a TA does)."""
        return self.kind == "autograded"

    @property
    def label(self) -> str:
        """The name as a student or TA reads it: bonus questions say so."""
        return f"{self.name} (bonus)" if self.bonus else self.name


@dataclass(frozen=True)
class Manifest:
    """The assignment's questions, in notebook order."""

    assignment: str
    questions: tuple[ManifestQuestion, ...]

    @property
    def names(self) -> list[str]:
        """Every question's name, in notebook order."""
        return [q.name for q in self.questions]

    @property
    def maximum(self) -> float:
        """The regular points: every question's but the bonus ones'."""
        return sum(q.points for q in self.questions if not q.bonus)

    @property
    def bonus_max(self) -> float:
        """The bonus points, added on top of ``maximum``."""
        return sum(q.points for q in self.questions if q.bonus)

    def autograded(self) -> list[ManifestQuestion]:
        """The autograded questions, in notebook order."""
        return [q for q in self.questions if q.autograded]

    def written(self) -> list[ManifestQuestion]:
        """The hand-graded questions, in notebook order."""
        return [q for q in self.questions if not q.autograded]

    def get(self, name: str) -> ManifestQuestion | None:
        """The question called ``name``, if any."""
        return next((q for q in self.questions if q.name == name), None)

    def bonus_names(self) -> frozenset[str]:
        """The names of the bonus questions."""
        return frozenset(q.name for q in self.questions if q.bonus)

    def ordered(self, names) -> list[str]:
        """``names`` in notebook order; names the manifest lacks come last, sorted."""
        names = list(dict.fromkeys(names))
        position = {name: k for k, name in enumerate(self.names)}
        return sorted(names, key=lambda n: (n not in position, position.get(n, 0), n))

    def to_json(self) -> str:
        """The manifest as ``questions.json`` holds it (same manifest, same bytes)."""
        data = {"assignment": self.assignment, "questions": [asdict(q) for q in self.questions]}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse ``questions.json``; raise ManifestError naming what is wrong."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            raise ManifestError('expected an object with a "questions" list')
        assignment = data.get("assignment", "")
        if not isinstance(assignment, str):
            raise ManifestError("the assignment's name must be a string")
        questions = tuple(_question(entry) for entry in data["questions"])
        names = [q.name for q in questions]
        if len(set(names)) != len(names):
            raise ManifestError(f"a question is listed twice: {names}")
        return cls(assignment=assignment, questions=questions)


def _question(entry: object) -> ManifestQuestion:
    if not isinstance(entry, dict):
        raise ManifestError("each question must be an object")
    name, points = entry.get("name"), entry.get("points")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"a question's name must be a non-empty string, not {name!r}")
    if (
        isinstance(points, bool)
        or not isinstance(points, int | float)
        or not math.isfinite(points)
        or points < 0
    ):
        raise ManifestError(f"{name}: points must be a number >= 0, not {points!r}")
    kind, bonus = entry.get("kind", "autograded"), entry.get("bonus", False)
    if kind not in KINDS:
        raise ManifestError(f"{name}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(bonus, bool):
        raise ManifestError(f"{name}: bonus must be true or false, not {bonus!r}")
    return ManifestQuestion(name=name, points=float(points), kind=kind, bonus=bonus)
