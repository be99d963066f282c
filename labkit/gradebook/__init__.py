"""The graded folder: one record below ``labkit grade`` (``batch``) and ``labkit review``.

Both jobs read and write the same things through this package, and neither imports the other:

- ``folder``: the folder's file names (``GradedFolder``) and the one way an outcome is stored;
- ``outcome``: what grading concluded about each submission (``results.json``);
- ``written``: the written questions and the answers read from a submitted notebook, as data;
- ``reports``: the gradebook, each student's feedback and the batch summary;
- ``schema``, ``grades``, ``store``: the TAs' grades of written answers (``review.sqlite``);
- ``refresh``: the reports rewritten from the store; ``scores_csv``: scores through a spreadsheet.
"""
