"""``python -m autograder VERB``: the course's commands for students and instructors.

    python -m autograder check NOTEBOOK        run a notebook's visible tests, report each
    python -m autograder generate [NAME ...]   regenerate exercises/ from solutions/
    python -m autograder grade NAME            autograde submissions, feedback, grades CSV
    python -m autograder grade NAME --allow S  regrade S, accepting the flagged code you have read
    python -m autograder export canvas|moodle  the gradebook as an LMS's grade import CSV
    python -m autograder similarity NAME       flag submissions that stand out as alike, an HTML page
    python -m autograder release               the student edition: site, exercises, wheel, no solutions
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    # jsonschema, which nbformat imports, imports rfc3987_syntax when it is installed, and that
    # builds grammars for 0.7 s; nbformat and nbgrader never check the format it serves.
    sys.modules.setdefault("rfc3987_syntax", None)
    from .grading.config import Limits

    limits = Limits()  # the defaults of grade's options
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    check = verbs.add_parser("check", help="run a notebook's tests and report each one")
    check.add_argument("notebook")
    check.add_argument("--timeout", type=int, default=180, help="seconds per cell (default 180)")

    generate = verbs.add_parser("generate", help="regenerate exercises/ from solutions/")
    generate.add_argument("assignments", nargs="*", help="default: every folder of solutions/")
    generate.add_argument("--root", default=".", help="the course's root (default: .)")

    collect = verbs.add_parser("collect", help="unpack an LMS zip of submissions with nbgrader zip_collect")
    collect.add_argument("assignment")
    collect.add_argument("archive", help="the zip file downloaded from the LMS")
    collect.add_argument("--root", default=".", help="the course's root (default: .)")

    grade = verbs.add_parser("grade", help="autograde a class, write feedback, grades CSV and class report")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--root", default=".", help="the course's root (default: .)")
    grade.add_argument("--workers", type=int, default=limits.workers,
                       help="submissions executed at once (default: the number of cores)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run submissions without the bubblewrap sandbox (unsafe)")
    grade.add_argument("--cell-timeout", type=int, default=limits.cell_timeout,
                       help=f"seconds per cell (default {limits.cell_timeout})")
    grade.add_argument("--notebook-timeout", type=int, default=limits.notebook_timeout,
                       help=f"seconds per submission (default {limits.notebook_timeout})")
    grade.add_argument("--memory", type=float, default=limits.memory_bytes / 1e9,
                       help=f"GB of memory per submission, all its processes and its /tmp together "
                            f"(default {limits.memory_bytes / 1e9:g})")
    grade.add_argument("--processes", type=int, default=limits.processes,
                       help=f"processes and threads per submission at once (default {limits.processes})")
    grade.add_argument("--disk", type=int, default=limits.disk_bytes // 1_000_000,
                       help=f"MB of disk per submission, its folder and /tmp together "
                            f"(default {limits.disk_bytes // 1_000_000})")
    grade.add_argument("--cpus", type=float, default=limits.cpus,
                       help="cores a submission may use at once (default: no quota)")
    grade.add_argument("--feedback", choices=("messages", "none", "full"),
                       help="what feedback shows of hidden tests: their messages but not their code (the "
                            "default), none: only pass or fail, full: everything (after the deadline)")
    grade.add_argument("--regrade", action="store_true",
                       help="grade again the students already graded (default: resume)")
    grade.add_argument("--allow", action="append", metavar="STUDENT",
                       help="regrade this student with their flagged code accepted, once you have read it "
                            "(repeatable; a line changed since is flagged again)")

    export = verbs.add_parser("export", help="write the gradebook as the CSV that Canvas or Moodle imports")
    export.add_argument("lms", choices=("canvas", "moodle"))
    export.add_argument("--assignment", action="append", help="export only this assignment (repeatable)")
    export.add_argument("--output", help="the CSV file to write (default: grading/<lms>_grades.csv)")
    export.add_argument("--root", default=".", help="the course's root (default: .)")

    similarity = verbs.add_parser("similarity", help="compare the answer cells of a class's submissions; "
                                  "write an HTML page of the pairs that stand out")
    similarity.add_argument("assignment")
    similarity.add_argument("--earlier", action="append", default=[], metavar="FOLDER",
                            help="a folder of earlier terms' submissions (*.ipynb, any depth; repeatable)")
    similarity.add_argument("--root", default=".", help="the course's root (default: .)")

    release = verbs.add_parser("release", help="build the student edition: the site, the exercises and the "
                               "package's wheel, checked for solution lines")
    release.add_argument("--site", help="an HTML build of the book to use (e.g. _build/html); default: build it")
    release.add_argument("--output", help="the folder to write (default: _build/student)")
    release.add_argument("--root", default=".", help="the course's root (default: .)")

    args = parser.parse_args(argv)
    if args.verb == "check":
        return _check(args.notebook, args.timeout)
    if args.verb == "release":
        return _release(args)
    if args.verb == "similarity":
        return _similarity(args)

    server = None
    if args.verb == "grade" and os.path.isfile(os.path.join(args.root, "nbgrader_config.py")):
        from .sandbox.forkserver import ForkServer

        # Started first, it imports torch while this process imports nbgrader.
        os.makedirs(os.path.join(args.root, "grading"), exist_ok=True)
        server = ForkServer(os.path.join(args.root, "grading", "forkserver.log"))
    try:
        return _run(args, server)
    finally:
        if server is not None:
            server.close()


def _release(args) -> int:
    from .edition.build import ReleaseError, release

    try:
        release(args.root, args.output, args.site)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _similarity(args) -> int:
    from .grading.course import GradingError
    from .grading.similarity_report import write_similarity_report

    try:
        write_similarity_report(args.root, args.assignment, args.earlier)
    except (GradingError, KeyError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    return 0


def _export(args) -> int:
    from .grading.lms import ExportError, export
    from .grading.course import course_api

    if not os.path.isfile(os.path.join(args.root, "nbgrader_config.py")):
        print(f"error: {os.path.abspath(args.root)} is not a course folder (no nbgrader_config.py)", file=sys.stderr)
        return 2
    db_url = course_api(args.root).coursedir.db_url
    database = db_url.removeprefix("sqlite:///")
    if db_url.startswith("sqlite:///") and not os.path.isfile(database):
        print(f"error: no gradebook at {database}: grade an assignment first", file=sys.stderr)
        return 2
    output = args.output or os.path.join(args.root, "grading", f"{args.lms}_grades.csv")
    try:
        maxima = export(db_url, output, args.lms, args.assignment)
    except (ExportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.lms} grades written to {output}; maximum scores: "
          + ", ".join(f"{name} {points:g}" for name, points in maxima.items()))
    return 0


def _run(args, server) -> int:
    from .grading.config import Limits
    from .grading.course import GradingError, course_api, generate as run_generate
    from .grading.pipeline import grade as run_grade
    from .sandbox.bwrap import SandboxUnavailable

    if args.verb == "export":
        return _export(args)
    try:
        if args.verb == "generate":
            run_generate(course_api(args.root), args.assignments)
            return 0
        if args.verb == "collect":
            from .grading.course import collect_zip

            collect_zip(args.root, args.assignment, args.archive)
            return 0
        if args.no_sandbox:
            print("warning: grading WITHOUT a sandbox: submissions run with your rights, "
                  "can read the solutions and the gradebook, and reach the network.", file=sys.stderr)
        limits = Limits(workers=max(1, args.workers), sandbox=not args.no_sandbox,
                        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        memory_bytes=int(args.memory * 1e9), processes=args.processes,
                        disk_bytes=args.disk * 1_000_000, cpus=args.cpus)  # the others keep Limits' defaults
        run_grade(args.root, args.assignment, args.student, limits, regrade=args.regrade, server=server,
                  feedback=args.feedback, allow=args.allow)
    except (GradingError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _check(notebook: str, timeout: int) -> int:
    import os

    from .self_check import check_notebook, format_report

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
