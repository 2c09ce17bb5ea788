"""Grading a class with nbgrader: stage, execute and record each submission.

* ``config``: the limits of a grading run, one set of defaults for the CLI
  and ``nbgrader_config.py``;
* ``course``: the course's nbgrader API, ``generate``, ``collect_zip`` and the
  grades CSV;
* ``outcome``: the ``Submission`` a run passes along and the ``Outcome`` it
  ends with, whose ``Status`` says how grading went;
* ``stage``, ``execute``, ``record``: the three steps of a submission;
* ``progress``: what makes a stopped run resumable;
* ``preprocessors``: the nbgrader preprocessors the course adds;
* ``pipeline``: ``ClassGrader`` and ``grade``, which run the steps for a class;
* ``class_report``: the class's report as one HTML page.

Importing this package imports nothing else: ``nbgrader_config.py`` reads
``config`` at every nbgrader command.
"""
