"""The parent <-> child pipe protocol of ``labkit grade``: commands, reports, exit statuses."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from labkit.batch.channel import (
    END,
    MAX_ERRNO,
    REPORT,
    ChannelError,
    Report,
    ReportReader,
    encode_command,
    encode_done,
    encode_end,
    encode_hello,
    exit_status,
    expect_done,
    parse_hello,
    read_command,
)
from labkit.grader.filesystem import Filesystem
from labkit.grader.isolation import Confinement, Network


@pytest.fixture
def pipe():
    """A real pipe (read end, write end), both closed afterwards if still open."""
    read_fd, write_fd = os.pipe()
    fds = {"r": read_fd, "w": write_fd}
    yield fds
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass


def close_writer(pipe) -> None:
    os.close(pipe["w"])
    pipe["w"] = -1


def test_commands_round_trip_through_a_pipe(pipe):
    """Do cell commands arrive as (index, source) in order, and END as None?"""
    sources = [(0, "print('hi')"), (7, "x = 'é ✓ 🙂'\n# comment\n"), (123, "")]
    for index, source in sources:
        os.write(pipe["w"], encode_command(index, source))
    os.write(pipe["w"], encode_end())
    for expected in sources:
        assert read_command(pipe["r"]) == expected
    assert read_command(pipe["r"]) is None


def test_eof_reads_as_none(pipe):
    """Does a closed pipe (no END) read as None, not raise?"""
    close_writer(pipe)
    assert read_command(pipe["r"]) is None


def test_truncated_command_reads_as_none(pipe):
    """Does a command cut short by EOF (header, then half the source) read as None?"""
    data = encode_command(2, "abcdefghij")
    os.write(pipe["w"], data[:-4])
    close_writer(pipe)
    assert read_command(pipe["r"]) is None


def test_truncated_header_reads_as_none(pipe):
    """Does half a header followed by EOF read as None?"""
    os.write(pipe["w"], encode_end()[:3])
    close_writer(pipe)
    assert read_command(pipe["r"]) is None


def test_source_larger_than_the_pipe_buffer(pipe):
    """Is a source bigger than one pipe buffer read whole, across several reads?"""
    source = "y = 1\n" * 50_000  # 300 kB, several times the usual 64 kB pipe buffer
    data = encode_command(4, source)

    def write():
        with os.fdopen(pipe["w"], "wb", closefd=True) as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_command(pipe["r"]) == (4, source)
    finally:
        writer.join(5)
        pipe["w"] = -1
    assert read_command(pipe["r"]) is None


def test_encode_command_refuses_index_end():
    """Does encode_command refuse the index reserved for END, and a negative index?"""
    with pytest.raises(ValueError):
        encode_command(END, "x")
    with pytest.raises(ValueError):
        encode_command(-1, "x")
    encode_command(END - 1, "x")  # the last valid index


@pytest.mark.parametrize("network", [*Network, None])
@pytest.mark.parametrize("filesystem", list(Filesystem))
@pytest.mark.parametrize("errno", [0, 1, 13, MAX_ERRNO])
def test_hello_round_trips(network, filesystem, errno):
    """Does every network state (None: not asked), filesystem state and errno survive
    encode_hello -> ReportReader -> parse_hello, each errno kept apart from the other?"""
    sent = Confinement(filesystem, errno, network, MAX_ERRNO - errno)
    reports = ReportReader().feed(encode_hello(sent))
    assert len(reports) == 1
    kind, value = reports[0]
    assert kind is Report.HELLO
    parsed = parse_hello(value)
    assert parsed == sent and isinstance(parsed.filesystem, Filesystem)


def test_encode_hello_clamps_errno():
    """Is an errno outside 0..MAX_ERRNO clamped rather than corrupting the other fields?"""
    for errno, expected in [(-5, 0), (MAX_ERRNO + 1, MAX_ERRNO), (10**9, MAX_ERRNO)]:
        sent = Confinement(Filesystem.GRADERS_VIEW, errno, Network.NOT_ISOLATED, errno)
        [(_, value)] = ReportReader().feed(encode_hello(sent))
        assert parse_hello(value) == Confinement(
            Filesystem.GRADERS_VIEW, expected, Network.NOT_ISOLATED, expected
        )


@pytest.mark.parametrize("value", [2 << 2, 3 << 2, 1 << 4, 0xF0, 0xFF])
def test_parse_hello_refuses_unknown_states(value):
    """Does parse_hello refuse a filesystem state that is no Filesystem, and unknown bits?"""
    with pytest.raises(ChannelError):
        parse_hello(value)


def test_reader_splits_reports_fed_byte_by_byte():
    """Are reports fed one byte at a time returned whole, once each, with partial bytes pending?"""
    hello = Confinement(Filesystem.OWN_FOLDER, 0, Network.USER_NAMESPACE, 0)
    data = encode_hello(hello) + encode_done(0) + encode_done(41)
    reader = ReportReader()
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i : i + 1])
        assert reader.pending == ((i + 1) % REPORT.size != 0)
    assert got == [
        (Report.HELLO, int(Network.USER_NAMESPACE)),
        (Report.DONE, 0),
        (Report.DONE, 41),
    ]
    assert not reader.pending


def test_reader_keeps_partial_bytes_pending():
    """Does a report split over two feeds stay pending until its last byte arrives?"""
    reader = ReportReader()
    data = encode_done(9) * 2
    assert reader.feed(data[:11]) == [(Report.DONE, 9)]
    assert reader.pending
    assert reader.feed(data[11:]) == [(Report.DONE, 9)]
    assert not reader.pending


def test_reader_refuses_an_unknown_kind():
    """Does the reader refuse a report of a kind it does not know?"""
    with pytest.raises(ChannelError):
        ReportReader().feed(REPORT.pack(99, 0))
    with pytest.raises(ChannelError):
        ReportReader().feed(encode_done(1) + REPORT.pack(0, 1))


def test_expect_done():
    """Does expect_done accept only exactly DONE(index), and False for no report?"""
    assert expect_done([], 3) is False
    assert expect_done([(Report.DONE, 3)], 3) is True
    with pytest.raises(ChannelError):
        expect_done([(Report.DONE, 4)], 3)
    with pytest.raises(ChannelError):
        expect_done([(Report.HELLO, 3)], 3)
    with pytest.raises(ChannelError):
        expect_done([(Report.DONE, 3), (Report.DONE, 3)], 3)
    with pytest.raises(ChannelError):
        expect_done([(Report.DONE, 3), (Report.DONE, 4)], 3)


def test_exit_status_of_a_normal_exit():
    """Does exit_status read a real child's os._exit(3) as 3?"""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert exit_status(status) == 3


def test_exit_status_of_a_killed_child():
    """Does exit_status read a real child killed by SIGKILL as -9?"""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            while True:
                signal.pause()
        finally:
            os._exit(0)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert exit_status(status) == -9
