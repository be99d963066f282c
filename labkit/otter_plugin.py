"""An otter plugin for the trusted side of grading: it runs in the grader's own process.

The autograder zip carries this module (as ``labkit/otter_plugin.py`` at its root, importable on
Gradescope where ``run_otter.py`` runs from that folder); where the kit is installed, as for TAs
using ``otter run`` or ``labkit grade``, the installed module is the same file.

Otter's runner unpickles (with dill) any ``.OTTER_LOG`` found beside a submitted notebook, even
when grading from the log is off, so a crafted log would run its author's code in the grading
process. ``before_grading`` runs before that, in the submission's folder: it deletes the log unread
and says so in the plugin report that otter prints for the TA.
"""

from __future__ import annotations

import os
import shutil

from otter.plugins import AbstractOtterPlugin

OTTER_LOG = ".OTTER_LOG"


class GradingIntegrity(AbstractOtterPlugin):
    """Removes a submitted ``.OTTER_LOG`` before otter could deserialize it."""

    def __init__(self, submission_path, submission_metadata, plugin_config):
        super().__init__(submission_path, submission_metadata, plugin_config)
        self.notes: list[str] = []

    def before_grading(self, config):
        """Delete ``.OTTER_LOG`` from the submission folder (the working directory) if present."""
        if os.path.isdir(OTTER_LOG) and not os.path.islink(OTTER_LOG):
            shutil.rmtree(OTTER_LOG)
        elif os.path.lexists(OTTER_LOG):
            os.remove(OTTER_LOG)
        else:
            return
        self.notes.append(
            "flagged for review: the submission carried a .OTTER_LOG, which was removed unread "
            "(otter would have unpickled it)"
        )

    def generate_report(self):
        """The lines otter prints for the TA after grading."""
        return "\n".join(self.notes)
