"""The course on a real JupyterHub, on loopback: release, fetch, submit, collect, grade, feedback.

The hub runs ``deploy/jupyterhub/jupyterhub_config.py`` with three system
accounts made for the test (an instructor and two students), a local spawner
and its proxy. The students act only through their own single-user servers
(nbgrader's Assignments API and Jupyter's contents API, reached through the
hub's proxy); the instructor uses nbgrader's command line and the course's
grader in a clone of the course in their home folder.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests
from bs4 import BeautifulSoup

from conftest import ROOT
from helpers import question_points

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub runs servers as system accounts, which only root creates"),
]

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy" / "jupyterhub"
ASSIGNMENT = "batch_norm"
COURSE_ID = "normalization-course"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def free_port() -> int:
    """A port whose next two are free too: the hub uses PORT, PORT + 1 and PORT + 2."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_free(port + i) for i in range(3)):
            return port
    raise RuntimeError("no three consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Hub:
    def __init__(self, base: Path):
        suffix = secrets.token_hex(3)
        self.base = base
        self.instructor = f"ncteach{suffix}"
        self.students = {"good": f"ncstua{suffix}", "wrong": f"ncstub{suffix}"}
        self.exchange = base / "exchange"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.process = None
        self.log = base / "hub.log"

    @property
    def accounts(self) -> list[str]:
        return [self.instructor, *self.students.values()]

    def home(self, account: str) -> Path:
        return self.base / "home" / account

    def environment(self) -> dict:
        return {
            **os.environ, "COURSE_ID": COURSE_ID, "COURSE_EXCHANGE": str(self.exchange),
            "COURSE_HUB_STATE": str(self.base / "state"), "COURSE_HUB_PORT": str(self.port),
            "COURSE_STUDENTS": ",".join(self.students.values()), "COURSE_INSTRUCTORS": self.instructor,
            "COURSE_AUTHENTICATOR": "dummy",
            "PATH": f"{BIN}{os.pathsep}{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        }

    def start(self) -> None:
        config = self.base / "test_config.py"
        # The deployment as it is, plus a service whose token lets the test drive the servers.
        config.write_text(
            f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})\n"
            f"c.JupyterHub.services = [{{'name': 'course-test', 'api_token': {self.token!r}}}]\n"
            "c.JupyterHub.load_roles = [{'name': 'course-test', 'services': ['course-test'], "
            "'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users', 'read:users']}]\n"
        )
        (self.base / "state").mkdir()
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(config)], cwd=self.base / "state", env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.wait(lambda: requests.get(f"{self.url}/hub/api/", timeout=2).ok, "the hub to answer", 90)

    def wait(self, ready, what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"the hub exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def start_server(self, account: str) -> None:
        response = self.api("POST", f"/hub/api/users/{account}/server")
        assert response.status_code in (201, 202), response.text
        self.wait(lambda: self.api("GET", f"/hub/api/users/{account}").json()["servers"].get("", {}).get("ready"),
                  f"{account}'s server", 120)

    def as_account(self, account: str, *command: str, cwd: Path) -> str:
        """Run ``command`` as ``account`` (the instructor's terminal), with the servers' environment."""
        environment = {**self.environment(), "HOME": str(self.home(account)), "USER": account,
                       "JUPYTER_CONFIG_PATH": str(DEPLOY)}
        result = subprocess.run(["runuser", "-u", account, "--", *command], cwd=cwd, env=environment,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout + result.stderr

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        for account in self.accounts:
            subprocess.run(["pkill", "-KILL", "-u", account], capture_output=True)
        for account in self.accounts:
            subprocess.run(["userdel", "--remove", account], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def interpreter_reachable():
    """Let every account reach this environment's interpreter while the test runs.

    A hub's machine has Python where every account can run it. Here the
    interpreter, or the checkout whose environment links to it, may live in a
    folder that other accounts cannot enter (pyenv under /root, a clone in a
    `mktemp -d` folder), so the folders above both get search permission (x,
    never read) for the test's duration, and their modes are restored after it.
    """
    changed = {}
    folders = dict.fromkeys([*Path(os.path.realpath(sys.executable)).parents, *Path(sys.executable).absolute().parents])
    for folder in folders:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            changed[folder] = mode
            folder.chmod(mode | 0o001)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)


@pytest.fixture
def hub(interpreter_reachable):
    base = Path(f"/var/tmp/course-hub-{secrets.token_hex(4)}")
    (base / "home").mkdir(parents=True)
    base.chmod(0o755)
    (base / "home").chmod(0o755)
    running = Hub(base)
    try:
        for account in running.accounts:
            subprocess.run(["useradd", "--create-home", "--home-dir", str(running.home(account)),
                            "--shell", "/bin/bash", account], check=True, capture_output=True)
        running.start()
        yield running
    finally:
        running.stop()
    leftovers = subprocess.run(["ps", "-eo", "user:32="], capture_output=True, text=True).stdout.split()
    assert not set(leftovers) & set(running.accounts), "a process of a test account outlived the test"
    assert not base.exists()


def notebooks_listed(value):
    """Every notebook entry of an Assignments listing, however deeply nbgrader nests them."""
    if isinstance(value, dict):
        if "notebook_id" in value:
            yield value
        for item in value.values():
            yield from notebooks_listed(item)
    elif isinstance(value, list):
        for item in value:
            yield from notebooks_listed(item)


def answer(notebook: dict, solution: str) -> dict:
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ASSIGNMENT:
            cell["source"] = solution
    return notebook


def test_a_class_round_trip_on_jupyterhub(hub):
    started = time.monotonic()
    course = hub.home(hub.instructor) / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    subprocess.run(["chown", "-R", f"{hub.instructor}:{hub.instructor}", str(course)], check=True)

    # 1. The instructor releases the assignment.
    hub.as_account(hub.instructor, str(BIN / "python"), "-m", "autograder", "generate", ASSIGNMENT, cwd=course)
    hub.as_account(hub.instructor, str(BIN / "nbgrader"), "release_assignment", ASSIGNMENT, cwd=course)

    # 2. Each student fetches it in their own server, answers, and submits.
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    solution = next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ASSIGNMENT)
    solution = re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", solution, flags=re.M)
    wrong = solution.replace("torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)")
    assert wrong != solution
    notebook_path = f"{COURSE_ID}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    for kind, account in hub.students.items():
        hub.start_server(account)
        user = f"/user/{account}"
        listed = hub.api("GET", f"{user}/assignments", params={"course_id": COURSE_ID}).json()
        assert [a["assignment_id"] for a in listed["value"] if a["status"] == "released"] == [ASSIGNMENT]
        fetched = hub.api("POST", f"{user}/assignments/fetch",
                          data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}).json()
        assert any(a["status"] == "fetched" for a in fetched["value"]), fetched
        content = hub.api("GET", f"{user}/api/contents/{notebook_path}").json()["content"]
        content = answer(content, solution if kind == "good" else wrong)
        saved = hub.api("PUT", f"{user}/api/contents/{notebook_path}",
                        json={"type": "notebook", "format": "json", "content": content})
        assert saved.ok, saved.text
        submitted = hub.api("POST", f"{user}/assignments/submit",
                            data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}).json()
        assert any(a["status"] == "submitted" for a in submitted["value"]), submitted

    # 3. The instructor collects, grades with the course's grader, and releases the feedback.
    hub.as_account(hub.instructor, str(BIN / "nbgrader"), "collect", ASSIGNMENT, cwd=course)
    hub.as_account(hub.instructor, str(BIN / "python"), "-m", "autograder", "grade", ASSIGNMENT,
                   "--cell-timeout", "60", cwd=course)
    rows = [row.split(",") for row in (course / "grading" / "grades.csv").read_text().splitlines()]
    header, rows = rows[0], {row[rows[0].index("student_id")]: dict(zip(rows[0], row)) for row in rows[1:]}
    good, wrong_row = rows[hub.students["good"]], rows[hub.students["wrong"]]
    hub.as_account(hub.instructor, str(BIN / "nbgrader"), "release_feedback", ASSIGNMENT, cwd=course)

    # 4. Each student fetches feedback that shows their result and no hidden test.
    hidden = [line.strip() for cell in source.cells for block in HIDDEN.findall(cell.source)
              for line in block.splitlines() if line.strip()]
    assert hidden
    pages = {}
    for kind, account in hub.students.items():
        user = f"/user/{account}"
        listed = hub.api("POST", f"{user}/assignments/fetch_feedback",
                         data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}).json()
        assert any(nb.get("has_local_feedback") for nb in notebooks_listed(listed)), listed
        folder = f"{COURSE_ID}/{ASSIGNMENT}/feedback"
        (stamp,) = hub.api("GET", f"{user}/api/contents/{folder}").json()["content"]
        page = hub.api("GET", f"{user}/api/contents/{stamp['path']}/{ASSIGNMENT}.html",
                       params={"type": "file", "format": "text"}).json()["content"]
        page = BeautifulSoup(page, "html.parser").get_text()  # what the student reads, without highlighting
        assert "HIDDEN TESTS" not in page
        for line in hidden:
            assert line not in page, line
        pages[kind] = page
    wall = time.monotonic() - started
    print(json.dumps({"round_trip_seconds": round(wall, 1), "good": good, "wrong": wrong_row}))
    assert "Likely mistake: epsilon is added outside the square root" in pages["wrong"]
    assert "Likely mistake" not in pages["good"]
    # Both answered the code and left the questions: full marks are every point but theirs.
    questions = sum(question_points(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").values())
    assert float(good["raw_score"]) == float(good["max_score"]) - questions > 0
    assert 0 < float(wrong_row["raw_score"]) < float(wrong_row["max_score"])
