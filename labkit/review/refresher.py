"""The gradebook and feedback follow the review app's changes, off the request path."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.refresh import refresh_reports

logger = logging.getLogger(__name__)


class ReportRefresher:
    """Rewrites the gradebook and feedback after changes, off the request path.

    Rewriting the gradebook reads every submission, far longer than saving a grade, so a save
    answers at once and a worker thread calls ``refresh_reports`` once the changes pause for
    ``delay`` seconds (a TA clicking through answers gets one rewrite, not one per click), and
    never later than ``max_delay`` seconds after the first change it has not written. The store
    is the record; the reports always follow it, and ``flush`` (called when the server stops)
    writes whatever is still pending. With ``delay`` None, every change is written before its
    request answers.
    """

    def __init__(self, output_dir: Path, *, delay: float | None = 0.5, max_delay: float = 2.0):
        self.output_dir = output_dir
        self.delay = delay
        self.max_delay = max(max_delay, delay or 0.0)
        self._pending: set[str] = set()
        self._everything = False
        self._dirty = False
        self._stopping = False
        self._last_change = 0.0
        self._condition = threading.Condition()
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None

    def changed(self, submissions: list[str] | None) -> None:
        """Note a change to ``submissions`` (None: possibly all of them)."""
        with self._condition:
            if submissions is None:
                self._everything = True
            else:
                self._pending.update(submissions)
            self._dirty = True
            self._last_change = time.monotonic()
            if self.delay is not None and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="labkit-review-reports", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        if self.delay is None:
            self.flush()

    def flush(self) -> None:
        """Write the pending changes now."""
        with self._writing:
            with self._condition:
                if not self._dirty:
                    return
                names = None if self._everything else sorted(self._pending)
                self._pending, self._everything, self._dirty = set(), False, False
            try:
                refresh_reports(GradedFolder(self.output_dir), submissions=names)
            except Exception as exc:  # noqa: BLE001 -- the grades are safe in the store
                logger.error("could not rewrite the gradebook and feedback: %s", exc)
                # Not retried in a loop: the next change rewrites everything.
                with self._condition:
                    self._everything = True

    def close(self) -> None:
        """Stop the worker and write what is still pending."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._dirty and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                first = time.monotonic()
                while not self._stopping:
                    now = time.monotonic()
                    wait = min(self._last_change + self.delay, first + self.max_delay) - now
                    if wait <= 0:
                        break
                    self._condition.wait(wait)
            self.flush()
