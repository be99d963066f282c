"""``labkit release``: the student, solution and autograder releases, built from ``assignment/``
and proved right before anyone sees them.

One module per stage: ``source`` (the source notebook's questions and tests, checked), ``build``
(declared steps: otter assign, made reproducible, the student files, the autograder zip),
``gates`` (declared verifications of the built release) and ``publish`` (all or nothing, and
``--check``). The names below are the commands' and the tests' way in.
"""

from labkit.release.build import (
    GRADER_PACKAGE,
    STEPS,
    add_student_files,
    execute_notebook,
    grader_files,
    written_questions,
)
from labkit.release.gates import GATES, verify_release
from labkit.release.publish import ReleaseSummary, build_release, check_release, compare_trees
from labkit.release.source import (
    ASSIGNMENT_NAME,
    NOTEBOOK_NAME,
    RELEASE_DIRS,
    SOURCE_NOTEBOOK,
    STUDENT_ZIP_NAME,
    ZIP_NAME,
    ReleaseError,
    SourceQuestion,
    read_source,
)

__all__ = [
    "ASSIGNMENT_NAME",
    "GATES",
    "GRADER_PACKAGE",
    "NOTEBOOK_NAME",
    "RELEASE_DIRS",
    "SOURCE_NOTEBOOK",
    "STEPS",
    "STUDENT_ZIP_NAME",
    "ZIP_NAME",
    "ReleaseError",
    "ReleaseSummary",
    "SourceQuestion",
    "add_student_files",
    "build_release",
    "check_release",
    "compare_trees",
    "execute_notebook",
    "grader_files",
    "read_source",
    "verify_release",
    "written_questions",
]
