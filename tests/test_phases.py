"""Where grading time goes: the phases of one submission, their sums, and where they are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pipeline import LIMITS, WORKSPACE, FakeClock, FakeRunner, notebook_cells

from labkit.gradebook.outcome import BatchResult, Outcome, Status
from labkit.gradebook.summary import summary_text
from labkit.grader.cells import CellKind
from labkit.grader.phases import PHASES, PhaseClock, total_phases
from labkit.grader.pipeline import CellResult, Stop, run_cells

ROOT = Path(__file__).resolve().parent.parent


def test_phase_clock_adds_up_in_declared_order():
    """Are the seconds of a phase added up, kept in PHASES order, rounded to the millisecond,
    and an unknown phase refused?"""
    clock = FakeClock(0.0)
    phases = PhaseClock(clock=clock)
    with phases.measure("judge"):
        clock.advance(0.5)
    with phases.measure("intake"):
        clock.advance(0.1234)
    phases.add("judge", 0.25)
    assert phases.rounded() == {"intake": 0.123, "judge": 0.75}
    assert list(phases.rounded()) == [p for p in PHASES if p in ("intake", "judge")]
    with pytest.raises(KeyError):
        phases.add("sleeping", 1.0)


def test_run_cells_counts_each_kind_of_cell_and_reruns_apart():
    """The grader's cells count as start, the notebook's as cells, the tests' as record; once a
    cell stopped the run, the whole next run counts as reruns; ending each process as cleanup."""
    cells = notebook_cells(2)  # prelude, 2 notebook cells, recorder setup, 1 test cell
    durations = {(1, 0): 0.5, (1, 1): 2.0, (1, 2): 3.0, (1, 3): 0.25, (1, 4): 4.0}
    runner = FakeRunner(durations=durations)
    phases = PhaseClock(clock=runner.clock)
    run_cells(
        cells, runner=runner, workspace=WORKSPACE, limits=LIMITS, clock=runner.clock, phases=phases
    )
    assert [c.kind for c in cells] == [
        CellKind.SETUP, CellKind.NOTEBOOK, CellKind.NOTEBOOK, CellKind.SETUP, CellKind.TEST,
    ]  # fmt: skip
    assert phases.rounded() == {"start": 0.75, "cells": 5.0, "record": 4.0, "cleanup": 0.0}

    runner = FakeRunner({(1, 2): CellResult(Stop.DIED, 9)}, durations={(1, 2): 1.5})
    phases = PhaseClock(clock=runner.clock)
    run_cells(
        cells, runner=runner, workspace=WORKSPACE, limits=LIMITS, clock=runner.clock, phases=phases
    )
    # first run: prelude 1, cell 1 1, cell 2 1.5 (died); the rerun: four cells of 1 s each
    assert phases.rounded() == {"start": 1.0, "cells": 2.5, "reruns": 4.0, "cleanup": 0.0}


def test_totals_ignore_what_is_not_a_phase_or_a_number():
    """Summed over submissions, in PHASES order; a hand-edited results.json's odd values (text,
    negative, unknown phase, None) count as nothing."""
    found = total_phases(
        [
            {"cells": 2.0, "judge": 0.5},
            {"cells": 1.5, "judge": "slow", "intake": -3, "lunch": 9.0},
            None,
            {},
        ]
    )
    assert found == {"cells": 3.5, "judge": 0.5}


def test_results_json_keeps_phases_and_reads_older_files_without_them():
    """An outcome's phases survive results.json; a results.json written before phases existed
    still loads, with none."""
    outcome = Outcome.new("a.ipynb", Status.OK, points={"q": 1.0})
    outcome.phases = {"cells": 1.25, "judge": 0.5}
    assert Outcome.from_json(outcome.to_json()).phases == {"cells": 1.25, "judge": 0.5}
    older = json.loads(outcome.to_json())
    del older["phases"]
    assert Outcome.from_json(json.dumps(older)).phases == {}


def test_summary_prints_the_phases_only_when_measured():
    """The summary's last lines say where the time went and how long the servers took to start;
    a batch with nothing graded says nothing of phases."""
    outcome = Outcome.new("a.ipynb", Status.OK, points={"q": 1.0})
    result = BatchResult([outcome], {"q": 1.0}, 12.0, 0)
    assert "time per phase" not in summary_text(result)
    result.phases, result.server_seconds = {"cells": 8.04, "judge": 1.5}, 3.25
    line = summary_text(result).splitlines()[-1]
    assert line == (
        "time per phase, summed (s): cells 8.0, judge 1.5; grading servers started in 3.2 s"
    )


class _FakeServer:
    """Stands for a fork server: notes when it is made, told to quit and waited for."""

    def __init__(self, log: list[str], name: str, seconds: float):
        self.log, self.name, self.seconds = log, name, seconds
        self.start_seconds = None
        log.append(f"made {name}")

    def alive(self) -> bool:
        return True

    def wait_ready(self):
        self.start_seconds = self.seconds
        self.log.append(f"ready {self.name}")
        return self

    def ask_to_quit(self) -> None:
        self.log.append(f"quit {self.name}")

    def close(self) -> None:
        self.log.append(f"closed {self.name}")


class _FakeSpawner(_FakeServer):
    """Stands for the spawner: each slot's server is spawned from it, once it is ready."""

    def __init__(self, log: list[str], *, tests, files):
        super().__init__(log, "spawner", 3.5)
        self.spawned = 0

    def spawn(self) -> _FakeServer:
        assert self.start_seconds is not None, "spawned before the spawner was ready"
        self.spawned += 1
        return _FakeServer(self.log, f"server {self.spawned}", 0.25)


@pytest.mark.parametrize("start_servers", [True, False])
def test_slots_servers_come_from_one_spawner_started_at_once_and_stop_together(
    monkeypatch, start_servers
):
    """Is the spawner made before any user is claimed (it starts while the users are checked),
    or on first use when there is nothing to grade yet; does each slot get a server spawned
    from it, once it is ready; is every one, spawner included, told to quit before the grader
    waits for any; is each start counted once (the spawner's, then each server's)?"""
    from labkit.batch import grader as grader_module
    from labkit.grader.isolation import StudentUser
    from labkit.intake import Autograder

    log: list[str] = []
    monkeypatch.setattr(grader_module, "ServerSpawner", lambda **kw: _FakeSpawner(log, **kw))
    monkeypatch.setattr(
        grader_module, "student_user", lambda uid: log.append(f"user {uid}") or StudentUser(None)
    )
    lab = Autograder.load(ROOT / "autograder" / "logreg_digits-autograder.zip")
    grader = grader_module.Grader(
        lab, timeout=60, memory_mb=None, jobs=2, start_servers=start_servers
    )
    base = lab.config.student_uid
    made = ["made spawner"] if start_servers else []
    assert log == [*made, f"user {base}", f"user {base + 1}"]
    log.clear()
    for slot in grader.all_slots:
        slot.runner.ensure_server()
    made = [] if start_servers else ["made spawner"]
    assert log == [
        *made, "ready spawner",
        "made server 1", "ready server 1", "made server 2", "ready server 2",
    ]  # fmt: skip
    assert grader.server_seconds() == 4.0
    log.clear()
    grader.close()
    assert log == [
        "quit server 1", "quit server 2", "quit spawner",
        "closed server 1", "closed server 2", "closed spawner",
    ]  # fmt: skip


def test_the_reports_libraries_load_in_a_thread_while_the_last_submission_grades(monkeypatch):
    """Does the background import load what it is given (a missing module skipped, not
    raised), and does every module it is given for the reports exist?"""
    import importlib.util
    import sys

    from labkit.batch import run

    monkeypatch.delitem(sys.modules, "xml.dom.minidom", raising=False)
    thread = run._import_in_background(("no_such_module_here", "xml.dom.minidom"))
    thread.join(30)
    assert not thread.is_alive() and "xml.dom.minidom" in sys.modules
    assert all(importlib.util.find_spec(module) for module in run.REPORT_MODULES)
