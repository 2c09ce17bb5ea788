"""nbgrader's gradebook and metadata validation, paid once per grading process: the same results, the same errors."""

import copy
import subprocess
import sys
import textwrap

import jsonschema
import pytest
from nbformat.v4 import new_code_cell

from autograder.grading.nbgrader_costs import _SchemaOnce, _shared_engine_factory
from conftest import ROOT


def test_gradebooks_of_one_url_share_an_engine_and_see_each_others_writes(tmp_path):
    # In a process of its own: nbgrader.api is patched for the life of the process.
    script = textwrap.dedent(f"""
        import os
        os.environ["PATH"] = os.path.dirname({sys.executable!r}) + os.pathsep + os.environ["PATH"]
        from nbgrader.api import Gradebook
        from autograder.grading.nbgrader_costs import share_gradebook_engines
        share_gradebook_engines()
        share_gradebook_engines()  # twice changes nothing
        url = "sqlite:///" + {str(tmp_path / "gradebook.db")!r}
        with Gradebook(url) as first:
            first.add_student("alice")
            engine = first.engine
        with Gradebook(url) as second:
            assert second.engine is engine
            assert [s.id for s in second.students] == ["alice"]
            second.add_student("bob")
        with Gradebook("sqlite:///" + {str(tmp_path / "other.db")!r}) as other:
            assert other.engine is not engine
            assert other.students == []
        with Gradebook(url) as third:
            assert sorted(s.id for s in third.students) == ["alice", "bob"]
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_the_shared_engine_factory_makes_one_engine_per_url_and_options():
    made = []
    factory = _shared_engine_factory(lambda url, **options: made.append((url, options)) or object())
    a = factory("sqlite:///a.db", future=True)
    assert factory("sqlite:///a.db", future=True) is a
    assert factory("sqlite:///b.db", future=True) is not a
    assert factory("sqlite:///a.db", echo=True) is not a
    assert len(made) == 3


def _nbgrader_schema():
    from nbgrader.nbgraderformat import MetadataValidator

    return MetadataValidator().schema


def test_metadata_that_nbgrader_accepts_is_accepted():
    once = _SchemaOnce(jsonschema)
    schema = _nbgrader_schema()
    metadata = {"grade": True, "grade_id": "test", "locked": True, "points": 2, "schema_version": 3,
                "solution": False, "task": False}
    jsonschema.validate(metadata, schema)
    assert once.validate(metadata, schema) is None
    assert once.validate(metadata, schema) is None  # and again, with the kept validator


@pytest.mark.parametrize("change", [
    {"points": "two"}, {"grade_id": 3}, {"grade": "yes"}, {"unknown": 1},
], ids=["points", "grade_id", "grade", "extra_key"])
def test_invalid_metadata_raises_the_error_jsonschema_raises(change):
    once = _SchemaOnce(jsonschema)
    schema = _nbgrader_schema()
    metadata = {"grade": True, "grade_id": "test", "locked": True, "points": 2, "schema_version": 3,
                "solution": False, "task": False, **change}
    with pytest.raises(jsonschema.ValidationError) as stock:
        jsonschema.validate(metadata, schema)
    for _ in range(2):  # the first call keeps the schema's validator, the second uses it
        with pytest.raises(jsonschema.ValidationError) as ours:
            once.validate(copy.deepcopy(metadata), schema)
        assert ours.value.message == stock.value.message
        assert list(ours.value.path) == list(stock.value.path)


def test_an_invalid_schema_raises_schema_error_as_jsonschema_does():
    once = _SchemaOnce(jsonschema)
    with pytest.raises(jsonschema.SchemaError):
        once.validate({}, {"type": 12})


def test_nbgrader_flags_corrupted_metadata_with_the_schema_checked_once():
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.nbgraderformat import common

    saved = common.jsonschema
    common.jsonschema = _SchemaOnce(jsonschema)
    try:
        cell = new_code_cell("x = 1", metadata={"nbgrader": {
            "grade": True, "grade_id": "q", "locked": False, "points": "lots", "schema_version": 3,
            "solution": True, "task": False}})
        with pytest.raises(jsonschema.ValidationError):
            MetadataValidator().validate_cell(cell)
        cell.metadata.nbgrader["points"] = 1
        MetadataValidator().validate_cell(cell)
    finally:
        common.jsonschema = saved
