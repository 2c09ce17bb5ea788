"""Causal self-attention with a key-value cache, a module compared with one causal pass over the whole sequence.

Its checks build the student's class as ``nn.MultiheadAttention`` is built (its
parameters, from a freshly initialised one with random biases), feed it a
sequence in chunks, passing the cache from call to call, and compare the
outputs, put end to end, and the last cache with those of the reference's one
pass over the whole sequence: the outputs, the keys and the values, or the
gradients of the outputs with respect to the input and every parameter.
"""

from __future__ import annotations

import operator
from dataclasses import replace

import torch
from torch import nn

from ..core.calling import call_student, describe_call, functional_call
from ..core.engine import check_against_reference, fail_diagnosed
from ..core.mistakes import catch, diagnose, plant
from ..core.modules import ModuleSpec, StateDictRule
from ..core.report import Report, entry
from .planted import (
    CACHE_NOT_EXTENDED,
    CACHE_WRONG_AXIS,
    MASK_NOT_OFFSET,
    NO_CAUSAL_MASK,
    POSITIONS_RESTART,
    PREFIX_RECOMPUTED,
    ROTARY_INTERLEAVED,
    Reference,
    module_planting,
)

PARAMETERS = {"in_proj_weight": "in_proj_weight", "in_proj_bias": "in_proj_bias",
              "out_proj_weight": "out_proj.weight", "out_proj_bias": "out_proj.bias"}

# --- its mistakes, and the calls that catch them ---

_FULL = catch("check_causal_self_attention")
_TOKEN_BY_TOKEN = catch("check_causal_self_attention_decoding")
_CHUNKS = catch("check_causal_self_attention_decoding", chunks=(2, 3, 1))
CAUSAL_MISTAKES = (
    plant(module_planting(axis=1), CACHE_WRONG_AXIS, _TOKEN_BY_TOKEN),
    plant(module_planting(axis=3), CACHE_WRONG_AXIS, _TOKEN_BY_TOKEN),
    plant(module_planting(mask="top_left"), MASK_NOT_OFFSET, _TOKEN_BY_TOKEN, _CHUNKS),
    plant(module_planting(positions="restart"), POSITIONS_RESTART, _TOKEN_BY_TOKEN, _CHUNKS),
    plant(module_planting(kept="new"), CACHE_NOT_EXTENDED, _TOKEN_BY_TOKEN),
    plant(module_planting(mask="none"), NO_CAUSAL_MASK, _FULL, _CHUNKS),
    plant(module_planting(form="interleaved"), ROTARY_INTERLEAVED, _FULL),
    plant(module_planting(recompute=True), PREFIX_RECOMPUTED, catch("check_causal_self_attention_cost")),
)

# --- the spec ---

CAUSAL_SELF_ATTENTION = ModuleSpec(
    "CausalSelfAttention", nn.MultiheadAttention,
    inputs=("x",),
    parameters=PARAMETERS,
    keywords=("cache",),
    state_dict=StateDictRule(
        "Register in_proj_weight (3E, E) and in_proj_bias (3E,) as nn.Parameter and the output projection as "
        "self.out_proj = nn.Linear(E, E), as nn.MultiheadAttention does.", exactly=False, itemized=False),
    planted=CAUSAL_MISTAKES,
    outputs=("output", "cached keys", "cached values"),
)


def make_arguments(batch=2, length=6, embed_dim=8, num_heads=2, *, bias=True, dtype=torch.float32,
                   seed=0) -> dict:
    """A seeded sequence ``x`` (B, L, E) and the parameters of a freshly initialised ``nn.MultiheadAttention``."""
    with torch.random.fork_rng(devices=[]):  # the module initialises from the global generator
        torch.manual_seed(seed)
        reference = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True).to(dtype)
        with torch.no_grad():
            if bias:  # PyTorch initialises the biases to 0; random ones make them count
                reference.in_proj_bias.normal_()
                reference.out_proj.bias.normal_()
        state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
        x = torch.randn(batch, length, embed_dim, dtype=dtype)
    return {"x": x, **{name: state.get(key) for name, key in PARAMETERS.items()}}


def unpack(result):
    """``forward``'s ``(output, (keys, values))``, or a TypeError that says what forward must return."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], (tuple, list))
            and len(result[1]) == 2 and all(isinstance(t, torch.Tensor) for t in (result[0], *result[1]))):
        raise TypeError("forward(x, cache) must return (output, cache), with output a tensor and cache the tuple "
                        f"(keys, values) of two tensors; it returned {type(result).__name__}")
    return result[0], tuple(result[1])


def decoding(module, chunks=None, gradients=False):
    """``module`` fed a check's ``x`` in chunks of ``chunks`` tokens (None: all at once), the cache passed along.

    Returns the outputs put end to end and the last cache's keys and values, or, for
    ``gradients``, the outputs alone.
    """
    def run(x, *tensors):
        parameters = {key: t for key, t in zip(PARAMETERS.values(), tensors) if t is not None}
        outputs, cache, start = [], None, 0
        for size in chunks or (x.shape[1],):
            output, cache = unpack(functional_call(module, parameters, (x[:, start:start + size],),
                                                   {"cache": cache}))
            outputs.append(output)
            start += size
        output = torch.cat(outputs, dim=1)
        return output if gradients else (output, *cache)

    return run


def _sizes(args) -> tuple[int, bool]:
    return args["x"].shape[-1], args["in_proj_bias"] is not None


def _crash(run, arguments):
    """What ``run`` raised on ``arguments``, as a failure reads it, or None if it returned."""
    called = call_student(run, arguments, where="")
    return None if called.error is None else called.failure.summary


def _first_sentence(crash: str | None) -> str | None:
    """The kind of a crash, without the sizes that a student's order of operations may change."""
    return None if crash is None else crash.split(".")[0]


def compare_decoding(student, args: dict, num_heads: int, chunks, *, gradients=False, devices=None,
                     call: str) -> Report:
    """Compare ``student`` fed ``args["x"]`` in ``chunks`` with the reference's one pass over all of it."""
    spec = CAUSAL_SELF_ATTENTION
    embed, bias = _sizes(args)
    module, built = spec.build(student, embed, num_heads, bias=bias)
    spec.require_state_dict(module, built, embed, num_heads, bias=bias)
    planted = tuple(replace(p, function=_planted_run(p.function, embed, num_heads, bias, chunks, gradients))
                    for p in spec.planted)
    if chunks is not None:  # a crash between two steps (the cache's shapes) can name its mistake too
        crash = _crash(decoding(module, chunks, gradients), args)
        run = lambda function: _first_sentence(_crash(function, args))  # noqa: E731
        if crash is not None and diagnose(_first_sentence(crash), None, planted, run, operator.eq):
            fail_diagnosed(f"{describe_call(call, args)} on cpu", _first_sentence(crash), None, summary=crash,
                           planted=planted, run=run, agree=operator.eq, clue=None)
    grad_wrt = tuple(key for key in spec.differentiable if args[key] is not None) if gradients else ()
    reference = decoding(Reference(embed, num_heads, bias=bias), None, gradients)
    return check_against_reference(
        decoding(module, chunks, gradients), reference, args, name=call, operation=spec.name, grad_wrt=grad_wrt,
        planted=planted, devices=devices, forbidden=spec.forbidden, outputs=None if gradients else spec.outputs)


def _planted_run(planted_class, embed, num_heads, bias, chunks, gradients):
    def run(*values):  # built when a failure is diagnosed, not on every check
        return decoding(planted_class(embed, num_heads, bias=bias), chunks, gradients)(*values)
    return run


def _call(chunks) -> str:
    """The comparison's name: the whole sequence at once, or fed in chunks of these numbers of tokens."""
    return "CausalSelfAttention(cache=None)" if chunks is None else f"CausalSelfAttention(chunks={tuple(chunks)})"


# --- the check entries ---


@entry
def check_causal_self_attention(student, *, num_heads=2, gradients=False, devices=None, **arguments) -> Report:
    """Compare one pass over the whole sequence (``cache=None``): the output and the cache it returns.

    ``arguments`` go to ``make_arguments`` (``batch``, ``length``, ``embed_dim``, ``bias``, ``dtype``, ``seed``).
    """
    args = make_arguments(num_heads=num_heads, **arguments)
    return compare_decoding(student, args, num_heads, None, gradients=gradients, devices=devices, call=_call(None))


@entry
def check_causal_self_attention_decoding(student, *, chunks=(3, 1, 1, 1), num_heads=2, gradients=False,
                                         devices=None, **arguments) -> Report:
    """Feed the sequence in ``chunks`` (a prompt, then the tokens one by one by default), passing the cache along.

    Compares the outputs, end to end, and the last cache with one pass over the whole
    sequence or, with ``gradients=True``, the gradients of the outputs through every step.
    """
    args = make_arguments(length=sum(chunks), num_heads=num_heads, **arguments)
    return compare_decoding(student, args, num_heads, tuple(chunks), gradients=gradients, devices=devices,
                            call=_call(chunks))


@entry
def check_causal_self_attention_state_dict(student, embed_dim=8, num_heads=2) -> Report:
    """Check that the module loads ``nn.MultiheadAttention``'s state_dict unchanged, with and without biases."""
    return CAUSAL_SELF_ATTENTION.check_state_dict(student, embed_dim, num_heads,
                                                  variants=({"bias": True}, {"bias": False}))
