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
- ``run``: the plain function that does it all, ``write_similarity_report``;
- ``settings``: what decides the figures, with their defaults.

The names below are imported on first use, so that the command line reads the defaults without
loading the engine.
"""

import importlib

_EXPORTS = {
    "DEFAULT_TEMPLATE": "labkit.similarity.settings",
    "Settings": "labkit.similarity.settings",
    "SimilarityError": "labkit.similarity.sources",
    "build_report": "labkit.similarity.run",
    "questions_from_autograder": "labkit.similarity.sources",
    "questions_from_graded": "labkit.similarity.sources",
    "summary_text": "labkit.similarity.run",
    "write_similarity_report": "labkit.similarity.run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'labkit.similarity' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
