"""Grading a class: nbgrader's API, stage -> execute -> record, outcomes, the class report.

It imports ``autograder.sandbox`` and ``autograder.core``, never an exercise module.
"""
