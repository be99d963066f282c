"""The trusted side of grading: score recorded answers in a process the student's code never ran in.

A hidden test is one function that builds its inputs, passes the student's work through a single
``answer(lambda: ...)`` call and then asserts. In the student's process the function stops right
after that call, which records the answer as plain data (``labkit.grader.answers``). Here the same
function runs again from the top, from the test source read before the notebook ran: its inputs
and expected values are recomputed in this process, ``answer`` returns the recorded data (it never
calls the student's code) and every parameter naming a student value is a stand-in that refuses to
be used. Patching numpy, otter or builtins in the notebook therefore changes nothing here, and the
record is JSON, so reading it runs nothing either.

What depends only on the zip (a reference model, say) a hidden test computes through ``shared``
(``labkit.grader.reference``): once per process, and ahead of the first judge with ``prepare``.

``scan_notebook`` names what a TA should look at (code that patches libraries, reads grading
files or runs strings as code); it never changes a score.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import stat
import types
import unicodedata
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.grader import reference
from labkit.grader.answers import FORMAT

MAX_ANSWERS_BYTES = 64 * 1024 * 1024
WATCHED_MODULES = ("numpy", "otter", "builtins", "scipy", "sklearn", "labkit", "sys", "IPython")
GRADING_PATHS = re.compile(r"(^|[/\\])(tests|hidden_photos)([/\\]|$)|/autograder|OTTER_LOG")
DYNAMIC_CODE = ("exec", "eval", "compile", "__import__")
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

    def score_lines(self) -> list[str]:
        """One line per autograded question, ``score / points`` (see ``score_lines``)."""
        return score_lines(self.scores(), self.possible)

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


def score_lines(scores: dict[str, float], possible: dict[str, float]) -> list[str]:
    """One line per question of ``possible``: its name, then ``score / points`` (a question
    missing from ``scores`` scored 0). Both the Gradescope results and ``feedback.txt`` use these.
    """
    width = max([18, *(len(q) + 2 for q in possible)])
    return [f"  {q:<{width}}{scores.get(q, 0.0):g} / {p:g}" for q, p in possible.items()]


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


class AnswerError(Exception):
    """The record of answers cannot be used (missing, too big, malformed)."""


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


# --- reading what the student's process recorded ------------------------------------------------


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
    """Parse a record of answers (JSON written by ``labkit.answers``); raise AnswerError."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise AnswerError(f"the record of answers is unreadable ({type(exc).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise AnswerError("the record of answers is not in the expected format")
    for part in ("hidden", "public"):
        if not isinstance(record.get(part), dict):
            raise AnswerError(f"the record of answers has no {part!r} part")
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
    if tag == "array" and type(body) is dict:
        dtypes = {"bool": bool, "int": np.int64, "float": np.float64, "str": np.str_}
        shape = body.get("shape")
        data = body.get("data")
        if body.get("dtype") not in dtypes or type(shape) is not list or type(data) is not list:
            raise AnswerError("malformed array in an answer")
        if not all(type(n) is int and n >= 0 for n in shape) or int(np.prod(shape)) != len(data):
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


# --- judging -------------------------------------------------------------------------------------


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
    for node in ast.parse(source).body:
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


# --- what a TA should look at ---------------------------------------------------------------------


def scan_notebook(cells: dict[str, str]) -> list[str]:
    """Name the code in these cells (label -> source) that patches libraries, reads grading files
    or runs strings as code.

    Rebinding a plain name (a helper called ``allclose``) or importing otter is not flagged;
    assigning an attribute of an imported module (``np.allclose = ...``), ``setattr`` on one,
    writing into ``__builtins__`` or ``sys.modules``, naming grading files (``tests/``, a
    ``.OTTER_LOG``) and ``exec``/``eval`` are.
    """
    trees = {}
    for label, source in cells.items():
        with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
            trees[label] = ast.parse(_without_magics(source))
    modules = {"__builtins__": "builtins"}  # names bound to modules anywhere in the notebook
    for tree in trees.values():
        modules |= _module_aliases(tree)
    found: list[str] = []
    for label, tree in trees.items():
        for node in ast.walk(tree):
            for what in _suspicious(node, modules):
                note = f"{label}: {what}"
                if note not in found:
                    found.append(note)
    return found


def _without_magics(source: str) -> str:
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in WATCHED_MODULES:
                    aliases[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in WATCHED_MODULES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"


def _suspicious(node: ast.AST, modules: dict[str, str]):
    targets = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for target in targets:
        if isinstance(target, ast.Attribute) and _root_name(target) in modules:
            yield f"replaces {_dotted(target)} (a library's attribute)"
        if isinstance(target, ast.Subscript) and _dotted(target.value) in (
            "__builtins__",
            "sys.modules",
            "vars(builtins)",
            "builtins.__dict__",
            "__builtins__.__dict__",
        ):
            yield f"writes into {_dotted(target.value)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name in ("setattr", "delattr") and node.args:
            if _root_name(node.args[0]) in modules:
                yield f"{name} on {_dotted(node.args[0])} (a library)"
        if name in DYNAMIC_CODE:
            yield f"runs a string as code ({name})"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if GRADING_PATHS.search(node.value):
            yield f"names grading files ({node.value[:60]!r})"
