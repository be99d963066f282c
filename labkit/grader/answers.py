"""The student's side of grading: record what the submission's code answers, as plain data.

This module runs inside the student's process (the grader's cells run its source text after the
notebook's cells, see ``labkit.grader.cells``), so nothing here is trusted and nothing here decides
a score. Each hidden test runs up to its one call of ``answer(produce)``: ``produce()`` calls the
student's code on the test's inputs, the result is converted to plain data (numbers, strings,
lists, dicts, numeric or string arrays, data frames) and the test is stopped there. The grader
then reruns each test in its own process, where the student's code never ran, with ``answer``
returning the recorded data (``labkit.grader.judging``). Public tests (worth no points) run here
in full; their outcome only feeds the feedback a student sees anyway when running
``grader.check``.

The record is a file of JSON lines: a header, then one line appended per test case, so a notebook
stopped half-way still leaves the answers it gave, and recording a case costs that case's answer
only (the record is never rewritten whole). It runs as source text, without labkit installed: it
uses only the standard library, numpy, otter's ``test_case`` and (for a data frame) pandas, all
in the grading image.
"""

import base64
import json
import os
import signal

FORMAT = "labkit-answers/3"  # /3: arrays of floats as their bytes; /2 had lists
MAX_ELEMENTS = 5_000_000
MAX_MESSAGE = 2000


class _Recorded(BaseException):
    """Ends a hidden test once its answer is recorded: the rest runs in the grader."""


class _TestTimeout(BaseException):
    """Raised by the alarm when a test's call of the student's code runs too long."""


def to_plain(value, _budget=None):
    """Return ``value`` as JSON-ready plain data, tagging arrays and frames; raise TypeError."""
    import numpy as np

    budget = _budget if _budget is not None else [MAX_ELEMENTS]

    def spend(n):
        budget[0] -= n
        if budget[0] < 0:
            raise TypeError(f"the answer holds more than {MAX_ELEMENTS} values")

    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        spend(1 + len(value) // 100)
        return str(value)
    if isinstance(value, np.ndarray):
        return _array_to_plain(value, spend)
    if isinstance(value, (list, tuple)):
        spend(1)
        return [to_plain(item, budget) for item in value]
    if isinstance(value, dict):
        spend(1)
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a dict in the answer has keys that are not strings")
        return {"dict": {str(k): to_plain(v, budget) for k, v in value.items()}}
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    if kind == "pandas.DataFrame":
        columns = [str(c) for c in value.columns]
        data = [_array_to_plain(value.iloc[:, i].to_numpy(), spend) for i in range(len(columns))]
        return {"frame": {"columns": columns, "data": data}}
    if kind == "pandas.Series":
        return _array_to_plain(value.to_numpy(), spend)
    raise TypeError(f"a {type(value).__name__} is not plain data (numbers, strings, arrays)")


def _array_to_plain(array, spend):
    import numpy as np

    array = np.asarray(array)
    spend(array.size)
    if array.dtype.kind == "O":
        try:
            array = np.array(array.tolist(), dtype=float)
        except (TypeError, ValueError):
            array = np.array([str(item) for item in array.ravel()]).reshape(array.shape)
    if array.dtype.kind == "f":  # the doubles' bytes, little-endian: exact, and 10x faster
        raw = np.ascontiguousarray(array, dtype="<f8").tobytes()
        body = {"dtype": "float", "shape": list(array.shape)}
        return {"array": {**body, "base64": base64.b64encode(raw).decode("ascii")}}
    # tolist() gives Python bools, ints and strs, as JSON wants them, at C speed
    if array.dtype.kind == "b":
        dtype, data = "bool", array.ravel().tolist()
    elif array.dtype.kind in "iu":
        dtype, data = "int", array.ravel().tolist()
    elif array.dtype.kind == "U":
        dtype, data = "str", array.ravel().tolist()
    elif array.dtype.kind == "S":
        dtype, data = "str", [str(x) for x in array.ravel()]
    else:
        raise TypeError(f"an array of {array.dtype} is not plain data")
    return {"array": {"dtype": dtype, "shape": list(array.shape), "data": data}}


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE]


def _append(entry, path):
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _alarm(seconds):
    def ring(signum, frame):
        raise _TestTimeout()

    try:
        signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    except ValueError:  # not the main thread: no per-test limit
        pass


def _disarm():
    try:
        signal.setitimer(signal.ITIMER_REAL, 0)
    except ValueError:
        pass


_STATE = {}


def start(*, out_path):
    """Begin a fresh record of answers at ``out_path`` (what an earlier run wrote is replaced)."""
    _STATE.clear()
    _STATE.update(out_path=out_path)
    temporary = out_path + ".tmp"
    with open(temporary, "w") as f:
        f.write(json.dumps({"format": FORMAT}) + "\n")
    os.replace(temporary, out_path)


def record_case(env, *, source, filename, function, seconds):
    """Run the test case ``function`` of the test file ``source`` against ``env`` (the notebook's
    globals) and add its result to the record: a hidden test's answer, or a public test's outcome.

    Each case appends one line ``{"part": "hidden"|"public", "key", "result"}``, where ``key`` is
    ``question/test function`` and ``result`` is ``{"answer"|"error"}`` for a hidden test,
    ``{"passed", "message"}`` for a public one.
    """
    from otter.test_files import test_case

    namespace = {"__name__": "labkit_test"}
    exec(compile(source, filename, "exec"), namespace)
    question = str(namespace.get("name", filename[:-3]))
    case = namespace.get(function)
    if not isinstance(case, test_case):
        return
    key = f"{question}/{function}"
    names = case._get_func_params()
    arguments = {n: (env if n == "env" else env.get(n)) for n in names}
    if case.hidden:
        entry = {"part": "hidden", "key": key}
        entry["result"] = _record_hidden(case, namespace, arguments, seconds)
    else:
        entry = {"part": "public", "key": key, "result": _run_public(case, arguments, seconds)}
    _append(entry, _STATE["out_path"])


def _record_hidden(case, namespace, arguments, seconds):
    box = []

    def answer(produce):
        try:
            value = produce()
        except _TestTimeout:
            box.append({"error": f"the code did not finish within {seconds:g} s"})
            raise _Recorded() from None
        except Exception as exc:
            box.append({"error": _describe(exc)})
            raise _Recorded() from None
        try:
            box.append({"answer": to_plain(value)})
        except Exception as exc:
            box.append({"error": _describe(exc)})
        raise _Recorded()

    namespace["answer"] = answer
    _alarm(seconds)
    try:
        case.test_func(**arguments)
    except _Recorded:
        pass
    except _TestTimeout:
        return {"error": f"the code did not finish within {seconds:g} s"}
    except Exception as exc:
        if not box:
            return {"error": _describe(exc)}
    finally:
        _disarm()
    return box[0] if box else {"error": "the test recorded no answer"}


def _run_public(case, arguments, seconds):
    _alarm(seconds)
    try:
        case.test_func(**arguments)
        return {"passed": True, "message": ""}
    except _TestTimeout:
        return {"passed": False, "message": f"did not finish within {seconds:g} s"}
    except Exception as exc:
        return {"passed": False, "message": _describe(exc)}
    finally:
        _disarm()
