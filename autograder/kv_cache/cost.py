"""The cost of one decoding step: it must grow with the cache only as attention's does.

A step that projects the whole prefix again, or attends from every earlier
query, gives the right outputs; only its cost tells it apart. The check counts
the floating-point operations of one step (``FlopCounterMode``: matrix products,
2 per multiply-add) after two prompts of different lengths. Attention over T
cached tokens costs 4·E per token and sequence (the scores and the weighted sum
of the values); a step that does more per cached token than twice that redoes
work for the prefix.

When a class is graded, the count is made where the student's module runs, in
its kernel (``count_flops`` through the trusted checker): unlike the outputs,
which the checker compares itself, it is the kernel's word. A submission that
forges it gains this check alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.calling import call_student, count_flops, functional_call
from ..core.report import Report, entry
from ..core.spec import Property
from .causal_self_attention import CAUSAL_SELF_ATTENTION, PARAMETERS, make_arguments, unpack
from .planted import PREFIX_RECOMPUTED


@dataclass(frozen=True)
class StepCost:
    """The FLOPs of one step after ``short`` and after ``long`` cached tokens, for a batch of one."""

    short: int
    long: int
    cached: tuple[int, int]
    embed_dim: int

    @property
    def per_token(self) -> float:
        """How many more FLOPs a step costs for each more cached token."""
        return (self.long - self.short) / (self.cached[1] - self.cached[0])

    @property
    def attention_per_token(self) -> int:
        return 4 * self.embed_dim


def _verdict(cost: StepCost) -> str:
    return "linear" if cost.per_token <= 2 * cost.attention_per_token else "more than attention needs"


def _describe(cost: StepCost) -> str:
    return (f"one step costs {cost.short} FLOPs after {cost.cached[0]} cached tokens and {cost.long} after "
            f"{cost.cached[1]}: {cost.per_token:.0f} more per cached token, where attention needs "
            f"{cost.attention_per_token} (4 * embed_dim: the scores and the weighted sum of the values). The step "
            "redoes work for the tokens of the cache.")


LINEAR_STEP = Property(
    "a decoding step costs what attention over the cache costs",
    statistic=_verdict,
    holds=lambda verdict: verdict == "linear",
    describe=lambda verdict: verdict,
    expected="linear",
    candidates=tuple(p for p in CAUSAL_SELF_ATTENTION.planted if p.mistake == PREFIX_RECOMPUTED),
)


def step_cost(module, args: dict, cached: tuple[int, int]) -> StepCost:
    """Count one step's FLOPs after a prompt of each length of ``cached``, the prompt fed in one call."""
    parameters = {key: args[name] for name, key in PARAMETERS.items() if args[name] is not None}
    counts = []
    for length in cached:
        x = args["x"][:, : length + 1]
        _, cache = unpack(functional_call(module, parameters, (x[:, :length],), {"cache": None}))
        counts.append(count_flops(module, parameters, (x[:, length:],), {"cache": cache}))
    return StepCost(*counts, cached=cached, embed_dim=args["x"].shape[-1])


@entry
def check_causal_self_attention_cost(student, *, embed_dim=16, num_heads=2, cached=(16, 32), seed=0) -> Report:
    """Property: one step's FLOPs grow with the cached tokens at most twice as fast as attention's 4·E per token."""
    spec = CAUSAL_SELF_ATTENTION
    args = make_arguments(batch=1, length=max(cached) + 1, embed_dim=embed_dim, num_heads=num_heads, seed=seed)
    module, built = spec.build(student, embed_dim, num_heads, bias=True)
    spec.require_state_dict(module, built, embed_dim, num_heads, bias=True)
    report = Report(f"{built}: the FLOPs of one step after {cached[0]} and {cached[1]} cached tokens")
    where = f"{report.call} on cpu"
    cost = call_student(lambda: step_cost(module, args, cached), (), where=where, copy=False,
                        forbidden=spec.forbidden).result()
    problem = LINEAR_STEP.problem(cost)
    if problem:
        LINEAR_STEP.fail(where, _verdict(cost), problem=_describe(cost),
                         run=lambda planted_class: _verdict(step_cost(planted_class(embed_dim, num_heads), args,
                                                                      cached)))
    report.devices.append("cpu")
    return report
