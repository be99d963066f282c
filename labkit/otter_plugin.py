"""An otter plugin: the autograder zip grades on the trusted side (``otter run``, Gradescope).

The zip carries this module (``labkit/`` at its root, importable where ``run_otter.py`` runs);
where the kit is installed, as for TAs, the installed module is the same file. Otter calls
``before_grading`` in its own process, in the submission folder, before any student code runs:

1. a submitted ``.OTTER_LOG`` is deleted unread (otter would unpickle it with dill);
2. the hidden tests and the grading files are read into memory, and this process becomes a
   subreaper, so that whatever the notebook starts can be found and killed afterwards;
3. otter's ``grade_notebook`` (which runs the tests inside the student's kernel and unpickles a
   results file that kernel wrote) is replaced by ``GradingIntegrity.grade``: the notebook runs in a
   kernel with per-cell and overall limits (``labkit.execution``), its answers come back as JSON
   (``labkit.answers``) and are judged here (``labkit.judging``).

Students see only sentences written here (per-question scores, whether the public tests pass,
which cells were skipped); hidden test messages and flags for review go to the TA-only entries of
``results.json`` and to the plugin report in the grading log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from otter.plugins import AbstractOtterPlugin
from otter.test_files import GradingResults
from otter.test_files.abstract_test import TestCase, TestCaseResult
from otter.test_files.exception_test import ExceptionTestFile

from labkit import execution, judging

OTTER_LOG = ".OTTER_LOG"
LOG_NOTE = "the submission carried a .OTTER_LOG (a pickle); it was deleted unread"


class GradingIntegrity(AbstractOtterPlugin):
    """Grades with the notebook's answers judged in otter's process, not in the student's kernel."""

    def __init__(self, submission_path, submission_metadata, plugin_config):
        super().__init__(submission_path, submission_metadata, plugin_config)
        self.limits = execution.Limits.from_config(plugin_config)
        self.flags: list[str] = []
        self.notes: list[str] = []
        self.tests: dict[str, str] = {}
        self.files: dict[str, bytes] = {}

    def before_grading(self, config):
        """Delete a submitted log, snapshot tests and files, and take over notebook execution."""
        from otter.run.run_autograder.runners import python_runner

        if os.path.isdir(OTTER_LOG) and not os.path.islink(OTTER_LOG):
            shutil.rmtree(OTTER_LOG)
            self.flags.append(LOG_NOTE)
        elif os.path.lexists(OTTER_LOG):
            os.remove(OTTER_LOG)
            self.flags.append(LOG_NOTE)
        self.tests = judging.read_tests(Path("tests"))
        if not self.tests:
            raise RuntimeError("no hidden tests were found in the autograder (tests/*.py)")
        files = Path("..", "source", "files")
        self.files = judging.snapshot(files) if files.is_dir() else {}
        execution.become_subreaper()
        python_runner.grade_notebook = self.grade

    def grade(self, submission_path, *, plugin_collection=None, script=False, **_otter_options):
        """Stand-in for ``otter.execute.grade_notebook``: run, record, judge; return results."""
        if script:
            source = Path(submission_path).read_text()
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        else:
            notebook = nbformat.read(submission_path, as_version=4)
        if plugin_collection is not None:
            notebook = plugin_collection.before_execution(notebook)
        cells = execution.graded_cells(notebook)
        self.flags += judging.scan_notebook({c.label: c.source for c in cells})
        with tempfile.TemporaryDirectory(prefix="labkit-") as private:
            answers_path = Path(private, "answers.json")
            recorder = execution.recorder_cell(
                tests_dir="tests", out_path=str(answers_path), seconds_per_test=self.limits.test
            )
            report = execution.run_in_kernel([*cells, recorder], cwd=Path.cwd(), limits=self.limits)
            killed = execution.kill_leftovers()
            if killed:
                self.flags.append(execution.leftovers_note(killed))
            self.notes += report.notes()
            try:
                record = judging.read_answers(answers_path)
            except judging.AnswerError as exc:
                record = None
                self.notes.append(str(exc))
            judged_in = judging.materialize(self.files, Path(private, "files"))
            verdict = judging.judge_record(self.tests, record, files_dir=judged_in)
        self.notes += verdict.run_notes
        verdict.run_notes, verdict.flags = list(self.notes), list(self.flags)
        return TrustedResults(verdict)

    def generate_report(self):
        """The lines otter prints for the TA after grading (never shown to students)."""
        lines = [f"flagged for review: {flag}" for flag in self.flags]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


class TrustedResults(GradingResults):
    """Otter's results built from a verdict, with student-visible text written here only."""

    def __init__(self, verdict: judging.Verdict):
        test_files = []
        for question in verdict.possible:
            cases, results = [], []
            for t in (t for t in verdict.tests if t.question == question):
                case = TestCase(t.test, None, t.hidden, t.points, None, None)
                cases.append(case)
                message = "✅ Test case passed" if t.passed else f"❌ {t.message}"
                results.append(TestCaseResult(case, message, t.passed))
            test_file = ExceptionTestFile(question, f"tests/{question}.py", cases, False)
            test_file.test_case_results = results
            test_files.append(test_file)
        super().__init__(test_files)
        self.verdict = verdict

    def to_gradescope_dict(self, ag_config):
        """Gradescope's results: public summary and notes for the student, the rest TA-only."""
        hidden = ("hidden", "after_published")[bool(ag_config.show_hidden)]
        public = self.verdict.public_summary() + self.verdict.run_notes
        tests = [
            {
                "name": "Public Tests",
                "visibility": "visible",
                "output": "\n".join(public) or "This notebook has no public tests.",
                "status": "passed" if self.passed_all_public else "failed",
            }
        ]
        for name, test_file in self.results.items():
            tests.append(
                {
                    "name": name,
                    "score": round(test_file.score, 5),
                    "max_score": round(test_file.possible, 5),
                    "visibility": hidden,
                    "output": test_file.summary(),
                }
            )
        if self.verdict.flags:
            tests.append(
                {
                    "name": "Flagged for review (TA only)",
                    "visibility": "hidden",
                    "output": "\n".join(self.verdict.flags),
                    "status": "failed",
                }
            )
        stdout = "after_published" if ag_config.show_stdout else "hidden"
        return {"tests": tests, "score": round(self.total, 5), "stdout_visibility": stdout}

    def __reduce_ex__(self, protocol):
        """Pickle as otter's own class, so reading ``results.pkl`` never needs labkit."""
        return (GradingResults, (list(self.results.values()),))
