"""The trusted side of grading: score recorded answers in a process the student's code never ran in.

A hidden test is one function that builds its inputs, passes the student's work through a single
``answer(lambda: ...)`` call and then asserts. In the student's process the function stops right
after that call, which records the answer as plain data (``labkit.grader.answers``). Here the same
function runs again from the top, from the test source read before the notebook ran: its inputs
and expected values are recomputed in this process, ``answer`` returns the recorded data (it never
calls the student's code) and every parameter naming a student value is a stand-in that refuses to
be used. Patching numpy, otter or builtins in the notebook therefore changes nothing here, and the
record is JSON (``labkit.grader.record``), so reading it runs nothing either.

What depends only on the zip (a reference model, say) a hidden test computes through ``shared``
(``labkit.grader.reference``): once per process, and ahead of the first judge with ``prepare``.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import types
import warnings
from pathlib import Path

from labkit.grader import reference, syntax
from labkit.grader.record import AnswerError, from_plain, parse_answers
from labkit.grader.verdict import (
    PASSED,
    PUBLIC_FAILED,
    SAFE_NAME,
    TestVerdict,
    Verdict,
    student_safe_message,
)


class _StudentValue:
    """Stands for a student's value in a hidden test run here: any use is a test-writing error."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(
            f"hidden test used the student's {self._name!r} outside answer(): student values "
            "may only be read inside the lambda given to answer()"
        )

    __getattr__ = __call__ = __iter__ = __len__ = __bool__ = __getitem__ = _refuse
    __setattr__ = __array__ = __float__ = __int__ = _refuse


def read_tests(tests_dir: Path) -> dict[str, str]:
    """Read every ``*.py`` test file of ``tests_dir`` into memory: name -> source."""
    return {p.name: p.read_text() for p in sorted(Path(tests_dir).glob("*.py"))}


class _Replayer:
    """The judge's ``answer``: returns the recorded answer, or fails saying why to the TA
    (the exception's message) and to the student (``student``, in the grader's own words)."""

    def __init__(self, record):
        self.record = record
        self.called = False
        self.student = ""

    def __call__(self, produce):
        if self.called:
            raise RuntimeError("a hidden test may call answer() only once")
        self.called = True
        record = self.record
        if record is None:
            self.student = "no answer was recorded: the notebook did not reach this test"
            raise AssertionError("no answer was recorded: the notebook did not reach this test")
        if type(record) is not dict:
            self.student = "the recorded answer is malformed"
            raise AssertionError("the recorded answer is malformed")
        if "error" in record:
            error = str(record["error"])
            self.student = _student_error(error)
            raise AssertionError(f"the student's code raised {error[:1000]}")
        return from_plain(record.get("answer"))


def _student_error(error: str) -> str:
    """The student-safe reading of a recorded error (text from the student's process)."""
    limit = re.fullmatch(r"the code did not finish within ([0-9]{1,6}(?:\.[0-9]{1,3})?) s", error)
    if limit:
        return f"your code did not finish within {limit.group(1)} s"
    name = error.split(":", 1)[0]
    if ":" in error and SAFE_NAME.fullmatch(name):
        return f"your code raised {name}"
    return "your code raised an error"


def judge(tests: dict[str, str], answers: dict, *, files_dir: Path) -> Verdict:
    """Judge recorded ``answers`` with the hidden tests' sources, in ``files_dir``.

    ``files_dir`` holds the grading files (data, hidden photos) the tests read by relative path;
    it must be a copy the student's code never had access to while the notebook ran. Each test's
    verdict holds the TA's message and a student-safe one (``student_safe_message``; for a
    missing or failed answer, a sentence of the grader's own). Each hidden test finds ``answer``
    and ``shared`` among its globals.
    """
    from otter.test_files import ExceptionTestFile

    verdicts: list[TestVerdict] = []
    possible: dict[str, float] = {}
    hidden_answers, public_results = answers.get("hidden", {}), answers.get("public", {})
    with _working_directory(files_dir), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for filename, source in sorted(tests.items()):
            test_file = ExceptionTestFile.from_string(source, path=filename)
            question = test_file.name
            possible[question] = round(test_file.possible, 5)
            for case in test_file.test_cases:
                function = case.body.test_func
                key = f"{question}/{function.__name__}"
                verdict = TestVerdict(question, function.__name__, case.hidden, case.points, False)
                if case.hidden:
                    replayer = _Replayer(hidden_answers.get(key))
                    function.__globals__["answer"] = replayer
                    function.__globals__["shared"] = reference.shared
                    names = case.body._get_func_params()
                    try:
                        function(**{n: _StudentValue(n) for n in names})
                        verdict.passed = True
                        verdict.student_message = PASSED
                    except Exception as exc:
                        verdict.message = f"{type(exc).__name__}: {exc}"[:2000]
                        verdict.student_message = replayer.student or student_safe_message(
                            exc, test_file=filename
                        )
                else:
                    public = public_results.get(key)
                    verdict.passed = type(public) is dict and public.get("passed") is True
                    verdict.student_message = PASSED if verdict.passed else PUBLIC_FAILED
                    if not verdict.passed:
                        text = public.get("message") if type(public) is dict else "not run"
                        verdict.message = str(text)[:2000]
                verdicts.append(verdict)
    return Verdict(tests=verdicts, possible=possible)


def prepare(tests: dict[str, str], *, files_dir: Path) -> list[str]:
    """Compute, in this process, what the hidden tests share (``labkit.grader.reference``).

    Every nested function a hidden test passes to ``shared(...)`` runs here once, in
    ``files_dir`` (the grading files, as ``judge`` gets them), so that later judges in this
    process, or in processes forked from it, reuse its result instead of computing it again. A
    process that judges many submissions calls it once before the first: ``labkit grade``'s fork
    servers do, before they fork any child, and so can a cluster worker, as
    ``prepare(tests, files_dir=...)`` with the same arguments it then passes to ``judge``. Without
    it, the first judge computes them. A computation that fails is left to the judge, which
    reports it in the test's verdict; this returns ``question/test/function`` for each one
    computed.
    """
    from otter.test_files import ExceptionTestFile

    computed = []
    with _working_directory(files_dir), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for filename, source in sorted(tests.items()):
            try:
                test_file = ExceptionTestFile.from_string(source, path=filename)
                targets = shared_functions(source)
            except Exception:
                continue  # the judge reports a broken test file
            for case in test_file.test_cases:
                function = case.body.test_func
                for code in function.__code__.co_consts:
                    if not isinstance(code, types.CodeType):
                        continue
                    if code.co_name not in targets.get(function.__name__, ()):
                        continue
                    compute = types.FunctionType(code, function.__globals__, code.co_name)
                    try:
                        reference.shared(compute)
                    except Exception:
                        continue
                    computed.append(f"{test_file.name}/{function.__name__}/{code.co_name}")
    return computed


def shared_functions(source: str) -> dict[str, set[str]]:
    """Per test function of a test file's ``source``, the names of the nested functions it passes
    to ``shared`` (what ``prepare`` computes ahead; a ``shared(lambda: ...)`` is computed by the
    first judge only)."""
    targets: dict[str, set[str]] = {}
    for node in syntax.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        nested = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "shared"
                and len(call.args) == 1
                and isinstance(call.args[0], ast.Name)
                and call.args[0].id in nested
            ):
                targets.setdefault(node.name, set()).add(call.args[0].id)
    return targets


def judge_record(tests: dict[str, str], record: bytes | None, *, files_dir: Path) -> Verdict:
    """Parse and judge a record of answers as the student's process wrote it (``None``: none).

    An unusable record judges as no answers at all, and says why in the verdict's notes.
    """
    answers, notes = {"hidden": {}, "public": {}}, []
    if record is not None:
        try:
            answers = parse_answers(record)
        except AnswerError as exc:
            notes.append(str(exc))
    verdict = judge(tests, answers, files_dir=files_dir)
    verdict.notes = notes
    return verdict


@contextlib.contextmanager
def _working_directory(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def materialize(files: dict[str, bytes], folder: Path) -> Path:
    """Write a snapshot of grading files (relative path -> bytes) under ``folder``."""
    folder = Path(folder)
    for relative, data in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Read every file under ``folder`` into memory: relative path -> bytes."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
