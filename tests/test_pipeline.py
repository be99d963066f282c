"""The retry policy of ``run_cells``, driven by a scripted runner and a fake clock."""

from __future__ import annotations

from labkit.grader.cells import Cell, CellKind
from labkit.grader.config import RECORDER_GRACE, Limits
from labkit.grader.pipeline import (
    MAX_SKIPPED,
    After,
    CellResult,
    RunReport,
    Skip,
    Stop,
    run_cells,
)

DONE = CellResult(Stop.DONE)
LIMITS = Limits(cell=60.0, test=30.0, total=480.0)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSession:
    """One attempt: runs cells as the runner's script says, recording what it was asked."""

    def __init__(self, runner: FakeRunner, attempt: int):
        self.runner = runner
        self.attempt = attempt
        self.closed = False

    def run_cell(self, index: int, source: str, *, timeout: float) -> CellResult:
        key = (self.attempt, index)
        self.runner.ran[self.attempt].append(index)
        self.runner.timeouts[key] = timeout
        self.runner.clock.advance(self.runner.durations.get(key, 1.0))
        return self.runner.script.get(key, DONE)

    def close(self) -> int:
        assert not self.closed
        self.closed = True
        return self.runner.leftovers.get(self.attempt, 0)


class FakeRunner:
    """Starts a ``FakeSession`` per attempt; ``script`` maps (attempt, index) -> CellResult."""

    def __init__(
        self,
        script: dict[tuple[int, int], CellResult] | None = None,
        *,
        durations: dict[tuple[int, int], float] | None = None,
        leftovers: dict[int, int] | None = None,
        clock: FakeClock | None = None,
    ):
        self.script = script or {}
        self.durations = durations or {}
        self.leftovers = leftovers or {}
        self.clock = clock or FakeClock()
        self.ran: dict[int, list[int]] = {}
        self.timeouts: dict[tuple[int, int], float] = {}
        self.sessions: list[FakeSession] = []
        self.workspaces: list[object] = []

    def start(self, workspace) -> FakeSession:
        self.workspaces.append(workspace)
        attempt = len(self.sessions) + 1
        self.ran[attempt] = []
        session = FakeSession(self, attempt)
        self.sessions.append(session)
        return session

    def sandbox_notes(self) -> list[str]:
        return []


WORKSPACE = object()


def notebook_cells(count: int = 4) -> list[Cell]:
    """The prelude (index 0), ``count`` notebook cells, the recorder's setup, one test cell."""
    return [
        Cell("the grader's setup", "prelude", CellKind.SETUP),
        *(Cell(f"code cell {n}", f"x{n} = {n}") for n in range(1, count + 1)),
        Cell("the grader's setup", "recorder", CellKind.SETUP),
        Cell("the grading of q_x", "record", CellKind.TEST),
    ]


def run(cells: list[Cell], runner: FakeRunner, limits: Limits = LIMITS) -> RunReport:
    return run_cells(cells, runner=runner, workspace=WORKSPACE, limits=limits, clock=runner.clock)


def test_all_cells_done_take_one_attempt():
    """Does a notebook whose cells all finish run once, with no skip, note or flag?"""
    cells = notebook_cells()
    runner = FakeRunner()
    report = run(cells, runner)
    assert report.attempts == 1
    assert runner.ran == {1: list(range(len(cells)))}
    assert report.skips == [] and report.notes() == [] and report.flags() == []
    assert not report.out_of_time and not report.interrupted and report.leftovers == 0
    assert runner.workspaces == [WORKSPACE]
    assert all(s.closed for s in runner.sessions)
    assert report.seconds == float(len(cells))


def test_timed_out_notebook_cell_is_skipped_and_rerun():
    """Is a notebook cell that times out skipped and the notebook run again without it?"""
    cells = notebook_cells()
    runner = FakeRunner({(1, 3): CellResult(Stop.TIMED_OUT)}, durations={(1, 3): 60.0})
    report = run(cells, runner)
    assert report.attempts == 2
    assert runner.ran[1] == [0, 1, 2, 3]
    assert runner.ran[2] == [i for i in range(len(cells)) if i != 3]
    assert report.skips == [Skip("code cell 3", Stop.TIMED_OUT, 60.0, None, After.RERUN)]
    assert report.notes() == [
        "code cell 3 ran longer than 60 s; the notebook was run again without it"
    ]
    assert report.flags() == [] and not report.out_of_time
    assert all(s.closed for s in runner.sessions)


def test_died_cell_note_names_the_exit_status():
    """Does a cell that ended its process get a note with its exit code or signal?"""
    cells = notebook_cells()
    runner = FakeRunner({(1, 2): CellResult(Stop.DIED, 0), (2, 4): CellResult(Stop.DIED, -9)})
    report = run(cells, runner)
    assert report.attempts == 3
    assert 2 not in runner.ran[2] and 2 not in runner.ran[3] and 4 not in runner.ran[3]
    assert report.notes() == [
        "code cell 2 stopped the Python process (exit code 0); "
        "the notebook was run again without it",
        "code cell 4 stopped the Python process (killed by SIGKILL); "
        "the notebook was run again without it",
    ]
    assert [s.exit_status for s in report.skips] == [0, -9]


def test_test_cell_gets_the_test_limit_and_grace():
    """Is a TEST cell given limits.test + RECORDER_GRACE, and a notebook cell limits.cell?"""
    cells = notebook_cells(2)
    runner = FakeRunner()
    run(cells, runner)
    test_index = len(cells) - 1
    assert runner.timeouts[(1, test_index)] == LIMITS.test + RECORDER_GRACE
    assert runner.timeouts[(1, 1)] == LIMITS.cell
    assert runner.timeouts[(1, 0)] == LIMITS.cell


def test_timed_out_test_cell_is_reported_with_its_own_limit():
    """Is a TEST cell that times out skipped with the limit it actually had?"""
    cells = notebook_cells(2)
    test_index = len(cells) - 1
    runner = FakeRunner({(1, test_index): CellResult(Stop.TIMED_OUT)})
    report = run(cells, runner)
    assert report.attempts == 2 and test_index not in runner.ran[2]
    assert report.notes() == [
        f"the grading of q_x ran longer than {LIMITS.test + RECORDER_GRACE:g} s; "
        "the notebook was run again without it"
    ]


def test_setup_cell_stopping_ends_without_rerun():
    """Does a stop in one of the grader's own cells end the run (After.ENDED), never rerun?"""
    cells = notebook_cells(2)
    recorder = len(cells) - 2
    runner = FakeRunner({(1, recorder): CellResult(Stop.DIED, 1)})
    report = run(cells, runner)
    assert report.attempts == 1
    assert runner.ran[1] == list(range(recorder + 1))
    assert report.skips == [Skip("the grader's setup", Stop.DIED, 60.0, 1, After.ENDED)]
    assert report.notes() == [
        "the grader's setup stopped the Python process (exit code 1); "
        "the answers recorded before that were kept"
    ]


def test_gives_up_after_max_skipped():
    """After MAX_SKIPPED skipped cells, does the next stop end the run (After.GAVE_UP)?"""
    cells = notebook_cells(MAX_SKIPPED + 2)
    script = {(n, n): CellResult(Stop.TIMED_OUT) for n in range(1, MAX_SKIPPED + 2)}
    runner = FakeRunner(script)
    report = run(cells, runner, Limits(cell=5.0, test=5.0, total=10_000.0))
    assert report.attempts == MAX_SKIPPED + 1
    assert [s.after for s in report.skips] == [After.RERUN] * MAX_SKIPPED + [After.GAVE_UP]
    last = MAX_SKIPPED + 1
    assert runner.ran[last] == [0, last]  # the skipped cells 1..MAX_SKIPPED are left out
    assert report.notes()[-1] == (
        f"code cell {last} ran longer than 5 s; {MAX_SKIPPED} cells were skipped already, "
        "so the notebook was not run again"
    )
    assert not report.out_of_time


def test_running_past_the_total_limit_sets_out_of_time():
    """Is the timeout capped by what is left of the total, and out_of_time set when it runs out?"""
    cells = notebook_cells(4)
    limits = Limits(cell=60.0, test=30.0, total=100.0)
    # cell 1 takes 50 s, cell 2 45 s: 5 s of the total are left for cell 3, which times out.
    runner = FakeRunner(
        {(1, 3): CellResult(Stop.TIMED_OUT)},
        durations={(1, 0): 0.0, (1, 1): 50.0, (1, 2): 45.0, (1, 3): 5.0},
    )
    report = run(cells, runner, limits)
    assert runner.timeouts[(1, 1)] == 60.0
    assert runner.timeouts[(1, 2)] == 50.0
    assert runner.timeouts[(1, 3)] == 5.0
    assert report.out_of_time and report.attempts == 1 and report.skips == []
    assert runner.ran[1] == [0, 1, 2, 3]
    assert report.notes() == ["the notebook ran out of time: answers not recorded by then score 0"]
    assert report.seconds == 100.0


def test_total_limit_spans_attempts():
    """Does the rerun get only what the first attempt left of the total, then stop when none?"""
    cells = notebook_cells(3)
    limits = Limits(cell=60.0, test=30.0, total=100.0)
    # attempt 1: cell 2 times out after 60 s (total 61 s used); attempt 2 has 39 s left.
    runner = FakeRunner(
        {(1, 2): CellResult(Stop.TIMED_OUT)},
        durations={(1, 0): 0.0, (1, 1): 1.0, (1, 2): 60.0, (2, 0): 0.0, (2, 1): 39.0},
    )
    report = run(cells, runner, limits)
    assert report.attempts == 2
    assert runner.timeouts[(2, 0)] == 39.0 and runner.timeouts[(2, 1)] == 39.0
    # nothing is left after cell 1 of attempt 2: no further cell is started
    assert runner.ran[2] == [0, 1]
    assert report.out_of_time
    assert len(report.skips) == 1 and report.skips[0].after is After.RERUN


def test_broken_channel_is_flagged():
    """Does a cell that broke the channel produce a flag for review as well as a note?"""
    cells = notebook_cells()
    runner = FakeRunner({(1, 2): CellResult(Stop.BROKE_CHANNEL)})
    report = run(cells, runner)
    assert report.attempts == 2 and 2 not in runner.ran[2]
    assert report.flags() == ["code cell 2 wrote on the grader's channel or closed it"]
    assert report.notes() == [
        "code cell 2 wrote on the grader's channel or closed it; "
        "the notebook was run again without it"
    ]


def test_leftovers_add_up_across_attempts():
    """Do processes left running add up over attempts and produce the "still running" flag?"""
    cells = notebook_cells()
    runner = FakeRunner({(1, 1): CellResult(Stop.TIMED_OUT)}, leftovers={1: 2, 2: 3})
    report = run(cells, runner)
    assert report.attempts == 2 and report.leftovers == 5
    assert report.flags() == [
        "5 process(es) the notebook started were still running after it and were killed"
    ]


def test_interrupted_stops_at_once():
    """Does an INTERRUPTED cell set interrupted and stop, with no skip and no rerun?"""
    cells = notebook_cells()
    runner = FakeRunner({(1, 2): CellResult(Stop.INTERRUPTED)})
    report = run(cells, runner)
    assert report.interrupted and report.attempts == 1
    assert runner.ran[1] == [0, 1, 2]
    assert report.skips == [] and report.notes() == [] and not report.out_of_time
    assert runner.sessions[0].closed
