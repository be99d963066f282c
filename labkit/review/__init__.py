"""Grading the written answers by hand: the answers (``written``), the TAs' scores (``store``).

``labkit grade`` collects each written question's answer cells from the submitted notebook,
without running anything (``written``); the TAs' scores, comments and rubrics live in
``OUT/review.sqlite`` (``store``), and the gradebook and feedback are rewritten from it.
"""
