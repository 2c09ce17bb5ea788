"""Feedback without hidden tests.

nbgrader's feedback HTML shows each test cell as it ran, hidden tests
included. This preprocessor, run by ``nbgrader generate_feedback`` through
``nbgrader_config.py``, removes the hidden part of every test cell and shortens
the tracebacks of those cells to their last line, the message meant for the
student, since a traceback quotes the source that raised.
"""

from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, cell_index):
        if self._remove_hidden_test_region(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
