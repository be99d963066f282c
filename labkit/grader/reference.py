"""Reference results the hidden tests share: computed once per process, handed out as copies.

Some of what a hidden test checks against depends only on the autograder zip, never on the
submission: a reference model trained on the zip's data, the share of the hidden photos it labels
right. A hidden test puts that work in a nested function of no arguments that uses none of the
test's variables, and calls it through ``shared`` (which the judge provides, as it provides
``answer``), after its ``answer(...)`` call::

    outputs = answer(lambda: ...)

    def calibration():
        ...  # load data/..., fit the reference model
        return model, ref_share

    model, ref_share = shared(calibration)

The first call computes it; later calls in the same process, for the same code and the same
grading files, return a deep copy of that first result, so no judge can change what the next one
gets. ``labkit.grader.judging.prepare`` computes every such function of the hidden tests ahead of
time: a process that judges many submissions (a fork server of ``labkit grade``, a cluster worker)
calls it once, and every judge forked from it inherits the results. A process about to run
student code calls ``forget`` first, so that student code never finds them.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import stat
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
_results: dict[str, Any] = {}
_fingerprints: dict[tuple, str] = {}


def shared(compute: Callable[[], Any]) -> Any:
    """``compute()``, computed once per process for its code and the working folder's files.

    Returns a deep copy of the result each time. ``compute`` must be a plain function of no
    arguments that uses no variable of the function it is defined in (its result must depend only
    on the grading files, read from the working folder) and never calls ``answer``; anything else
    raises ``ValueError``, which the release's solution gate reports.
    """
    key = _key(compute)
    if key not in _results:
        _results[key] = compute()
    return copy.deepcopy(_results[key])


def forget() -> None:
    """Drop every shared result (a process calls this before it runs student code)."""
    _results.clear()
    _fingerprints.clear()


def computed() -> int:
    """How many shared results this process holds."""
    return len(_results)


def _key(compute: Callable[[], Any]) -> str:
    if not isinstance(compute, types.FunctionType):
        raise ValueError("shared() takes a function defined in the hidden test")
    code = compute.__code__
    name = code.co_name
    if code.co_freevars:
        used = ", ".join(code.co_freevars)
        raise ValueError(
            f"shared({name}) uses the test's own variables ({used}): a shared computation must "
            "depend only on the grading files, so load what it needs inside it"
        )
    arguments = code.co_argcount or code.co_kwonlyargcount or code.co_flags & _VARIADIC
    if arguments or compute.__defaults__:
        raise ValueError(f"shared({name}) must be a function of no arguments")
    if "answer" in _names(code):
        raise ValueError(f"shared({name}) calls answer(): a student's work is never shared")
    digest = hashlib.sha256(repr(_describe(code)).encode())
    digest.update(_files_fingerprint(Path.cwd()).encode())
    return digest.hexdigest()


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _describe(code: types.CodeType) -> tuple:
    """What a function computes, independent of where its source sits (no file name or lines)."""
    consts = tuple(
        _describe(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
        for c in code.co_consts
    )
    return (code.co_qualname, code.co_code, consts, code.co_names, code.co_varnames)


def _files_fingerprint(folder: Path) -> str:
    """A hash of every file's path and content under ``folder``, read again only when a file's
    size or modification time changed."""
    listing = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                relative = path.relative_to(folder).as_posix()
                listing.append((relative, info.st_size, info.st_mtime_ns))
    signature = (str(folder), tuple(listing))
    if signature not in _fingerprints:
        digest = hashlib.sha256()
        for relative, _, _ in listing:
            digest.update(relative.encode() + b"\0")
            digest.update(hashlib.sha256((folder / relative).read_bytes()).digest())
        _fingerprints[signature] = digest.hexdigest()
    return _fingerprints[signature]
