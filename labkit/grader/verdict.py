"""What the trusted side concludes about one submission: a verdict per test, and its words.

``Verdict`` holds each test's result with two messages: the TA's (``message``, which may carry
text the student's process produced) and the student's (``student_message``, chosen here from a
fixed vocabulary, see ``student_safe_message``). Every sentence a student reads of a verdict
comes from this module or from the grader's own notes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field

SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
MAX_STUDENT_MESSAGE = 300
PASSED = "passed"
NOT_PASSED = "your answer did not pass this test"
PUBLIC_FAILED = "failed; run grader.check in your notebook to see why"


@dataclass
class TestVerdict:
    """One test case as judged here: passed or not, what the TA is told (``message``) and what a
    student may be told (``student_message``, see ``student_safe_message``; empty in verdicts judged
    before it existed)."""

    question: str
    test: str
    hidden: bool
    points: float
    passed: bool
    message: str = ""
    student_message: str = ""

    def shown(self) -> str:
        """The student-safe message, or a fixed one where the verdict has none."""
        return self.student_message or (PASSED if self.passed else NOT_PASSED)


@dataclass
class Verdict:
    """Everything the grader concluded about one submission."""

    tests: list[TestVerdict]
    possible: dict[str, float]
    notes: list[str] = field(default_factory=list)  # for the student and the TA
    flags: list[str] = field(default_factory=list)  # for the TA: what to review
    sandbox: list[str] = field(default_factory=list)  # for the TA: where confinement fell short

    def scores(self) -> dict[str, float]:
        """Points earned per question, from hidden tests only (public ones are worth 0)."""
        earned = dict.fromkeys(self.possible, 0.0)
        for t in self.tests:
            if t.passed:
                earned[t.question] = round(earned[t.question] + t.points, 5)
        return earned

    def public_summary(self) -> list[str]:
        """One line per question with public tests, in words chosen here (safe to show)."""
        lines = []
        for question in self.possible:
            public = [t for t in self.tests if t.question == question and not t.hidden]
            if not public:
                continue
            if all(t.passed for t in public):
                lines.append(f"{question}: the public tests pass")
            else:
                lines.append(
                    f'{question}: a public test fails; run grader.check("{question}") in your '
                    "notebook to see which"
                )
        return lines

    def score_lines(self, *, bonus: frozenset[str] = frozenset()) -> list[str]:
        """One line per autograded question, ``score / points`` (see ``score_lines``)."""
        return score_lines(self.scores(), self.possible, bonus=bonus)

    def hidden_test_lines(self, question: str) -> list[str]:
        """One line per hidden test of ``question``: its name and its student-safe message."""
        return [f"{t.test}: {t.shown()}" for t in self.tests if t.hidden and t.question == question]

    def to_json(self) -> str:
        """The verdict as JSON, for the grader's own files."""
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        """Rebuild a verdict from ``asdict`` form, as ``to_json`` writes it (by a trusted judge)."""
        return cls(
            tests=[TestVerdict(**t) for t in data["tests"]],
            possible=data["possible"],
            notes=data["notes"],
            flags=data["flags"],
            sandbox=data.get("sandbox", []),
        )


def score_lines(
    scores: dict[str, float], possible: dict[str, float], *, bonus: frozenset[str] = frozenset()
) -> list[str]:
    """One line per question of ``possible``, in its order: its name (``(bonus)`` after the
    questions in ``bonus``), then ``score / points`` (a question missing from ``scores`` scored
    0). Both the Gradescope results and ``feedback.txt`` use these.
    """
    labels = {q: f"{q} (bonus)" if q in bonus else q for q in possible}
    width = max([18, *(len(label) + 2 for label in labels.values())])
    return [f"  {labels[q]:<{width}}{scores.get(q, 0.0):g} / {p:g}" for q, p in possible.items()]


def student_safe_message(exc: BaseException, *, test_file: str) -> str:
    """What a student may read of a hidden test that raised ``exc`` in the judge.

    An ``AssertionError`` raised by the test's own code (the last frame of its traceback is in
    ``test_file``, the name the test's source was compiled under) gives its message: the first
    line, without control characters, at most 300 characters. Anything else gives a fixed
    sentence naming at most the exception's type, and only if that name is a plain identifier
    (a student's exception class can be named anything). Never the test's code, a traceback or
    text the student's process produced.
    """
    if isinstance(exc, AssertionError):
        if _raised_in(exc, test_file):
            return _one_clean_line(_text_of(exc)) or NOT_PASSED
        return NOT_PASSED
    name = type(exc).__name__
    shown = f" (it raised {name})" if SAFE_NAME.fullmatch(name) else ""
    return f"your answer could not be checked{shown}"


def _raised_in(exc: BaseException, filename: str) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename == filename


def _text_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def _one_clean_line(text: str) -> str:
    lines = text.strip().splitlines()
    if not lines:
        return ""
    line = "".join(
        " " if c == "\t" else c for c in lines[0] if c == "\t" or unicodedata.category(c)[0] != "C"
    ).strip()
    if len(line) > MAX_STUDENT_MESSAGE:
        line = line[: MAX_STUDENT_MESSAGE - 3].rstrip() + "..."
    return line
