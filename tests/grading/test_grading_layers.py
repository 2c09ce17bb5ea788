"""The grading layer stands on the sandbox and the core alone, and the instructor's commands do not load torch."""

import subprocess
import sys

from autograder import registry

MODULES = ["config", "course", "outcome", "progress", "stage", "execute", "record", "preprocessors", "pipeline",
           "class_report", "similarity"]


def test_grading_imports_no_exercise_module_and_not_torch():
    code = ("import sys\n"
            + "".join(f"import autograder.grading.{module}\n" for module in MODULES)
            + "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split())
    assert {f"autograder.grading.{module}" for module in MODULES} <= loaded
    assert not {f"autograder.{exercise}" for exercise in registry.packages()} & loaded
    assert "torch" not in loaded
    assert {m.split(".")[1] for m in loaded if m.startswith("autograder.")} <= {"cells", "core", "grading", "sandbox", "checker"}
    # Of the checker, the grader reads only verdicts; the checker itself is a process of its own.
    assert {m for m in loaded if m.startswith("autograder.checker")} <= {"autograder.checker",
                                                                         "autograder.checker.verdicts"}
