"""``python -m autograder VERB``: the course's commands for students and instructors.

    python -m autograder check NOTEBOOK        run a notebook's visible tests, report each
    python -m autograder generate [NAME ...]   regenerate exercises/ from solutions/
    python -m autograder grade NAME            autograde submissions, feedback, grades CSV
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    check = verbs.add_parser("check", help="run a notebook's tests and report each one")
    check.add_argument("notebook")
    check.add_argument("--timeout", type=int, default=180, help="seconds per cell (default 180)")

    generate = verbs.add_parser("generate", help="regenerate exercises/ from solutions/")
    generate.add_argument("assignments", nargs="*", help="default: every folder of solutions/")
    generate.add_argument("--root", default=".", help="the course's root (default: .)")

    grade = verbs.add_parser("grade", help="autograde, write feedback, export grades to CSV")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--root", default=".", help="the course's root (default: .)")

    args = parser.parse_args(argv)
    if args.verb == "check":
        return _check(args.notebook, args.timeout)

    from .grading import GradingError, course_api, generate as run_generate, grade as run_grade

    try:
        api = course_api(args.root)
        if args.verb == "generate":
            run_generate(api, args.assignments)
        else:
            run_grade(api, args.assignment, args.student)
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _check(notebook: str, timeout: int) -> int:
    import os

    from .notebook_check import check_notebook, format_report

    if not os.path.isfile(notebook):
        print(f"error: no such notebook: {notebook}", file=sys.stderr)
        return 2
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    results = check_notebook(notebook, timeout=timeout)
    if not results:
        print(f"error: {notebook} has no graded test cells", file=sys.stderr)
        return 2
    print(format_report(results))
    return 0 if all(r.passed for r in results) else 1
