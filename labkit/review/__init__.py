"""``labkit review``: the web app where TAs grade the written answers of a graded folder.

``app`` (the Flask app, its security and its server), ``pages`` and ``api`` (the views),
``requests`` (what the views share), ``refresher`` (the reports follow each change),
``identity`` (submissions named by file name, or by pseudonym in anonymous grading),
``render`` (student answers and code to safe HTML) and ``analysis`` (item analysis). The grades
themselves live in the graded folder's review store (``labkit.gradebook.store``).
"""
