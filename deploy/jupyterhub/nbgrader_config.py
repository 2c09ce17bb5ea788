"""nbgrader settings that every account's server reads on the course's JupyterHub.

``jupyterhub_config.py`` points each single-user server at this folder
(``JUPYTER_CONFIG_PATH``); an instructor's course folder adds the course's own
``nbgrader_config.py`` on top of it.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "normalization-course")
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
# Released notebooks land in <home>/<course>/<assignment>, so two courses never collide.
c.Exchange.path_includes_course = True
