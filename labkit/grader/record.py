"""Reading what the student's process recorded: its answers, as JSON lines, checked on the way in.

The record is written by ``labkit.grader.answers`` in a folder the student's code could write, so
everything here treats it as hostile: the file must be a plain file of bounded size, the JSON
must have the expected shape, and each answer is rebuilt only from plain tagged data (numbers,
strings, lists, numeric or string arrays, data frames). Reading it runs nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import stat
from pathlib import Path

from labkit.grader.answers import FORMAT

MAX_ANSWERS_BYTES = 64 * 1024 * 1024
READABLE_FORMATS = (FORMAT, "labkit-answers/2")  # /2 is /3 with floats only as lists
MAX_DIMENSIONS = 32  # numpy's own limit is 64; no answer of a lab needs more than a few


class AnswerError(Exception):
    """The record of answers cannot be used (missing, too big, malformed)."""


def read_answers(path: Path) -> bytes:
    """The bytes of the student's record of answers, refusing a missing, odd or oversized one.

    The file is in a folder the student's code could write: a link or anything but a plain file
    is refused rather than followed, and reading never blocks.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise AnswerError("the notebook stopped before its answers were recorded") from None
    except OSError:
        raise AnswerError("the record of answers is not a plain file") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise AnswerError("the record of answers is not a plain file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_ANSWERS_BYTES:
            raise AnswerError("the record of answers is larger than 64 MB")
        data = f.read(MAX_ANSWERS_BYTES + 1)
    if len(data) > MAX_ANSWERS_BYTES:
        raise AnswerError("the record of answers is larger than 64 MB")
    return data


def parse_answers(data: bytes) -> dict:
    """Parse a record of answers (JSON lines written by ``labkit.grader.answers``) into
    ``{"format", "hidden": {key: result}, "public": {key: result}}``; raise AnswerError.

    A line that is not a well-formed entry (cut short by a process killed while writing it, or
    written by student code) is skipped: its case counts as not recorded, which earns nothing.
    A key recorded twice keeps its last line.
    """
    header, _, body = data.partition(b"\n")
    try:
        head = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise AnswerError(f"the record of answers is unreadable ({type(exc).__name__})") from None
    if not isinstance(head, dict) or head.get("format") not in READABLE_FORMATS:
        raise AnswerError("the record of answers is not in the expected format")
    record = {"format": FORMAT, "hidden": {}, "public": {}}
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict):
            continue
        part, key, result = entry.get("part"), entry.get("key"), entry.get("result")
        if part in ("hidden", "public") and isinstance(key, str) and isinstance(result, dict):
            record[part][key] = result
    return record


def from_plain(value):
    """Rebuild an answer from its plain form (the inverse of ``labkit.answers.to_plain``)."""
    import numpy as np

    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [from_plain(v) for v in value]
    if type(value) is not dict or len(value) != 1:
        raise AnswerError("malformed answer")
    ((tag, body),) = value.items()
    if tag == "dict" and type(body) is dict:
        return {str(k): from_plain(v) for k, v in body.items()}
    if tag == "array" and type(body) is dict and set(body) == {"dtype", "shape", "base64"}:
        return _float_array(body)
    if tag == "array" and type(body) is dict and set(body) == {"dtype", "shape", "data"}:
        dtypes = {"bool": bool, "int": np.int64, "float": np.float64, "str": np.str_}
        shape = body.get("shape")
        data = body.get("data")
        if body.get("dtype") not in dtypes or type(shape) is not list or type(data) is not list:
            raise AnswerError("malformed array in an answer")
        if not _valid_shape(shape) or math.prod(shape) != len(data):
            raise AnswerError("an array's shape does not match its data")
        kind = dtypes[body["dtype"]]
        expected = {bool: (bool,), np.int64: (int,), np.float64: (float, int), np.str_: (str,)}
        if not all(type(x) in expected[kind] for x in data):
            raise AnswerError("an array in an answer mixes types")
        if kind is np.int64:
            return np.array(data, dtype=object).astype(np.int64).reshape(shape)
        return np.array(data, dtype=kind).reshape(shape)
    if tag == "frame" and type(body) is dict:
        import pandas as pd

        columns, data = body.get("columns"), body.get("data")
        if type(columns) is not list or type(data) is not list or len(columns) != len(data):
            raise AnswerError("malformed data frame in an answer")
        arrays = [from_plain(d) for d in data]
        if not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in arrays):
            raise AnswerError("a data frame's columns must be 1-D arrays")
        if len({len(a) for a in arrays}) > 1:
            raise AnswerError("a data frame's columns differ in length")
        frame = pd.DataFrame({i: a for i, a in enumerate(arrays)})
        frame.columns = [str(c) for c in columns]
        return frame
    raise AnswerError("malformed answer")


def _float_array(body: dict):
    """An array of doubles from its little-endian bytes in base64, checked against its shape."""
    import numpy as np

    shape, text = body["shape"], body["base64"]
    if body["dtype"] != "float" or type(shape) is not list or type(text) is not str:
        raise AnswerError("malformed array in an answer")
    if not _valid_shape(shape):
        raise AnswerError("an array's shape does not match its data")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AnswerError("malformed array in an answer") from None
    if math.prod(shape) * 8 != len(raw):
        raise AnswerError("an array's shape does not match its data")
    return np.frombuffer(raw, dtype="<f8").astype(np.float64).reshape(shape)


def _valid_shape(shape: list) -> bool:
    return len(shape) <= MAX_DIMENSIONS and all(type(n) is int and n >= 0 for n in shape)
