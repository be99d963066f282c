"""Tokens to compare: code normalised so that renaming and layout do not hide copying; words.

Each token keeps where it came from (character offsets in the text it was read from), so that a
shared run of tokens becomes a span of the student's own text.

Code is read with Python's own tokenizer (the standard library's ``tokenize``), which reads a
cell that does not parse all the same: where it stops (an unindent that matches no block, a
string never closed), reading resumes on the next line. A ``%magic`` or ``!shell`` line is read
as the characters it holds. Nothing is run. The normalisation:

- whitespace, comments and docstrings (a statement that is only a string) are dropped;
- a name a student chose (a variable, a parameter, a function or class they define, ``self``)
  becomes ``V``; names no renaming touches stay as they are: keywords, builtins (``len``,
  ``range``), attributes (the ``exp`` of ``np.exp``), keyword arguments (the ``axis`` of
  ``axis=-1``) and the names of an import statement;
- a string literal becomes one token ``S`` (its wording is easy to change); numbers, operators
  and brackets stay as they are.

Text (written answers) is a sequence of words, case-folded: letters and digits only, so that
markdown, punctuation and line breaks do not count.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
from dataclasses import dataclass, field

import numpy as np

MAX_TOKENS = 20_000  # of one answer; the rest is left out, with a note
MAX_LINE_TOKENS = 200  # a longer line is never compared with the handed-out lines
MAX_RESTARTS = 100  # places where the tokenizer stopped and reading resumed, per answer

_WORD = re.compile(r"\w+")
_OPENING, _CLOSING = "([{", ")]}"
_KEPT = frozenset(dir(builtins)) | frozenset(keyword.kwlist)
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
_STRINGS = {tokenize.STRING} | {  # Python 3.12 splits f-strings into pieces
    getattr(tokenize, name)
    for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)
}
_ENDS = {tokenize.NEWLINE, tokenize.ENDMARKER}


@dataclass
class Tokens:
    """A text as normalised tokens, each with its ``[start, end)`` character offsets."""

    norm: list[str] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cut: bool = False  # more than MAX_TOKENS (or the tokenizer gave up): the rest is left out

    def __len__(self) -> int:
        return len(self.norm)


def _python_tokens(text: str):
    """``(type, string, start, end)`` of each token, offsets into ``text``; reading resumes on
    the next line wherever the tokenizer stops. Yields ``None`` last if it gave up."""
    parts = text.split("\n")  # lines as the tokenizer's reader splits them
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    offsets = np.concatenate([[0], np.cumsum([len(line) for line in lines])]).tolist()
    first = 0
    for _ in range(MAX_RESTARTS):
        reached = first
        reader = io.StringIO("".join(lines[first:])).readline
        try:
            for kind, string, (row, col), (end_row, end_col), _ in tokenize.generate_tokens(reader):
                reached = first + row - 1
                yield kind, string, offsets[reached] + col, offsets[first + end_row - 1] + end_col
            return
        except (tokenize.TokenError, SyntaxError) as error:  # IndentationError included
            row = getattr(error, "lineno", None)
            if row is None and len(error.args) > 1 and isinstance(error.args[1], tuple):
                row = error.args[1][0]
            failed = first + max((row or 1) - 1, 0) if row else reached
            first = failed if failed > first else failed + 1
            if first >= len(lines):
                return
    yield None


def code_tokens(text: str, *, limit: int = MAX_TOKENS) -> Tokens:
    """The normalised tokens of Python source ``text`` (see the module docstring)."""
    norm: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    depth = 0
    in_string = in_import = False
    line_start = True  # the next token starts a statement
    pending: tuple[int, int] | None = None  # a string starting a statement: a docstring?
    for found in _python_tokens(text):
        if found is None or len(norm) >= limit:
            return _tokens(norm, starts, ends, cut=True)
        kind, string, start, end = found
        if kind in _SKIPPED or (kind == tokenize.ERRORTOKEN and not string.strip()):
            continue
        if pending is not None and kind not in _STRINGS:
            if kind not in _ENDS:  # not a docstring after all
                norm.append("S")
                starts.append(pending[0])
                ends.append(pending[1])
            pending = None
        if kind in _ENDS:
            line_start, in_string, in_import = True, False, False
            continue
        if kind in _STRINGS:
            if in_string:  # the next piece of one literal
                if pending is not None:
                    pending = (pending[0], end)
                else:
                    ends[-1] = end
                continue
            in_string = True
            if line_start:
                pending, line_start = (start, end), False
                continue
            token = "S"
        else:
            in_string = False
            if kind == tokenize.NAME:
                if line_start and string in ("import", "from"):
                    in_import = True
                kept = string in _KEPT or in_import or (norm and norm[-1] == ".")
                token = string if kept else "V"
            else:
                token = string.strip() or string
                if token == "=" and depth > 0 and norm and norm[-1] == "V":
                    norm[-1] = text[starts[-1] : ends[-1]]  # a keyword argument keeps its name
                if token in _OPENING:
                    depth += 1
                elif token in _CLOSING:
                    depth = max(depth - 1, 0)
            line_start = False
        norm.append(token)
        starts.append(start)
        ends.append(end)
    return _tokens(norm, starts, ends, cut=False)


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
