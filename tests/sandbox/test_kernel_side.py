"""What a graded kernel holds of the course's package, and how the trusted checker is confined.

The kernel is forked from the fork server, which imports only what answers the
checker; the exercises are imported in the checkers' process. The kernel's
imports of the exercise packages get stand-ins. The checker gives up root and
every capability, and has a memory limit of its own.
"""

import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder import cells, registry
from autograder.checker import maps
from autograder.core import forbidden
from autograder.sandbox.cgroups import CgroupsUnavailable, CgroupTree
from autograder.sandbox.zygote import confine
from conftest import ROOT

MB = 10**6


def run_python(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_fork_server_imports_no_exercise_and_nothing_that_computes_one():
    loaded = run_python("""
        import json, sys
        from autograder.sandbox.forkserver import preload
        preload()
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("autograder"))))
    """)
    exercises = {f"autograder.{name}" for name in registry.packages()}
    assert not exercises & set(loaded)
    # The kernel's side: the stub, the wire, the calling seam and what it needs; no reference, check or catalog.
    assert {"autograder.checker.stub", "autograder.checker.wire", "autograder.core.calling"} <= set(loaded)
    assert not {"autograder.core.engine", "autograder.core.mistakes", "autograder.core.spec",
                "autograder.core.report", "autograder.checker.process"} & set(loaded)


def test_the_released_import_cells_run_and_a_borrowed_name_fails_with_one_line():
    imports = {}
    for assignment in registry.ASSIGNMENTS:
        notebook = nbformat.read(ROOT / "exercises" / assignment.name / f"{assignment.name}.ipynb", as_version=4)
        imports[assignment.name] = [c.source for c in notebook.cells if c.cell_type == "code" and cells.is_locked(c)
                                    and not cells.is_test(c) and "import" in c.source]
    result = run_python(f"""
        import json
        import autograder.checker.stub
        from autograder.sandbox import standins
        standins.install()
        ran, refused = {{}}, {{}}
        for name, sources in {imports!r}.items():
            namespace = {{}}
            for source in sources:
                exec(source, namespace)
            ran[name] = sorted(key for key in namespace if key.startswith("check_"))
        for borrowed in ("from autograder.normalization_layers import _group_norm",
                         "from autograder.attention import _attention",
                         "import autograder.core.engine", "from autograder import registry as r; r.import_all()",
                         "import autograder.batch_norm as b; b._batch_norm"):
            try:
                exec(borrowed, {{}})
                refused[borrowed] = None
            except ImportError as error:
                refused[borrowed] = str(error)
        print(json.dumps({{"ran": ran, "refused": refused}}))
    """)
    for name, checks in result["ran"].items():
        assert checks, name  # each import cell ran, and bound its checks
    for borrowed, message in result["refused"].items():
        if "registry" in borrowed:  # the registry is only names; what it imports is stand-ins
            assert message is None or "not in the grading sandbox" in message
            continue
        assert message and "not in the grading sandbox" in message and "\n" not in message, borrowed


def test_the_forbidden_maps_travel_as_data_and_come_back_the_same(monkeypatch):
    registry.import_all()
    data = json.loads(json.dumps(maps.as_data()))
    declared = dict(forbidden._DECLARED)
    monkeypatch.setattr(forbidden, "_DECLARED", {})
    maps.declare(data)
    assert set(forbidden._DECLARED) == set(declared)
    for name, functions in declared.items():
        assert dict(forbidden.declared(name)) == dict(functions), name


def confined_child(cgroup, memory_bytes, writable, allocate):
    """Fork a child that confines itself as a checker does, then reports what it is and what it could do."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        report = {}
        try:
            confine(cgroup, memory_bytes, writable)
            with open("/proc/self/status") as status:
                fields = dict(line.split(":", 1) for line in status)
            report = {"uid": os.getuid(), "euid": os.geteuid(), "CapEff": fields["CapEff"].strip(),
                      "CapBnd": fields["CapBnd"].strip(), "NoNewPrivs": fields["NoNewPrivs"].strip()}
            with open("verdicts.json", "w") as verdicts:  # in its folder, whatever the rights above it
                verdicts.write("{}")
            report["wrote"] = True
            os.write(write, (json.dumps(report) + "\n").encode())
            try:
                held = bytearray(allocate)
                held[::4096] = b"x" * len(held[::4096])  # touched, so really held
                report["allocated"] = True
            except MemoryError:
                report["allocated"] = False
            os.write(write, (json.dumps(report) + "\n").encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as lines:
        reports = [json.loads(line) for line in lines]
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return reports, status


def test_the_checker_runs_unprivileged_without_capabilities_and_with_a_memory_limit(tmp_path):
    writable = tmp_path / "verdicts"
    writable.mkdir()
    reports, status = confined_child([], 300 * MB, writable, 600 * MB)
    assert status == 0 and len(reports) == 2
    report = reports[-1]
    assert report["uid"] != 0 and report["euid"] != 0
    assert int(report["CapEff"], 16) == 0 and report["NoNewPrivs"] == "1"
    assert report["wrote"]  # its verdicts' folder is its own
    assert report["allocated"] is False  # 600 MB more than it started with: over its 300 MB


def test_a_checker_s_cgroup_is_its_memory_limit(tmp_path):
    try:
        tree = CgroupTree.create()
    except CgroupsUnavailable as error:
        pytest.skip(f"no rights to create cgroups here: {error}")
    try:
        group = tree.submission(200 * MB, 16, kind="checker")
        writable = tmp_path / "verdicts"
        writable.mkdir()
        reports, status = confined_child(group.procs_files, None, writable, 600 * MB)
        assert reports and reports[0]["uid"] != 0
        # Over its cgroup's 200 MB, the kernel ends the checker; nothing else is touched.
        assert status == -9 or reports[-1].get("allocated") is False, (reports, status)
        assert "memory" in group.limits_hit() or reports[-1].get("allocated") is False
    finally:
        tree.remove()
