"""The graded folder: one record below ``labkit grade`` (``batch``) and ``labkit review``.

Both jobs read and write the same things through this package, and neither imports the other:

- ``folder``: the folder's file names (``GradedFolder``) and the one way an outcome is stored;
- ``outcome``: what grading concluded about each submission (``results.json``);
- ``manifest``: the questions (notebook order, points, autograded or written, bonus);
- ``totals``: the one definition of a total (maximum, bonus, stale scores, overrides, penalty);
- ``ledger``: each submission's row (outcome, grades, students, lateness, totals), which every
  report, the review app and the LMS exports read;
- ``written`` and ``code``: what a notebook answers, read as data;
- ``reports`` and ``summary``: the gradebook, each student's feedback and the batch summary;
- ``schema``, ``grades``, ``store`` (with ``store_edits`` and ``store_extras``): the TAs' grades,
  overrides, settings and pseudonyms (``review.sqlite``);
- ``refresh``: the reports rewritten from the store; ``scores_csv``: scores through a spreadsheet;
- ``course``, ``late``, ``roster``: the due date and late policy, the students;
- ``lms``: grades as Canvas, Gradescope and Moodle import them; ``csvcells``: safe CSV cells.
"""
