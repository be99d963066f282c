"""Parsing in threads: labkit grade's slots parse notebooks and test files side by side."""

from __future__ import annotations

import ast
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from labkit import intake
from labkit.grader import cells, judging, scan

TEST_FILE = """from otter.test_files import test_case

name = "q_double"
points = 2

@test_case(points=2, hidden=True)
def test_double_values(double):
    def reference():
        return 1
    got = answer(lambda: double(3))
    assert got == 2 * 3 == shared(reference) * 6
"""


def test_parsing_is_one_thread_at_a_time_on_every_grading_path(monkeypatch):
    """CPython 3.11 can fail two parses made at once with a spurious SystemError: do the
    notebook scan, the test-file readers and the points reader, called from four threads, ever
    parse at the same time?"""
    inside, most, calls = [0], [0], [0]
    counting = threading.Lock()
    real_parse = ast.parse

    def slow_parse(source, *args, **kwargs):
        with counting:
            inside[0] += 1
            calls[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.005)  # long enough for another thread to come in, were it allowed
        try:
            return real_parse(source, *args, **kwargs)
        finally:
            with counting:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    work = [
        lambda: cells.test_functions(TEST_FILE),
        lambda: cells.question_of("q_double.py", TEST_FILE),
        lambda: judging.shared_functions(TEST_FILE),
        lambda: intake._points(TEST_FILE),
        lambda: scan.scan_notebook({"code cell 1": "import os\nx = 1\n", "code cell 2": "y = 2"}),
    ] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: job(), work))
    assert results[0] == ["test_double_values"] and results[1] == "q_double"
    assert results[3] == 2.0
    assert calls[0] >= len(work) and most[0] == 1
