"""Limits per submission: a cgroup counts all of a submission's processes; its disk is a capped tmpfs.

The tests of the mechanism fork small processes into real cgroups and take
seconds; they need the rights to create cgroups (root, as the grader on the
course's machines), and are skipped, saying why, without them. The grading
tests run whole batches and are slow.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from adversarial import ASSIGNMENT
from autograder.sandbox import cgroups
from autograder.sandbox import cgroup_cleanup as cleanup
from autograder.sandbox.cgroup_hierarchies import find_layout
from conftest import ROOT
from helpers import question_points
from autograder.sandbox.bwrap import INSIDE, Sandbox
from autograder.sandbox.cgroups import CgroupsUnavailable, CgroupTree

# The corpus answers the code and leaves the exercise's questions: full marks are every point but theirs.
UNANSWERED = sum(question_points(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").values())

MB = 10**6


@pytest.fixture
def tree():
    try:
        tree = CgroupTree.create()
    except CgroupsUnavailable as error:
        pytest.skip(f"no rights to create cgroups here: {error}")
    yield tree
    tree.remove()
    assert not any(folder.exists() for folder in tree.folders.values())


def run_in(cgroup, body) -> int:
    """Fork a process that joins ``cgroup`` and runs ``body``; return its exit code (-N: killed by signal N)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cgroups.join(cgroup.procs_files)
            code = body()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def hold_memory_in_processes_and_tmpfs(tmpfs_file: Path, children: int, each: int):
    """A body that writes ``each`` bytes into a tmpfs file and holds ``each`` in each of ``children`` processes."""

    def body():
        with open(tmpfs_file, "wb") as file:
            file.write(b"x" * each)
        pids = []
        for _ in range(children):
            pid = os.fork()
            if pid == 0:
                held = b"x" * each  # noqa: F841 - written, so really held
                time.sleep(1)
                os._exit(0)
            pids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        return 0 if codes == [0] * children else 3

    return body


@pytest.fixture
def tmpfs_file():
    path = Path("/dev/shm") / f"autograder-test-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


def test_memory_counts_every_process_and_the_tmpfs_together(tree, tmpfs_file):
    # 3 x 60 MB: each part alone is below the limit, together they are not.
    body = hold_memory_in_processes_and_tmpfs(tmpfs_file, children=2, each=60 * MB)
    within = tree.submission(memory_bytes=400 * MB, processes=64)
    assert run_in(within, body) == 0
    assert within.limits_hit() == []
    tmpfs_file.unlink()
    over = tree.submission(memory_bytes=150 * MB, processes=64)
    assert run_in(over, body) == 3  # one of its children was killed
    assert over.limits_hit() == ["memory"]
    for cgroup in (within, over):
        cgroup.remove()
        assert not any(folder.exists() for folder in cgroup.folders.values())


def test_the_process_limit_makes_a_fork_fail_and_is_named(tree):
    def fork_storm():
        pids = []
        try:
            for _ in range(40):
                pid = os.fork()
                if pid == 0:
                    time.sleep(0.5)
                    os._exit(0)
                pids.append(pid)
        except BlockingIOError:
            pass
        for pid in pids:
            os.waitpid(pid, 0)
        return min(len(pids), 100)

    assert run_in(tree.submission(memory_bytes=400 * MB, processes=64), fork_storm) == 40
    limited = tree.submission(memory_bytes=400 * MB, processes=10)
    assert run_in(limited, fork_storm) == 9  # ten with the process that forks them
    assert limited.limits_hit() == ["processes"]


def test_what_a_submission_forks_is_in_its_cgroup_and_killed_with_it(tree):
    cgroup = tree.submission(memory_bytes=400 * MB, processes=64)
    read, write = os.pipe()

    def leave_a_process_behind():
        if os.fork() == 0:
            os.setsid()  # a process of its own session, as a daemon would be
            os.write(write, f"{os.getpid()}\n".encode())
            time.sleep(600)
            os._exit(0)
        return 0

    assert run_in(cgroup, leave_a_process_behind) == 0
    left = int(os.read(read, 100))
    os.close(read)
    os.close(write)
    assert cgroup.processes() == [left]
    cgroup.kill()
    assert cgroup.processes() == []
    assert not Path(f"/proc/{left}").exists() or _state(left) == "Z"


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


STALE_GRADER = """
import os, sys, time
from autograder.sandbox.cgroups import CgroupTree
tree = CgroupTree.create()
cgroup = tree.submission(memory_bytes=100_000_000, processes=16)
if os.fork() == 0:  # a process of the submission, which outlives the grader
    from autograder.sandbox.cgroups import join
    join(cgroup.procs_files)
    os.setsid()
    print(" ".join(str(f) for f in tree.folders.values()), flush=True)
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"""


def test_a_new_grader_removes_the_cgroups_and_processes_a_killed_grader_left(tree):
    grader = subprocess.Popen([sys.executable, "-c", STALE_GRADER], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    folders = [Path(f) for f in grader.stdout.readline().split()]
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    grader.stdout.close()
    orphans = [int(pid) for pid in (folders[0] / "submission-1" / "cgroup.procs").read_text().split()]
    assert len(orphans) == 1 and all(folder.is_dir() for folder in folders)
    CgroupTree.create().remove()  # what a new grading run does first
    assert not any(folder.exists() for folder in folders)
    time.sleep(0.1)
    assert not Path(f"/proc/{orphans[0]}").exists() or _state(orphans[0]) == "Z"


def test_a_living_grader_s_cgroups_are_not_stale(tree):
    assert not cleanup._is_stale(tree.name)
    assert cleanup._is_stale(cleanup.PREFIX + f"{cleanup._pid_namespace()}-{2**22 + 1}-1-1")  # no such pid
    assert not cleanup._is_stale(cleanup.PREFIX + f"1-{2**22 + 1}-1-1")  # another PID namespace's: not ours to judge
    assert cleanup._is_stale(cleanup.PREFIX + f"{cleanup._pid_namespace()}-{os.getpid()}-0-1")  # a reused pid


def test_a_cpu_quota_caps_the_cores_a_submission_uses(tree):
    try:
        quota = CgroupTree.create(cpu=True)
    except CgroupsUnavailable as error:
        pytest.skip(f"no cpu controller here: {error}")
    try:
        def spin_in_two_processes():
            other = os.fork()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                pass
            if other == 0:
                os._exit(0)
            os.waitpid(other, 0)
            return 0

        before = os.times()
        cgroup = quota.submission(memory_bytes=400 * MB, processes=64, cpus=0.25)
        assert run_in(cgroup, spin_in_two_processes) == 0
        after = os.times()
        used = after.children_user + after.children_system - before.children_user - before.children_system
        assert used < 0.25 * 1.0 + 0.15  # a quarter of a core for a second, not two processes' worth
        folder = cgroup.folders["cpu" if "cpu" in cgroup.folders else ""]
        stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
        assert int(stat["nr_throttled"]) > 0  # the kernel held it back: the machine being busy is not why
    finally:
        quota.remove()


def test_the_cgroup_v2_files_are_written_and_read_as_the_kernel_documents_them(tmp_path):
    # No cgroup v2 hierarchy with these controllers on the course's machines: the files stand in for one.
    folder = tmp_path / "submission"
    folder.mkdir()
    for name in ("memory.swap.max", "memory.events", "pids.events"):
        (folder / name).write_text("")
    cgroup = cgroups.SubmissionCgroup(2, {"": folder})
    cgroup.set_limits(memory_bytes=500 * MB, processes=32, cpus=1.5)
    assert [(folder / name).read_text() for name in ("memory.max", "memory.swap.max", "pids.max", "cpu.max")] == [
        "500000000\n", "0\n", "32\n", "150000 100000\n"]
    assert cgroup.procs_files == [str(folder / "cgroup.procs")]
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 31\noom 1\noom_kill 1\noom_group_kill 0\n")
    (folder / "pids.events").write_text("max 0\n")
    assert cgroup.limits_hit() == ["memory"]
    (folder / "pids.events").write_text("max 4\n")
    assert cgroup.limits_hit() == ["memory", "processes"]


def test_without_the_rights_the_grader_is_told_why():
    if os.geteuid() != 0:
        with pytest.raises(CgroupsUnavailable):
            CgroupTree.create()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # an instructor without root
        os.close(read)
        message = b"created"
        try:
            os.setgid(65534)
            os.setuid(65534)
            CgroupTree.create().remove()
        except CgroupsUnavailable as error:
            message = str(error).encode()
        finally:
            os.write(write, message)
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        message = reader.read().decode()
    os.waitpid(pid, 0)
    assert message.startswith("could not create a cgroup in /sys/fs/cgroup"), message
    assert "Permission denied" in message


@pytest.fixture
def sandbox(tmp_path):
    """A sandbox with 10 MB of disk, holding a handed-in notebook."""
    work, course = tmp_path / "work", tmp_path / "course"
    work.mkdir()
    course.mkdir()
    (work / "a.ipynb").write_text("{}")
    try:
        box = Sandbox(work, course, disk_bytes=10 * MB)
    except Exception as error:  # noqa: BLE001 - no bubblewrap or no user namespaces here
        pytest.skip(f"no sandbox here: {error}")
    yield box
    box.close()


def inside(box, path: str) -> Path:
    return Path(f"/proc/{box.pid}/root{INSIDE}") / path


def test_the_sandbox_disk_is_capped_and_its_filling_named(sandbox):
    assert not sandbox.disk_full()
    with pytest.raises(OSError, match="No space left"):
        with open(inside(sandbox, "large.bin"), "wb") as file:
            for _ in range(20):
                file.write(b"x" * MB)
    assert sandbox.disk_full()


def test_only_the_named_files_come_back_and_what_stays_is_named(sandbox, tmp_path):
    inside(sandbox, "a.ipynb").write_text("{}")  # as the child copies it in
    inside(sandbox, "a.executed.ipynb").write_text('{"ran": true}')
    inside(sandbox, "b.executed.ipynb").write_bytes(b"x" * 3000)  # over the limit below
    inside(sandbox, "c.executed.ipynb").symlink_to("/etc/passwd")  # what the grader could read, not the sandbox
    inside(sandbox, "scratch.bin").write_bytes(b"x" * 2 * MB)
    back = tmp_path / "back"
    dropped = sandbox.collect(["a.executed.ipynb", "b.executed.ipynb", "c.executed.ipynb"], back, 2000)
    assert sorted(p.name for p in back.iterdir()) == ["a.executed.ipynb"]
    assert (back / "a.executed.ipynb").read_text() == '{"ran": true}'
    assert dropped == ["b.executed.ipynb (3.0 kB)", "c.executed.ipynb (11 bytes)", "scratch.bin (2.0 MB)"]


# -- whole batches ------------------------------------------------------------------------

# Small enough for the corpus's cases to hit, ample for an honest submission
# (a BatchNorm submission needs about 20 processes and threads, and under 100 MB).
BATCH_LIMITS = dict(cell_timeout=10, notebook_timeout=30, memory_bytes=1_000_000_000, disk_bytes=500_000_000)
LIMIT_CASES = ["fork_storm", "memory_spread", "large_file"]


def leftovers(tag: str) -> tuple[list[int], list[Path]]:
    """The processes whose environment holds ``tag``, and every grader cgroup of a grader that is gone."""
    processes = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "environ").read_bytes():
                processes.append(int(entry.name))
        except OSError:  # ended meanwhile
            pass
    layout = find_layout()
    stale = [folder for base in layout.bases.values() for folder in base.glob(cleanup.PREFIX + "*")
             if cleanup._is_stale(folder.name)]
    return processes, stale


def grader_folders(pid: int) -> list[Path]:
    layout = find_layout()
    name = f"{cleanup.PREFIX}{cleanup._pid_namespace()}-{pid}-"
    return [folder for base in layout.bases.values() for folder in base.glob(name + "*")]


@pytest.fixture
def course(tmp_path_factory):
    pytest.importorskip("nbgrader")
    from end_to_end.test_class_grading import make_course

    try:
        CgroupTree.create().remove()
    except CgroupsUnavailable as error:
        pytest.skip(f"no rights to create cgroups here: {error}")
    return make_course(tmp_path_factory, "limits")


@pytest.mark.slow
def test_each_limit_stops_its_case_names_it_and_leaves_nothing_behind(course, monkeypatch):
    from adversarial import LIMIT_HIT
    from autograder.grading.pipeline import Limits, grade
    from end_to_end.test_class_grading import submit

    tag = f"AUTOGRADER_TEST_BATCH={uuid.uuid4().hex}"
    monkeypatch.setenv(*tag.split("="))  # every process of the batch inherits it
    honest = ["solution", "renamed"]
    for student in honest + LIMIT_CASES:
        submit(course, student, student)
    outcomes, _, report = grade(course, "batch_norm", limits=Limits(workers=2, **BATCH_LIMITS), log=lambda *a: None)
    outcomes = {o.student: o for o in outcomes}
    for student in honest:
        assert outcomes[student].score == outcomes[student].max_score - UNANSWERED > 0, outcomes[student]
        assert outcomes[student].status == "graded", outcomes[student]
    page = report.read_text()
    for student in LIMIT_CASES:
        outcome = outcomes[student]
        assert outcome.score < outcome.max_score, outcome
        assert outcome.status == "over a limit" and LIMIT_HIT[student] in outcome.reason, outcome
        assert LIMIT_HIT[student] in page
    assert "large.bin (500.0 MB)" in outcomes["large_file"].reason  # written, not copied back
    assert not list((course / "grading").rglob("large.bin"))
    assert leftovers(tag) == ([], [])
    assert grader_folders(os.getpid()) == []


@pytest.mark.slow
def test_nothing_of_a_killed_batch_remains_after_a_resumed_run(course):
    from end_to_end.test_class_grading import submit

    tag = f"AUTOGRADER_TEST_BATCH={uuid.uuid4().hex}"
    for student in ["solution", "blank", *LIMIT_CASES]:
        submit(course, student, student)
    command = [sys.executable, "-m", "autograder", "grade", "batch_norm", "--workers", "2", "--cell-timeout", "10",
               "--memory", "1", "--disk", "500"]
    environment = {**os.environ, tag.split("=")[0]: tag.split("=")[1]}
    grader = subprocess.Popen(command, cwd=course, env=environment, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    progress = course / "grading" / "progress" / "batch_norm"
    deadline = time.monotonic() + 300
    # Kill it while submissions run, in their cgroups, after at least one was recorded.
    while not (len(list(progress.glob("*.json"))) >= 1 and grader_folders(grader.pid)
               and any(f.is_dir() for f in grader_folders(grader.pid)[0].iterdir())):
        assert time.monotonic() < deadline and grader.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.05)
    os.killpg(grader.pid, signal.SIGKILL)
    grader.wait()
    assert grader_folders(grader.pid), "a killed grader leaves its cgroups"
    done_before = len(list(progress.glob("*.json")))
    assert done_before < 5

    resumed = subprocess.run(command, cwd=course, env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} of 5 submissions already graded: resuming" in resumed.stdout
    assert len(list(progress.glob("*.json"))) == 5
    assert grader_folders(grader.pid) == []
    assert leftovers(tag) == ([], [])


@pytest.mark.slow
def test_without_the_rights_the_batch_says_so_once_and_keeps_the_disk_limit(course, monkeypatch, capsys):
    from adversarial import LIMIT_HIT
    from autograder.grading.pipeline import Limits, grade
    from end_to_end.test_class_grading import submit

    def no_rights(cpu=False):
        raise CgroupsUnavailable("could not create a cgroup in /sys/fs/cgroup/memory: Permission denied")

    monkeypatch.setattr(CgroupTree, "create", no_rights)
    for student in ("solution", "large_file"):
        submit(course, student, student)
    # Without a cgroup, --memory caps each process's address space, which is larger than 1 GB with torch:
    # the default memory limit, then.
    limits = Limits(workers=2, **{**BATCH_LIMITS, "memory_bytes": Limits().memory_bytes})
    outcomes, _, _ = grade(course, "batch_norm", limits=limits, log=lambda *a: None)
    outcomes = {o.student: o for o in outcomes}
    warnings = [line for line in capsys.readouterr().err.splitlines() if "no cgroup for each submission" in line]
    assert len(warnings) == 1 and "Permission denied" in warnings[0] and "per process" in warnings[0]
    assert outcomes["solution"].score == outcomes["solution"].max_score - UNANSWERED > 0
    # The disk limit is the sandbox's own, cgroups or not.
    assert outcomes["large_file"].status == "over a limit" and LIMIT_HIT["large_file"] in outcomes["large_file"].reason
