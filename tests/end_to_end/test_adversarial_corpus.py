"""The hostile submissions fail for the reason they stand for, not because of a typo in the corpus."""

import nbformat
import pytest

from adversarial import ASSIGNMENT, CASES, Context
from conftest import ROOT
from helpers import grade_id


@pytest.mark.parametrize("name", CASES)
def test_every_answer_in_the_corpus_is_valid_python(name):
    files = CASES[name].build(Context(ROOT, 1))
    notebooks = [content for content in files.values() if isinstance(content, nbformat.NotebookNode)]
    answers = [cell for notebook in notebooks for cell in notebook.cells if grade_id(cell) == ASSIGNMENT]
    for cell in answers:
        compile(cell.source, name, "exec")  # a SyntaxError here is a typo in the corpus
    assert len(answers) == len(notebooks), "each notebook of a case keeps its answer cell"
