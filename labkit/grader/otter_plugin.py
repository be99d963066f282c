"""An otter plugin: the autograder zip grades on the trusted side (``otter run``, Gradescope).

The zip carries this package (``labkit/grader/`` at its root, importable where ``run_otter.py``
runs); where the kit is installed, as for TAs, the installed package is the same files. Otter
calls ``before_grading`` in its own process, in the submission folder, before any student code
runs:

1. a submitted ``.OTTER_LOG`` is deleted unread (otter would unpickle it with dill);
2. the hidden tests and the grading files are read into memory; where otter runs as root, the
   autograder's folder is closed to other users, since the notebook will run as one of them;
3. otter's ``grade_notebook`` (which runs the tests inside the student's kernel and unpickles a
   results file that kernel wrote) is replaced by ``GradingIntegrity.grade``, which runs the
   grading pipeline (``labkit.grader.pipeline``) with a Jupyter kernel as the runner and judges
   the answers here, in otter's process.

Students see only sentences written here (per-question scores, whether the public tests pass,
which cells were skipped, and, where the ``hidden_test_feedback`` setting is on, each hidden test's
student-safe message once grades are published); hidden test messages and flags for review go to
the TA-only entries of ``results.json`` and to the plugin report in the grading log.
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

from labkit.grader import judging, pipeline, processes
from labkit.grader.config import GradingConfig
from labkit.grader.isolation import student_user
from labkit.grader.kernel import KernelRunner
from labkit.grader.manifest import MANIFEST_NAME, Manifest, ManifestError
from labkit.grader.verdict import Verdict, score_lines

OTTER_LOG = ".OTTER_LOG"
LOG_FLAG = "the submission carried a .OTTER_LOG (a pickle); it was deleted unread"
SCORES_ENTRY = "Scores"


class GradingIntegrity(AbstractOtterPlugin):
    """Grades with the notebook's answers judged in otter's process, not in the student's kernel."""

    def __init__(self, submission_path, submission_metadata, plugin_config):
        super().__init__(submission_path, submission_metadata, plugin_config)
        self.config = GradingConfig.from_dict(plugin_config)
        self.flags: list[str] = []
        self.verdict: Verdict | None = None
        self.tests: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.user = None
        self.manifest: Manifest | None = None

    def before_grading(self, config):
        """Delete a submitted log, snapshot tests and files, and take over notebook execution."""
        from otter.run.run_autograder.runners import python_runner

        if os.path.isdir(OTTER_LOG) and not os.path.islink(OTTER_LOG):
            shutil.rmtree(OTTER_LOG)
            self.flags.append(LOG_FLAG)
        elif os.path.lexists(OTTER_LOG):
            os.remove(OTTER_LOG)
            self.flags.append(LOG_FLAG)
        self.tests = judging.read_tests(Path("tests"))
        if not self.tests:
            raise RuntimeError("no hidden tests were found in the autograder (tests/*.py)")
        files = Path("..", "source", "files")
        self.files = judging.snapshot(files) if files.is_dir() else {}
        self.manifest = read_manifest(Path("..", "source", MANIFEST_NAME))
        self.user = student_user(self.config.student_uid)
        if self.user.uid is not None:
            os.chmod(Path("..").resolve(), 0o700)  # the autograder's folder: root's alone
        processes.become_subreaper()  # so that daemons the notebook starts can be found
        python_runner.grade_notebook = self.grade

    def grade(self, submission_path, *, plugin_collection=None, script=False, **_otter_options):
        """Stand-in for ``otter.execute.grade_notebook``: run, record, judge; return results."""
        path = Path(submission_path)
        if script:
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(path.read_text())])
        else:
            notebook = nbformat.read(path, as_version=4)
        if plugin_collection is not None:
            notebook = plugin_collection.before_execution(notebook)
        name = path.with_suffix(".ipynb").name
        self.verdict, _ = pipeline.grade_notebook(
            name,
            nbformat.writes(notebook).encode(),
            runner=KernelRunner(memory_mb=self.config.memory_mb),
            judge=self._judge,
            tests=self.tests,
            files=self.files,
            config=self.config,
            user=self.user,
            flags=self.flags,
        )
        return TrustedResults(
            self.verdict,
            hidden_test_feedback=self.config.hidden_test_feedback,
            manifest=self.manifest,
        )

    def _judge(self, record: bytes | None) -> Verdict:
        """Judge here, in otter's process, in a private copy of the grading files."""
        with tempfile.TemporaryDirectory(prefix="labkit-judge-") as private:
            judged_in = judging.materialize(self.files, Path(private))
            return judging.judge_record(self.tests, record, files_dir=judged_in)

    def generate_report(self):
        """The lines otter prints for the TA after grading (never shown to students)."""
        verdict = self.verdict
        if verdict is None:
            return "\n".join(f"flagged for review: {flag}" for flag in self.flags)
        lines = [f"flagged for review: {flag}" for flag in verdict.flags]
        lines += [f"note: {note}" for note in verdict.notes]
        lines += [f"sandbox: {note}" for note in verdict.sandbox]
        return "\n".join(lines)


def read_manifest(path: Path) -> Manifest | None:
    """The zip's questions manifest (None where there is none, or it cannot be read: the order
    and the bonus marks are then the tests' own)."""
    try:
        return Manifest.from_json(path.read_bytes())
    except (OSError, ManifestError):
        return None


class TrustedResults(GradingResults):
    """Otter's results built from a verdict, with student-visible text written here only.

    ``hidden_test_feedback`` (the plugin setting of that name) adds, for students once grades are
    published, each hidden test's name and student-safe message (``TestVerdict.student_message``).
    ``manifest`` (the zip's ``questions.json``) orders the "Scores" lines as the notebook does
    and marks the bonus questions.
    """

    def __init__(
        self,
        verdict: Verdict,
        *,
        hidden_test_feedback: bool = False,
        manifest: Manifest | None = None,
    ):
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
        self.hidden_test_feedback = hidden_test_feedback
        self.manifest = manifest

    def to_gradescope_dict(self, ag_config):
        """Gradescope's ``results.json``: what students see is written here, the rest TA-only.

        Visible: "Public Tests" (the public summary and the notes) and "Scores" (each question's
        ``score / points``, in the words of ``feedback.txt``; no ``score`` field, so Gradescope
        does not count it twice). With ``hidden_test_feedback``, one "<question>: hidden tests"
        entry per question, ``after_published``, lists each hidden test's student-safe message.
        The per-question entries that carry the score keep their TA-only output (hidden tests'
        messages, which can hold text the student's code produced) and so are always ``hidden``:
        otter's ``show_hidden`` does not publish them; ``hidden_test_feedback`` is the way to show
        hidden tests to students.
        """
        verdict = self.verdict
        public = verdict.public_summary() + verdict.notes
        tests = [
            {
                "name": "Public Tests",
                "visibility": "visible",
                "output": "\n".join(public) or "This notebook has no public tests.",
                "status": "passed" if self.passed_all_public else "failed",
            },
            {
                "name": SCORES_ENTRY,
                "visibility": "visible",
                "output": "\n".join(self.score_lines()),
            },
        ]
        if self.hidden_test_feedback:
            for question in verdict.possible:
                lines = verdict.hidden_test_lines(question)
                if not lines:
                    continue
                passed = all(t.passed for t in verdict.tests if t.hidden and t.question == question)
                tests.append(
                    {
                        "name": f"{question}: hidden tests",
                        "visibility": "after_published",
                        "output": "\n".join(lines),
                        "status": "passed" if passed else "failed",
                    }
                )
        for name, test_file in self.results.items():
            tests.append(
                {
                    "name": name,
                    "score": round(test_file.score, 5),
                    "max_score": round(test_file.possible, 5),
                    "visibility": "hidden",
                    "output": test_file.summary(),
                }
            )
        if verdict.flags:
            tests.append(
                {
                    "name": "Flagged for review (TA only)",
                    "visibility": "hidden",
                    "output": "\n".join(verdict.flags),
                    "status": "failed",
                }
            )
        stdout = "after_published" if ag_config.show_stdout else "hidden"
        return {"tests": tests, "score": round(self.total, 5), "stdout_visibility": stdout}

    def score_lines(self) -> list[str]:
        """The "Scores" entry's lines: in the manifest's order, bonus questions marked."""
        verdict = self.verdict
        if self.manifest is None:
            return verdict.score_lines()
        order = self.manifest.ordered(verdict.possible)
        possible = {q: verdict.possible[q] for q in order}
        return score_lines(verdict.scores(), possible, bonus=self.manifest.bonus_names())

    def __reduce_ex__(self, protocol):
        """Pickle as otter's own class, so reading ``results.pkl`` never needs labkit."""
        return (GradingResults, (list(self.results.values()),))
