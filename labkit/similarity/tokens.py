"""Tokens to compare: code normalised so that renaming and layout do not hide copying; words.

Each token keeps where it came from (character offsets in the text it was read from), so that a
shared run of tokens becomes a span of the student's own text.

Code is read with Pygments' Python lexer, which never raises: a cell that does not parse (a
typo, an unclosed bracket, a ``%magic`` or ``!shell`` line) is tokenised all the same. Nothing
is run. The normalisation:

- whitespace, comments and docstrings are dropped;
- a name a student chose (a variable, a parameter, a function or class they define) becomes
  ``V`` (``self`` and ``cls`` too); names no renaming touches stay as they are: builtins
  (``len``, ``range``), attributes
  (the ``exp`` of ``np.exp``), keyword arguments (the ``axis`` of ``axis=-1``) and module names
  in imports;
- a string literal becomes one token ``S`` (its wording is easy to change); keywords, numbers,
  operators and brackets stay as they are.

Text (written answers) is a sequence of words, case-folded: letters and digits only, so that
markdown, punctuation and line breaks do not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from pygments.lexers import PythonLexer
from pygments.token import Comment, Keyword, Name, Number, String, Text

MAX_TOKENS = 20_000  # of one answer; the rest is left out, with a note

_WORD = re.compile(r"\w+")
_KEPT_NAMES = (Name.Builtin, Name.Exception, Name.Namespace, Name.Function.Magic)
_KEPT_NAMES += (Name.Variable.Magic,)
_OPENING, _CLOSING = "([{", ")]}"


@dataclass
class Tokens:
    """A text as normalised tokens, each with its ``[start, end)`` character offsets."""

    norm: list[str] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cut: bool = False  # more than MAX_TOKENS: the rest was left out

    def __len__(self) -> int:
        return len(self.norm)


def code_tokens(text: str, *, limit: int = MAX_TOKENS) -> Tokens:
    """The normalised tokens of Python source ``text`` (see the module docstring)."""
    norm: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    depth = 0
    in_string = False  # the last token kept was (part of) a string literal
    for index, kind, value in PythonLexer().get_tokens_unprocessed(text):
        end = index + len(value)
        if kind in Text or kind in Comment or kind in String.Doc:
            in_string = False
            continue
        if kind in String:
            if in_string:  # the next piece of one literal (prefix, quotes, escapes, body)
                ends[-1] = end
                continue
            token, in_string = "S", True
        else:
            in_string = False
            token = _code_token(kind, value, norm)
            if value == "=" and depth > 0 and norm and norm[-1] == "V":
                norm[-1] = text[starts[-1] : ends[-1]]  # a keyword argument keeps its name
            if value in _OPENING:
                depth += 1
            elif value in _CLOSING:
                depth = max(depth - 1, 0)
        if len(norm) == limit:
            return _tokens(norm, starts, ends, cut=True)
        norm.append(token)
        starts.append(index)
        ends.append(end)
    return _tokens(norm, starts, ends, cut=False)


def _code_token(kind, value: str, before: list[str]) -> str:
    if kind in Name:
        if kind in Name.Builtin.Pseudo:  # self, cls: names a student may choose
            return value if value in ("Ellipsis", "NotImplemented") else "V"
        if any(kind in kept for kept in _KEPT_NAMES) or (before and before[-1] == "."):
            return value
        return "V"
    if kind in Keyword or kind in Number:
        return value
    return value.strip() or value


def text_tokens(text: str, *, limit: int = MAX_TOKENS) -> Tokens:
    """The words of ``text``, case-folded, with their offsets."""
    norm: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _WORD.finditer(text):
        if len(norm) == limit:
            return _tokens(norm, starts, ends, cut=True)
        norm.append(match.group().casefold())
        starts.append(match.start())
        ends.append(match.end())
    return _tokens(norm, starts, ends, cut=False)


def _tokens(norm: list[str], starts: list[int], ends: list[int], *, cut: bool) -> Tokens:
    return Tokens(
        norm=norm,
        starts=np.asarray(starts, dtype=np.int64),
        ends=np.asarray(ends, dtype=np.int64),
        cut=cut,
    )


def line_keys(text: str, tokens: Tokens) -> list[tuple[str, ...]]:
    """For each token, the tokens of its line as written (comments and spacing aside)."""
    if not len(tokens):
        return []
    lines = np.searchsorted(np.asarray(_newlines(text), dtype=np.int64), tokens.starts, "right")
    raw = [text[s:e] for s, e in zip(tokens.starts.tolist(), tokens.ends.tolist(), strict=True)]
    keys: dict[int, list[str]] = {}
    for line, token in zip(lines.tolist(), raw, strict=True):
        keys.setdefault(line, []).append(token)
    frozen = {line: tuple(words) for line, words in keys.items()}
    return [frozen[line] for line in lines.tolist()]


def _newlines(text: str) -> list[int]:
    return [match.start() for match in re.finditer("\n", text)]


def inline_code(markdown: str) -> list[str]:
    """The code a markdown text shows: its fenced blocks and its `inline code` spans."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", markdown, flags=re.DOTALL)
    rest = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", rest)
