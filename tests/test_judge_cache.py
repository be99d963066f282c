"""Work the judges share: computed once per process, never changed by a judge, never seen by
student code, and giving the same verdicts as computing it in every judge."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest

from labkit.grader import judging, reference
from labkit.grader.verdict import Verdict

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"

SHARED_TEST_FILE = """\
from otter.test_files import test_case

OK_FORMAT = False

name = "q_scale"
points = 2

@test_case(points=0, hidden=False)
def test_scale_format(scale):
    assert scale(1) == 3

@test_case(points=2, hidden=True)
def test_scale_values(scale):
    import numpy as np
    xs = np.arange(4.0)
    got = np.asarray(answer(lambda: scale(xs.copy())), dtype=float)

    def factor():
        import counting
        counting.calls.append(1)
        with open("factor.txt") as f:
            return {"factor": float(f.read()), "seen": []}

    expected = shared(factor)
    expected["seen"].append("a judge changed its copy")
    assert not expected["seen"][1:], "a judge saw another judge's change"
    assert np.allclose(got, expected["factor"] * xs), "scale(x) must be the factor times x"
"""


@pytest.fixture
def counting(monkeypatch):
    """A module the shared computations count their calls in; no shared result before or after."""
    module = types.SimpleNamespace(calls=[])
    monkeypatch.setitem(sys.modules, "counting", module)
    reference.forget()
    yield module
    reference.forget()


def _compiled(source: str, name: str) -> types.FunctionType:
    namespace: dict = {}
    exec(compile(source, "<test>", "exec"), namespace)
    return namespace[name]


def _factor_record(values: list[float]) -> dict:
    import numpy as np

    from labkit.grader.answers import to_plain

    return {
        "hidden": {"q_scale/test_scale_values": {"answer": to_plain(np.array(values))}},
        "public": {"q_scale/test_scale_format": {"passed": True}},
    }


def test_shared_computes_once_per_code_and_hands_out_copies(counting, tmp_path, monkeypatch):
    """Is a shared function run once, and does changing what it returned change nothing later?"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "factor.txt").write_text("3")
    compute = _compiled(
        "def factor():\n"
        "    import counting\n"
        "    counting.calls.append(1)\n"
        "    return {'factor': float(open('factor.txt').read()), 'seen': []}\n",
        "factor",
    )
    first = reference.shared(compute)
    first["seen"].append("changed")
    first["factor"] = 0.0
    second = reference.shared(compute)
    assert second == {"factor": 3.0, "seen": []}
    assert len(counting.calls) == 1 and reference.computed() == 1


def test_shared_results_follow_the_grading_files(counting, tmp_path, monkeypatch):
    """Does another content of the grading files (another zip) give another result?"""
    monkeypatch.chdir(tmp_path)
    compute = _compiled(
        "def factor():\n"
        "    import counting\n"
        "    counting.calls.append(1)\n"
        "    return float(open('factor.txt').read())\n",
        "factor",
    )
    (tmp_path / "factor.txt").write_text("3")
    assert reference.shared(compute) == 3.0
    (tmp_path / "factor.txt").write_text("5.5")
    assert reference.shared(compute) == 5.5
    assert len(counting.calls) == 2


def test_forget_drops_every_shared_result(counting, tmp_path, monkeypatch):
    """After ``forget``, is nothing left, and is the next call computed again?"""
    monkeypatch.chdir(tmp_path)
    compute = _compiled(
        "def one():\n    import counting\n    counting.calls.append(1)\n    return 1\n", "one"
    )
    reference.shared(compute)
    reference.forget()
    assert reference.computed() == 0 and reference._results == {}
    reference.shared(compute)
    assert len(counting.calls) == 2


@pytest.mark.parametrize(
    ("source", "name", "why"),
    [
        (
            "def outer(x):\n    def inner():\n        return x\n    return inner\n",
            "inner",
            "variables",
        ),
        ("def inner(n):\n    return n\n", "inner", "no arguments"),
        ("def inner(*args):\n    return args\n", "inner", "no arguments"),
        ("def inner():\n    return answer(lambda: 1)\n", "inner", "answer"),
        ("def inner():\n    return [answer for _ in ()]\n", "inner", "answer"),
    ],
)
def test_shared_refuses_what_could_depend_on_a_submission(tmp_path, monkeypatch, source, name, why):
    """A closure over the test's variables, arguments or a call of ``answer`` are refused."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(source, "<test>", "exec"), namespace)
    compute = namespace["outer"](1) if "outer" in namespace else namespace[name]
    with pytest.raises(ValueError, match=why):
        reference.shared(compute)
    with pytest.raises(ValueError, match="function"):
        reference.shared(print)


def test_prepare_computes_ahead_what_the_judges_then_reuse(counting, tmp_path):
    """Does ``prepare`` run each ``shared`` function once, so that judges never run it again?"""
    (tmp_path / "factor.txt").write_text("3")
    tests = {"q_scale.py": SHARED_TEST_FILE}
    assert judging.prepare(tests, files_dir=tmp_path) == ["q_scale/test_scale_values/factor"]
    assert len(counting.calls) == 1
    for _ in range(3):
        verdict = judging.judge(tests, _factor_record([0, 3, 6, 9]), files_dir=tmp_path)
        assert verdict.scores() == {"q_scale": 2.0}
    wrong = judging.judge(tests, _factor_record([0, 2, 4, 6]), files_dir=tmp_path)
    assert wrong.scores() == {"q_scale": 0.0}
    assert "factor times x" in wrong.tests[1].message
    assert len(counting.calls) == 1


def test_prepare_leaves_a_failing_computation_to_the_judge(counting, tmp_path):
    """A shared function that fails is not cached: the judge fails that test and says why."""
    tests = {"q_scale.py": SHARED_TEST_FILE}
    assert judging.prepare(tests, files_dir=tmp_path) == []  # factor.txt is missing
    verdict = judging.judge(tests, _factor_record([0, 3, 6, 9]), files_dir=tmp_path)
    assert verdict.scores() == {"q_scale": 0.0}
    assert verdict.tests[1].message.startswith("FileNotFoundError")
    assert len(counting.calls) == 2


def test_judging_with_and_without_prepare_gives_one_verdict(counting, tmp_path):
    """Is the verdict of a judge after ``prepare`` the one of a judge that computes it itself?"""
    (tmp_path / "factor.txt").write_text("3")
    tests = {"q_scale.py": SHARED_TEST_FILE}
    for values in ([0, 3, 6, 9], [0, 1, 2, 3]):
        reference.forget()
        cold = judging.judge(tests, _factor_record(values), files_dir=tmp_path)
        reference.forget()
        judging.prepare(tests, files_dir=tmp_path)
        warm = judging.judge(tests, _factor_record(values), files_dir=tmp_path)
        assert asdict(cold) == asdict(warm)


# --- the lab's hidden tests, on the corpus ------------------------------------------------------


def _record_answers(autograder, paths: list[Path]) -> dict[str, bytes | None]:
    """Run each notebook as ``labkit grade`` does and keep its record of answers, unjudged."""
    from labkit.batch.forking import ForkRunner, ServerSpawner
    from labkit.grader import pipeline
    from labkit.grader.isolation import student_user
    from labkit.intake import read_notebook

    slots = 2
    spawner = ServerSpawner(tests=autograder.tests, files=autograder.files)
    runners = [
        ForkRunner(
            server_factory=spawner.spawn,
            memory_mb=autograder.config.memory_mb,
            stopping=threading.Event(),
        )
        for _ in range(slots)
    ]
    users = [student_user(autograder.config.student_uid + k) for k in range(slots)]
    free = list(range(slots))
    lock = threading.Lock()

    def record(path: Path) -> tuple[str, bytes | None]:
        with lock:
            slot = free.pop()
        kept = []

        def keep(answers: bytes | None) -> Verdict:
            kept.append(answers)
            return Verdict(tests=[], possible={})

        try:
            name, notebook = read_notebook(path)
            pipeline.grade_notebook(
                name,
                notebook,
                runner=runners[slot],
                judge=keep,
                tests=autograder.tests,
                files=autograder.files,
                config=autograder.config,
                user=users[slot],
            )
        finally:
            with lock:
                free.append(slot)
        return path.stem, kept[0]

    try:
        with ThreadPoolExecutor(slots) as pool:
            return dict(pool.map(record, paths))
    finally:
        for runner in runners:
            runner.close()
        spawner.close()


@pytest.fixture(scope="module")
def lab(autograder_zip):
    """The lab's autograder, read as ``labkit grade`` reads it."""
    from labkit.intake import Autograder

    return Autograder.load(autograder_zip)


@pytest.fixture(scope="module")
def corpus_records(lab) -> dict[str, bytes | None]:
    """The record of answers of every corpus submission, made once for the module."""
    return _record_answers(lab, sorted(SUBMISSIONS.glob("*.ipynb")))


def test_prepare_finds_every_shared_computation_of_the_lab(lab):
    """Is each ``shared(...)`` call of the lab's hidden tests one that ``prepare`` computes ahead
    (a nested function of the test, named), and are there some?"""
    import ast

    calls = 0
    for source in lab.tests.values():
        calls += sum(
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "shared"
            for node in ast.walk(ast.parse(source))
        )
    found = sum(
        len(names) for s in lab.tests.values() for names in judging.shared_functions(s).values()
    )
    assert calls == found >= 2


@pytest.mark.graded
def test_cached_and_uncached_judges_agree_on_the_corpus(lab, corpus_records, tmp_path):
    """On every corpus submission, do a judge computing the shared work itself, one reusing it in
    this process and one forked by a fork server of a spawner that prepared it give the same
    verdict, with the table's scores?"""
    from test_corpus import EXPECTED
    from threadpoolctl import threadpool_limits

    from labkit.batch.forking import ServerSpawner

    files_dir = judging.materialize(lab.files, tmp_path / "files")
    assert set(corpus_records) == set(EXPECTED)
    spawner = ServerSpawner(tests=lab.tests, files=lab.files)
    server = spawner.spawn()
    limits = threadpool_limits(1)  # as in the fork server's judges
    try:
        reference.forget()
        prepared = judging.prepare(lab.tests, files_dir=files_dir)
        assert len(prepared) == reference.computed() >= 2
        for name, record in sorted(corpus_records.items()):
            warm = asdict(judging.judge_record(lab.tests, record, files_dir=files_dir))
            from_server = json.loads(server.judge(record).verdict_json)
            reference.forget()
            cold_verdict = judging.judge_record(lab.tests, record, files_dir=files_dir)
            judging.prepare(lab.tests, files_dir=files_dir)
            assert asdict(cold_verdict) == warm == from_server, name
            assert cold_verdict.scores() == EXPECTED[name], name
    finally:
        limits.restore_original_limits()
        server.close()
        spawner.close()
        reference.forget()


@pytest.mark.graded
def test_student_code_finds_neither_shared_results_nor_hidden_tests(lab, tmp_path):
    """A notebook run by a fork server that the spawner forked, after it prepared the shared
    work, finds in its memory none of it, nor the hidden tests' sources or the judge-only files
    the spawner was sent; and it computes on one thread (no numeric library's worker threads
    beside it, as there were when each child limited its libraries itself), as do the servers.
    The server's judge works from what it inherited; a server that dies is replaced by another
    one forked from the same spawner, in a fraction of the spawner's start."""
    from labkit.batch.forking import ForkRunner, ServerSpawner
    from labkit.grader import pipeline
    from labkit.grader.isolation import student_user

    probe = nbformat.v4.new_notebook()
    probe.cells = [
        nbformat.v4.new_code_cell(
            "import gc, os, sys\n"
            "shared_results = getattr(sys.modules.get('labkit.grader.reference'), '_results', {})\n"
            "if shared_results:\n"
            "    os._exit(3)\n"
        ),
        nbformat.v4.new_code_cell(
            "for o in gc.get_objects():\n"
            "    if type(o).__name__ == 'Setup' and (o.tests or o.files):\n"
            "        os._exit(4)\n"
        ),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "np.ones((400, 400)) @ np.ones((400, 400))  # BLAS at work: its threads start, if any\n"
            "if len(os.listdir('/proc/self/task')) != 1:\n"
            "    os._exit(5)\n"
        ),
    ]
    spawner = ServerSpawner(tests=lab.tests, files=lab.files)
    runner = ForkRunner(
        server_factory=spawner.spawn, memory_mb=lab.config.memory_mb, stopping=threading.Event()
    )
    try:
        first = runner.ensure_server()
        for process in (spawner.process, first.process):
            assert os.listdir(f"/proc/{process.pid}/task") == [str(process.pid)]
        verdict, report = pipeline.grade_notebook(
            "logreg_digits.ipynb",
            nbformat.writes(probe).encode(),
            runner=runner,
            judge=lambda record: Verdict.from_dict(json.loads(first.judge(record).verdict_json)),
            tests=lab.tests,
            files=lab.files,
            config=lab.config,
            user=student_user(lab.config.student_uid),
        )
        assert report.skips == [], [skip.sentence() for skip in report.skips]
        assert set(verdict.scores()) == set(lab.points)
        assert sum(verdict.scores().values()) == 0  # the probe answered nothing
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        assert not first.alive()
        second = runner.ensure_server()
        assert second.alive() and second.process.pid != first.process.pid
        assert spawner.alive() and second.start_seconds < spawner.start_seconds
    finally:
        runner.close()
        spawner.close()
    assert not spawner.alive()
