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
MAX_LINE_TOKENS = 200  # a longer line is never compared with the handed-out lines

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
        category = _category(kind)
        if category is _SKIP:
            in_string = False
            continue
        if category is _STRING:
            if in_string:  # the next piece of one literal (prefix, quotes, escapes, body)
                ends[-1] = end
                continue
            token, in_string = "S", True
        else:
            in_string = False
            if category is _NAME:  # an attribute, or a builtin constant, keeps its name
                kept = (norm and norm[-1] == ".") or value in _BUILTIN_CONSTANTS
                token = value if kept else "V"
            elif category is _VERBATIM:
                token = value
            else:
                token = value.strip() or value
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


_SKIP, _STRING, _NAME, _VERBATIM, _OTHER = (object() for _ in range(5))
_BUILTIN_CONSTANTS = ("Ellipsis", "NotImplemented")
_categories: dict = {}


def _category(kind) -> object:
    """What becomes of a token of this Pygments type (decided once per type)."""
    if kind not in _categories:
        if kind in Text or kind in Comment or kind in String.Doc:
            found = _SKIP
        elif kind in String:
            found = _STRING
        elif kind in Name.Builtin.Pseudo:  # self, cls: names a student may choose
            found = _NAME
        elif kind in Name:
            found = _VERBATIM if any(kind in kept for kept in _KEPT_NAMES) else _NAME
        elif kind in Keyword or kind in Number:
            found = _VERBATIM
        else:
            found = _OTHER
        _categories[kind] = found
    return _categories[kind]


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


def line_keys(text: str, tokens: Tokens) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """The line of each token (an index into the second list), and each line's tokens as
    written (comments and spacing aside; a line of more than ``MAX_LINE_TOKENS`` is ``()``)."""
    if not len(tokens):
        return np.zeros(0, dtype=np.int64), []
    numbers = np.searchsorted(np.asarray(_newlines(text), dtype=np.int64), tokens.starts, "right")
    distinct, line_of = np.unique(numbers, return_inverse=True)
    bounds = np.searchsorted(line_of, np.arange(len(distinct) + 1))
    starts, ends = tokens.starts.tolist(), tokens.ends.tolist()
    keys = []
    for first, last in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if last - first > MAX_LINE_TOKENS:
            keys.append(())
        else:
            keys.append(tuple(text[starts[n] : ends[n]] for n in range(first, last)))
    return line_of, keys


def _newlines(text: str) -> list[int]:
    return [match.start() for match in re.finditer("\n", text)]


def inline_code(markdown: str) -> list[str]:
    """The code a markdown text shows: its fenced blocks and its `inline code` spans."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", markdown, flags=re.DOTALL)
    rest = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", rest)
