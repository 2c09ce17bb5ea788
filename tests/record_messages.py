"""Record every message the checks print, so that a change of layout can prove it changed none.

For each solution notebook, each test cell (hidden ones included) is run on the
solution's own answers; for each planted mistake, each check call of its
exercise that catches a mistake is run on it; for each such call, an unanswered
function (the ``NotImplementedError`` of a released notebook) is run too. The
result of each is the reports it showed or the failure it raised, word for word.

    python tests/record_messages.py                   # rewrite tests/data/messages.json
    python tests/record_messages.py --compare [NAME]  # differences from it (NAME: one package or assignment)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "tests" / "data" / "messages.json"
ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _outcome(run) -> str:
    """'pass: <reports>' or 'fail <type>: <message>' for one call, with object addresses removed.

    torch's global generator is seeded before each call, so that what a call draws from it
    (a planted dropout mask) does not depend on the calls before it.
    """
    import torch

    from autograder.core.report import collect_reports

    torch.manual_seed(0)
    with collect_reports() as shown:
        try:
            value = run()
        except Exception as error:  # noqa: BLE001 - every failure is what we record
            text = f"fail {type(error).__name__}: {error}"
        else:
            reports = list(shown) or ([str(value)] if value is not None else [])
            text = "pass: " + "\n".join(reports)
    return ADDRESS.sub(" at 0x?", text)


def _unanswered(*args, **kwargs):
    raise NotImplementedError("Replace this line with your code.")


def test_cells(solutions: dict[str, dict]) -> dict[str, str]:
    """Each test cell of each solution notebook, run on the solution's answers."""
    from helpers import grade_id, solution_namespace

    record = {}
    for assignment in sorted(solutions):
        path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            namespace = dict(solutions[assignment])
            code = compile(cell.source, grade_id(cell), "exec")
            record[f"cell {assignment}/{grade_id(cell)}"] = _outcome(lambda: exec(code, namespace))  # noqa: S102
    return record


def catalog_calls(modules: dict) -> dict[str, str]:
    """Each planted mistake under each check call of its exercise, and an unanswered function under each."""
    record = {}
    for name, module in modules.items():
        calls, seen = {}, set()
        for planted in module.MISTAKES:
            for catch in planted.caught_by:
                if (catch.check, repr(catch.args), repr(sorted(catch.kwargs.items()))) in seen:
                    continue
                seen.add((catch.check, repr(catch.args), repr(sorted(catch.kwargs.items()))))
                key = _describe(catch)
                while key in calls:  # the same words for calls with other functions passed along
                    key += "'"
                calls[key] = catch
        for key, catch in calls.items():
            check = getattr(module, catch.check)
            record[f"unanswered {name}/{key}"] = _outcome(lambda: check(_unanswered, *catch.args, **catch.kwargs))
            for planted in module.MISTAKES:
                record[f"planted {name}/{planted.mistake.id}/{key}"] = _outcome(
                    lambda: check(planted.function, *catch.args, **catch.kwargs))
    return record


def _describe(catch) -> str:
    """The check call in words that name no object's address (a function passed along reads as its kind)."""
    plain = lambda v: "<callable>" if callable(v) else repr(v)  # noqa: E731
    arguments = [plain(a) for a in catch.args] + [f"{k}={plain(v)}" for k, v in sorted(catch.kwargs.items())]
    return f"{catch.check}({', '.join(arguments)})"


def record_messages() -> dict[str, str]:
    from autograder import registry
    from helpers import solution_namespace

    import warnings
    warnings.simplefilter("ignore")
    assignments = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    solutions = {a: solution_namespace(ROOT / "solutions" / a / f"{a}.ipynb") for a in assignments}
    modules = {name: registry.package(name) for name in registry.packages()}
    return {**test_cells(solutions), **catalog_calls(modules)}


def differences(recorded: dict, now: dict, name: str | None = None) -> list[str]:
    """The keys (of ``name``'s package or assignment, or all) whose message differs or is missing."""
    def mine(key):
        return name is None or key.split(" ", 1)[1].split("/", 1)[0] == name
    keys = sorted(k for k in set(recorded) | set(now) if mine(k))
    return [k for k in keys if recorded.get(k) != now.get(k)]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    messages = record_messages()
    if "--compare" in sys.argv:
        name = sys.argv[-1] if sys.argv[-1] != "--compare" else None
        recorded = json.loads(RECORD.read_text())
        differ = differences(recorded, messages, name)
        for key in differ[:20]:
            print(f"{key}\n  recorded: {recorded.get(key)!r}\n  now:      {messages.get(key)!r}")
        print(f"{len(differ)} differences")
        sys.exit(1 if differ else 0)
    RECORD.write_text(json.dumps(messages, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(messages)} messages written to {RECORD}")
