"""How a check compares each aspect of two results: each output, each tensor updated in place, each gradient.

Diagnosis (``autograder.core.diagnosis``) explains each wrong aspect on its own, so the
engine hands it one comparison per aspect, made as the check itself compares.
"""

from __future__ import annotations

import torch

from .calling import Called
from .compare import OUTPUT, compare, describe_difference
from .tolerances import tolerance_for


def result_aspects(operation, state, outputs=None) -> dict:
    """How a check compares each aspect of two results: each output, then each tensor updated in place."""
    def output_part(index, name):
        def same(a: Called, b: Called) -> bool:
            if not (isinstance(a.value, (tuple, list)) and isinstance(b.value, (tuple, list))):
                return False
            return len(a.value) == len(b.value) and compare(name, a.value[index], b.value[index], operation) is None
        return same

    if outputs:
        aspects = {name: output_part(i, name) for i, name in enumerate(outputs)}
    else:
        aspects = {OUTPUT: lambda a, b: compare(OUTPUT, a.value, b.value, operation) is None}
    for key in state:
        what = f"{key} after the call"
        aspects[what] = lambda a, b, key=key, what=what: compare(what, a.arguments[key], b.arguments[key],
                                                                  operation) is None
    return aspects


def gradients(result: Called, grad_wrt, grad_output) -> tuple:
    return torch.autograd.grad(result.value, [result.arguments[k] for k in grad_wrt], grad_output,
                               allow_unused=True)


def gradient_problem(key, got, wanted, operation) -> str | None:
    what = f"the gradient with respect to {key}"
    if wanted is None:  # a planted mistake's output that does not depend on this input
        return None if got is None else f"{what} is not zero: the output depends on {key}."
    if got is None:
        return f"{what} is missing: the output does not depend on {key}."
    return describe_difference(what, got, wanted, tolerance_for(f"{operation}.grad", wanted.dtype))


def gradient_problems(got, wanted, grad_wrt, operation) -> list[str]:
    problems = [gradient_problem(key, g, w, operation) for key, g, w in zip(grad_wrt, got, wanted)]
    return [problem for problem in problems if problem]


def gradient_aspect(index, key, operation):
    return lambda a, b: gradient_problem(key, a[index], b[index], operation) is None


def gradient_clue(clue: str | None, key: str) -> str | None:
    return clue.replace("the output", f"the gradient with respect to {key}", 1) if clue else None
