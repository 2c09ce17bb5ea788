"""The hostile submissions fail for the reason they stand for, not because of a typo in the corpus."""

import nbformat
import pytest

from adversarial import ASSIGNMENT, CASES, Context
from conftest import ROOT
from helpers import grade_id


@pytest.mark.parametrize("name", CASES)
def test_every_answer_in_the_corpus_is_valid_python(name):
    files = CASES[name].build(Context(ROOT, 1))
    for content in files.values():
        if isinstance(content, nbformat.NotebookNode):
            for cell in content.cells:
                if grade_id(cell) == ASSIGNMENT:
                    compile(cell.source, name, "exec")
