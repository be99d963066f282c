"""Who a page may name: submissions by file name, or in anonymous grading by pseudonym only.

File names often hold a student's name (``alice_solution.zip``, Canvas's ``smithjohn_123_...``),
so in anonymous mode every page shows, links and posts a submission's pseudonym (``S-017``,
``labkit.gradebook.store_extras``) and never its file name, names, emails or SIDs; the app's
JSON endpoints take either and ``ReviewStore.resolve`` maps them back. Messages the grader wrote
about a submission (a zip entry, an invalid file's name) are redacted the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from labkit.gradebook.roster import parse_canvas_name

MIN_SECRET_CHARS = 3
HIDDEN = "[hidden]"


@dataclass
class Identity:
    """How a page names submissions: their names, or their pseudonyms."""

    anonymous: bool
    pseudonyms: dict[str, str]
    secrets: dict[str, list[str]] = field(default_factory=dict)  # submission -> what to hide

    @classmethod
    def of(cls, store, people: dict[str, Iterable[dict]]) -> Identity:
        """The identity rules of ``store``; ``people``: each submission's students."""
        secrets = {name: _secrets_of(name, students) for name, students in people.items()}
        return cls(anonymous=store.anonymous, pseudonyms=store.pseudonyms(), secrets=secrets)

    @classmethod
    def of_store(cls, store) -> Identity:
        """The identity rules of ``store``, hiding file names only (no student lookups)."""
        pseudonyms = store.pseudonyms()
        return cls(
            anonymous=store.anonymous,
            pseudonyms=pseudonyms,
            secrets={name: _secrets_of(name, []) for name in pseudonyms},
        )

    def key(self, submission: str) -> str:
        """What pages show, link and post for ``submission``."""
        if self.anonymous:
            return self.pseudonyms.get(submission, HIDDEN)
        return submission

    def redact(self, text: str, submission: str | None = None) -> str:
        """``text`` without the names of ``submission`` (all submissions' if None), in
        anonymous mode; as it is otherwise."""
        if not self.anonymous or not text:
            return text
        names = [submission] if submission is not None else list(self.secrets)
        for name in names:
            for secret in sorted(self.secrets.get(name, []), key=len, reverse=True):
                text = _replace_casefold(text, secret, self.key(name))
        return text


def _secrets_of(name: str, students: Iterable[dict]) -> list[str]:
    found = {name, PurePosixPath(name).stem}
    canvas = parse_canvas_name(name)
    if canvas is not None:
        found |= {canvas.name, canvas.file, canvas.user_id}
    for student in students:
        for key in ("name", "email", "sid", "login", "canvas_id"):
            value = str(student.get(key, "") or "")
            found.add(value)
            if key == "email" and "@" in value:
                found.add(value.split("@", 1)[0])
    return [s for s in found if len(s) >= MIN_SECRET_CHARS]


def _replace_casefold(text: str, secret: str, replacement: str) -> str:
    lowered, target = text.casefold(), secret.casefold()
    if len(lowered) != len(text) or target not in lowered:
        return text.replace(secret, replacement)
    out, at = [], 0
    while (found := lowered.find(target, at)) >= 0:
        out += [text[at:found], replacement]
        at = found + len(secret)
    out.append(text[at:])
    return "".join(out)
