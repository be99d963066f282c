"""Per-question similarity between submissions: evidence of shared work for a TA, never a verdict.

For each question, each submission's answer (the code of the question's block, or the text of a
written answer, read as data and never run) is fingerprinted, and every pair of answers that
share fingerprints is measured: similarity, the longest shared fragment, and how much of each
side the shared fragments cover. What the lab handed out, and what most submissions write, is
left out. The modules, by job:

- ``sources``: reading the submissions, their times, the question list and the handed-out notebook;
- ``extract``: each question's answer in a notebook;
- ``tokens``: code and text as normalised tokens;
- ``fingerprints``: hashed k-grams, winnowing, the handed-out material left out;
- ``engine``: the inverted index, candidate pairs, fragments, coverage, clusters;
- ``report``: ``similarity.json`` (its schema is documented there) and ``pairs.csv``;
- ``run``: the plain function that does it all, ``write_similarity_report``.
"""

from labkit.similarity.engine import Settings
from labkit.similarity.run import (
    DEFAULT_TEMPLATE,
    build_report,
    summary_text,
    write_similarity_report,
)
from labkit.similarity.sources import (
    SimilarityError,
    questions_from_autograder,
    questions_from_graded,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Settings",
    "SimilarityError",
    "build_report",
    "questions_from_autograder",
    "questions_from_graded",
    "summary_text",
    "write_similarity_report",
]
