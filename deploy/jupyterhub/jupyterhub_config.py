"""JupyterHub for the course: a single-user server per account, nbgrader's exchange between them.

Students fetch, submit and fetch feedback from the Assignments tab (nbgrader's
``assignment_list`` extension); instructors release, collect and grade from
their clone of the course with nbgrader's formgrader or the command line
(``nbgrader release_assignment``, ``nbgrader collect``, ``python -m autograder
grade``, ``nbgrader release_feedback``). The exchange is nbgrader's own, a
folder on the hub's machine that every account can write to.

Everything site-specific comes from the environment, with these defaults:

    COURSE_ID           normalization-course
    COURSE_EXCHANGE     /srv/nbgrader/exchange   (created 1777, as nbgrader needs)
    COURSE_HUB_STATE    /srv/jupyterhub          (database, cookie secret; root only)
    COURSE_HUB_IP       127.0.0.1                (where the proxy listens)
    COURSE_HUB_PORT     8000
    COURSE_STUDENTS     comma-separated accounts (system users: the servers run as them)
    COURSE_INSTRUCTORS  comma-separated accounts; they are the hub's admins
    COURSE_AUTHENTICATOR  pam (default: system passwords) or dummy (one shared password, for trials)

Run as root: ``jupyterhub -f deploy/jupyterhub/jupyterhub_config.py``.
"""

import os
import shutil
import sys

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)  # the environment that holds jupyterhub, nbgrader and the course
COURSE_ID = os.environ.get("COURSE_ID", "normalization-course")
EXCHANGE = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
STATE = os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub")
PORT = int(os.environ.get("COURSE_HUB_PORT", "8000"))


def accounts(variable: str) -> set[str]:
    return {name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()}


STUDENTS, INSTRUCTORS = accounts("COURSE_STUDENTS"), accounts("COURSE_INSTRUCTORS")

for folder, mode in ((EXCHANGE, 0o1777), (STATE, 0o700)):
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, mode)

# --- network: the proxy is the only public port; the hub and the proxy's API stay on loopback
c.JupyterHub.ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
proxy = shutil.which("configurable-http-proxy") or os.path.join(HERE, "..", "..", "node_modules", ".bin",
                                                                "configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [os.path.abspath(proxy)]
c.JupyterHub.db_url = f"sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")

# --- accounts
c.JupyterHub.authenticator_class = os.environ.get("COURSE_AUTHENTICATOR", "pam")
c.Authenticator.allowed_users = STUDENTS | INSTRUCTORS
c.Authenticator.admin_users = INSTRUCTORS
# nbgrader's convention: instructors in formgrade-<course>, students in nbgrader-<course>.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE_ID}": {"users": sorted(INSTRUCTORS)},
    f"nbgrader-{COURSE_ID}": {"users": sorted(STUDENTS)},
}

# --- servers: one process per account, run as that system user
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(BIN, "jupyterhub-singleuser")]
c.Spawner.default_url = "/tree"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# Every server reads this folder's nbgrader_config.py: the course id and the exchange.
c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": HERE,
    "COURSE_ID": COURSE_ID,
    "COURSE_EXCHANGE": EXCHANGE,
    "PATH": BIN + os.pathsep + "/usr/local/bin:/usr/bin:/bin",
}
