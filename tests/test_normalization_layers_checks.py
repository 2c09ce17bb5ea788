"""The normalization-layer checks: a correct implementation passes, each known mistake is caught and named.

The correct implementations are the solution notebook's own code. They are
also run on the sample inputs of PyTorch's OpInfo tests for these operations
(``sample_inputs_layer_norm`` and the others in
``torch/testing/_internal/common_methods_invocations.py``), read from the
installed PyTorch, and compared with PyTorch there.
"""

import ast
import functools
import inspect
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import make_tensor

from autograder.core.devices import SIMULATED_CUDA
from autograder.normalization_layers import (
    GROUP_NORM_VARIANTS,
    INSTANCE_NORM_VARIANTS,
    LAYER_NORM_VARIANTS,
    RMS_NORM_VARIANTS,
    _instance_norm,
    check_group_norm,
    check_group_norm_rejects_indivisible_channels,
    check_instance_norm,
    check_instance_norm_rejects_single_position,
    check_layer_norm,
    check_rms_norm,
)
from conftest import ROOT
from helpers import solution_code

NOTEBOOK = ROOT / "solutions" / "normalization_layers" / "normalization_layers.ipynb"
SOLUTION = {"torch": torch}
for _code in solution_code(NOTEBOOK).values():
    exec(_code, SOLUTION)  # noqa: S102 - the course's own reference code
layer_norm, group_norm = SOLUTION["layer_norm"], SOLUTION["group_norm"]
instance_norm, rms_norm = SOLUTION["instance_norm"], SOLUTION["rms_norm"]

CHECKS = {
    "layer_norm": (check_layer_norm, layer_norm, LAYER_NORM_VARIANTS),
    "group_norm": (check_group_norm, group_norm, GROUP_NORM_VARIANTS),
    "instance_norm": (check_instance_norm, instance_norm, INSTANCE_NORM_VARIANTS),
    "rms_norm": (check_rms_norm, rms_norm, RMS_NORM_VARIANTS),
}

# Arguments of the make_*_arguments builders, several shapes for each function.
CASES = {
    "layer_norm": [dict(), dict(shape=(3, 4, 5, 6), normalized_shape=(5, 6)), dict(shape=(7,)),
                   dict(shape=(7, 9), normalized_shape=9)],
    "group_norm": [dict(), dict(shape=(3, 8, 4, 4), num_groups=8), dict(shape=(3, 8, 4, 4), num_groups=1),
                   dict(shape=(5, 6), num_groups=2)],
    "instance_norm": [dict(), dict(shape=(2, 3, 4, 5), momentum=0.3), dict(shape=(2, 3, 4), running_stats=False),
                      dict(shape=(2, 3, 4, 5), use_input_stats=False), dict(shape=(5, 3), use_input_stats=False)],
    "rms_norm": [dict(), dict(shape=(3, 4, 5, 6), normalized_shape=(4, 5, 6)), dict(shape=(6,), eps=1e-5),
                 dict(shape=(6, 4), normalized_shape=4, eps=0.1)],
}


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_solutions_pass(name, dtype):
    check, solution, _ = CHECKS[name]
    for case in CASES[name]:
        check(solution, dtype=dtype, gradients=True, **case)
        check(solution, dtype=dtype, affine=False, **case)


SEED = np.array([[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[2, 3], [4, 2]]],
                 [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[1, 4], [1, 5]]]], dtype=np.float32)
TOKENS = torch.tensor(SEED.reshape(2, 3, -1).transpose(0, 2, 1).copy())  # (2, 4, 3)
GROUPS_SEED = torch.tensor(
    [[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[-2, 9], [7, 5]], [[2, 3], [4, 2]]],
     [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[4, 7], [-6, 4]], [[1, 4], [1, 5]]]],
    dtype=torch.float32,
)


def test_the_seed_examples_pass_and_print_the_seed_numbers():
    check_layer_norm(layer_norm, input=TOKENS, normalized_shape=3, affine=False)
    check_group_norm(group_norm, input=GROUPS_SEED, num_groups=2, affine=False)
    # The values the source article printed for nn.LayerNorm(3) and nn.GroupNorm(2, 4).
    assert torch.allclose(layer_norm(TOKENS, 3)[0, 1], torch.tensor([-1.3728, 0.9806, 0.3922]), atol=1e-4)
    assert torch.allclose(group_norm(GROUPS_SEED, 2)[0, 2, 0], torch.tensor([-1.8240, 1.6654]), atol=1e-4)


# Each planted mistake and a test of the notebook that must catch and name it.
CAUGHT_BY = {
    "layer_norm": {
        "the statistics are taken over axis 1": dict(input=TOKENS, normalized_shape=3, affine=False),
        "the statistics are taken over the batch": dict(input=TOKENS, normalized_shape=3, affine=False),
        "the statistics are taken over every axis but": dict(shape=(4, 5, 6)),
        "the statistics are taken over the last axis only": dict(shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=1),
        "the variance used to normalize is the unbiased one": dict(shape=(4, 5, 6)),
        "epsilon is added outside the square root": dict(shape=(4, 3, 6), eps=0.5, scale=0.3, seed=8),
        "the input is divided by the variance": dict(shape=(4, 5, 6)),
        "eps is left out": dict(shape=(4, 3, 6), eps=0.5, scale=0.3, seed=8),
    },
    "group_norm": {
        "the groups are made of interleaved channels": dict(input=GROUPS_SEED, num_groups=2, affine=False),
        "each channel is normalized on its own": dict(shape=(4, 6, 5), num_groups=3),
        "all the channels of a sample are normalized together": dict(shape=(4, 6, 5), num_groups=3),
        "the statistics of a group are taken over the batch too": dict(shape=(4, 6, 5), num_groups=3),
        "the variance used to normalize is the unbiased one": dict(shape=(4, 6, 5), num_groups=3),
        "epsilon is added outside the square root": dict(shape=(4, 6, 2), num_groups=3, eps=0.5, scale=0.3, seed=8),
        "the input is divided by the variance": dict(input=GROUPS_SEED, num_groups=2, affine=False),
        "eps is left out": dict(shape=(4, 6, 2), num_groups=3, eps=0.5, scale=0.3, seed=8),
    },
    "instance_norm": {
        "the statistics are taken over the batch too": dict(shape=(4, 3, 10), running_stats=False),
        "the statistics are taken over all the channels": dict(shape=(4, 3, 10), running_stats=False),
        "use_input_stats=False normalizes with the statistics": dict(use_input_stats=False, seed=2),
        "use_input_stats=False changes running_mean": dict(use_input_stats=False, seed=2),
        "running_mean and running_var are not updated in place": dict(momentum=0.3, seed=1),
        "running_var is updated with the biased variance": dict(momentum=0.3, seed=1),
        "running_var is updated with the variance of the whole batch": dict(momentum=0.3, seed=1),
        "the momentum convention is flipped": dict(momentum=0.3, seed=1),
        "the variance used to normalize is the unbiased one": dict(running_stats=False),
        "epsilon is added outside the square root": dict(running_stats=False),
        "the input is divided by the variance": dict(running_stats=False),
        "eps is left out": dict(shape=(4, 3, 5), eps=0.5, scale=0.3, seed=8),
    },
    "rms_norm": {
        "the mean is subtracted": dict(eps=1e-5),
        "the input is divided by its standard deviation": dict(eps=1e-5),
        "the input is divided by its L2 norm": dict(eps=1e-5),
        "the input is divided by the mean square": dict(eps=1e-5),
        "epsilon is added outside the square root": dict(eps=None, scale=1e-3, seed=1),
        "eps is left out": dict(eps=None, scale=1e-3, seed=1),
        "eps=None is taken as 1e-5": dict(eps=None, scale=1e-3, seed=1),
        "the root mean square is taken over the last axis only": dict(shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=2),
        "the root mean square is taken over every axis but": dict(eps=1e-5),
    },
}
ALL_VARIANTS = [(name, variant) for name, (_, _, variants) in CHECKS.items() for variant in variants]


@pytest.mark.parametrize("name, variant", ALL_VARIANTS, ids=lambda x: x if isinstance(x, str) else x.mistake[:40])
def test_each_wrong_variant_is_caught_and_named(name, variant):
    prefix = next(p for p in CAUGHT_BY[name] if variant.mistake.startswith(p))
    with pytest.raises(AssertionError) as raised:
        CHECKS[name][0](variant.function, **CAUGHT_BY[name][prefix])
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


def test_every_variant_has_a_catching_test():
    for name, variant in ALL_VARIANTS:
        assert sum(variant.mistake.startswith(p) for p in CAUGHT_BY[name]) == 1, variant.mistake


# --- errors ----------------------------------------------------------------------


def test_indivisible_channels_must_raise_runtime_error():
    check_group_norm_rejects_indivisible_channels(group_norm)
    with pytest.raises(AssertionError, match="not implemented yet"):  # NotImplementedError is a RuntimeError
        check_group_norm_rejects_indivisible_channels(lambda *args: exec("raise NotImplementedError()"))

    def slices(input, num_groups, weight=None, bias=None, eps=1e-5):  # drops the channels left over
        size = input.shape[1] // num_groups
        parts = [input[:, g * size:(g + 1) * size] for g in range(num_groups)]
        return torch.cat([(p - p.mean()) / p.std() for p in parts], dim=1)

    with pytest.raises(AssertionError, match="returned normally; expected it to raise RuntimeError"):
        check_group_norm_rejects_indivisible_channels(slices)

    def value_error(input, num_groups, *args):
        raise ValueError("channels not divisible")

    with pytest.raises(AssertionError, match="raised ValueError: channels not divisible; expected RuntimeError"):
        check_group_norm_rejects_indivisible_channels(value_error)


def test_a_single_position_must_raise_value_error():
    check_instance_norm_rejects_single_position(instance_norm)
    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError"):
        check_instance_norm_rejects_single_position(_instance_norm)


# --- what the harness catches for every function ------------------------------------------


@pytest.mark.parametrize("name, forbidden", [
    ("layer_norm", lambda x, s, w=None, b=None, eps=1e-5: F.layer_norm(x, (s,) if isinstance(s, int) else s, w, b, eps)),
    ("layer_norm", lambda x, s, w=None, b=None, eps=1e-5: torch.layer_norm(x, s, w, b, eps)),
    ("group_norm", F.group_norm),
    ("group_norm", lambda x, g, w=None, b=None, eps=1e-5: F.layer_norm(
        x.reshape(x.shape[0], g, -1), x.reshape(x.shape[0], g, -1).shape[-1:], eps=eps).reshape(x.shape)),
    ("instance_norm", F.instance_norm),
    ("instance_norm", lambda x, rm, rv, w=None, b=None, use=True, m=0.1, eps=1e-5: F.batch_norm(
        x.reshape(1, -1, *x.shape[2:]), None, None, training=True, eps=eps).reshape(x.shape)),
    ("rms_norm", lambda x, s, w=None, eps=None: F.rms_norm(x, (s,) if isinstance(s, int) else s, w, eps)),
])
def test_calling_pytorchs_normalization_is_refused(name, forbidden):
    with pytest.raises(AssertionError, match=r"it calls torch\.(nn\.functional\.)?\w+_norm; the exercise"):
        CHECKS[name][0](forbidden)


def numpy_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization computed in NumPy: right values on the CPU, no gradient, no GPU."""
    x = input.detach().cpu().numpy()
    out = torch.from_numpy((x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps))
    return out * weight.detach() + bias.detach()


def numpy_rms_norm(input, normalized_shape, weight=None, eps=None):
    x = input.detach().numpy()
    eps = np.finfo(x.dtype).eps if eps is None else eps
    return torch.from_numpy(x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps)) * weight


@pytest.mark.parametrize("check, student", [(check_layer_norm, numpy_layer_norm), (check_rms_norm, numpy_rms_norm)])
def test_numpy_conversions_are_caught_by_the_gradient_and_device_checks(check, student):
    check(student, devices=["cpu"])  # the values alone are right
    with pytest.raises(AssertionError, match="carries no gradient|the gradient with respect to input is missing"):
        check(student, gradients=True, devices=["cpu"])
    with pytest.raises(AssertionError, match=r"on a simulated GPU: it calls \.numpy\(\)"):
        check(student, devices=["cpu", SIMULATED_CUDA])


def test_the_devices_of_every_check_include_a_gpu():
    # Every check of the notebook runs on the CPU and on CUDA or its simulation.
    report = check_instance_norm(instance_norm)
    assert report.devices == ["cpu", "cuda" if torch.cuda.is_available() else SIMULATED_CUDA]


# --- PyTorch's own sample inputs ---------------------------------------------------------

OPINFO = Path(inspect.getfile(torch.testing)).parent / "_internal" / "common_methods_invocations.py"
OPINFO_SIZES = Path(inspect.getfile(torch.testing)).parent / "_internal" / "opinfo" / "core.py"


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def opinfo_cases(function: str):
    """The ``cases`` table of one OpInfo sample-input function, read from the installed PyTorch.

    The module cannot be imported without PyTorch's test dependencies, so its
    source is parsed; the size names (S = 5) come from the OpInfo core module.
    """
    sizes = {}
    for node in _parsed(OPINFO_SIZES).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
                sizes[node.targets[0].id] = node.value.value
    tree = next(n for n in _parsed(OPINFO).body
                if isinstance(n, ast.FunctionDef) and n.name == function)
    table = next(n.value for n in ast.walk(tree)
                 if isinstance(n, (ast.Assign, ast.AnnAssign))
                 and "cases" in [t.id for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                 if isinstance(t, ast.Name)])

    class Sizes(ast.NodeTransformer):
        def visit_Name(self, node):
            return ast.copy_location(ast.Constant(sizes[node.id]), node)

    return ast.literal_eval(Sizes().visit(table))


def layer_norm_samples(dtype, high=None, bias=True):
    """Samples as ``sample_inputs_layer_norm`` (and, without bias, ``sample_inputs_rms_norm``) build them."""
    make = functools.partial(make_tensor, device="cpu", dtype=dtype, high=high)
    for shape, normalized_shape, kwargs in opinfo_cases("sample_inputs_rms_norm" if not bias else "sample_inputs_layer_norm"):
        affine = (make(normalized_shape), make(normalized_shape)) if bias else (make(normalized_shape),)
        yield make(shape), normalized_shape, affine, kwargs
    yield make((1, 2)), (2,), (), {}


def compare(actual, expected):
    torch.testing.assert_close(actual, expected, equal_nan=True)


def same_as_torch(ours, theirs, args, kwargs=None, differentiable=(0,)):
    """Compare the outputs, the in-place updates and the gradients of ``ours`` and ``theirs``.

    ``differentiable`` names the arguments (positions or keywords) whose gradients are compared.
    """
    kwargs = kwargs or {}
    fresh = lambda key, v: v.detach().clone().requires_grad_(key in differentiable) if torch.is_tensor(v) else v  # noqa: E731
    results = []
    for function in (ours, theirs):
        a = [fresh(i, v) for i, v in enumerate(args)]
        k = {key: fresh(key, v) for key, v in kwargs.items()}
        output = function(*a, **k)
        wrt = [v for key, v in [*enumerate(a), *k.items()] if key in differentiable and torch.is_tensor(v)]
        grad_output = torch.randn(output.shape, generator=torch.Generator().manual_seed(0), dtype=output.dtype)
        grads = torch.autograd.grad(output, wrt, grad_output) if output.numel() else ()
        results.append((output, k, grads))
    (output, state, grads), (expected, expected_state, expected_grads) = results
    compare(output, expected)
    for key in ("running_mean", "running_var"):
        if state.get(key) is not None:
            compare(state[key], expected_state[key])
    for grad, expected_grad in zip(grads, expected_grads):
        # A sample with eps=1e-5 and a single value per row has gradient terms of
        # about 1/sqrt(eps) that cancel: in float32 PyTorch's fused backward leaves ~1e-4.
        tolerance = dict(rtol=1e-4, atol=1e-3) if grad.dtype == torch.float32 else {}
        torch.testing.assert_close(grad, expected_grad, equal_nan=True, **tolerance)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_norm_on_pytorchs_samples(dtype):
    torch.manual_seed(0)
    for input, normalized_shape, affine, kwargs in layer_norm_samples(dtype):
        same_as_torch(layer_norm, F.layer_norm, (input, normalized_shape, *affine), kwargs, (0, 2, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rms_norm_on_pytorchs_samples(dtype):
    torch.manual_seed(0)
    for input, normalized_shape, affine, kwargs in layer_norm_samples(dtype, high=1000, bias=False):
        same_as_torch(rms_norm, F.rms_norm, (input, normalized_shape, *affine), kwargs, (0, 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_group_norm_on_pytorchs_samples(dtype):
    torch.manual_seed(0)
    make = functools.partial(make_tensor, device="cpu", dtype=dtype)
    for shape, num_groups, kwargs in opinfo_cases("sample_inputs_group_norm"):
        channels = shape[1]
        for weight, bias in itertools.product([make(channels), None], [make(channels), None]):
            # PyTorch's own backward fails ("tensor does not have a device") for a bias
            # that requires grad without a weight: compare the input's gradient alone there.
            differentiable = (0,) if weight is None and bias is not None else (0, "weight", "bias")
            same_as_torch(group_norm, F.group_norm, (make(shape), num_groups),
                          dict(kwargs, weight=weight, bias=bias), differentiable)
    same_as_torch(group_norm, F.group_norm, (make((1, 2)), 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_instance_norm_on_pytorchs_samples(dtype):
    torch.manual_seed(0)
    make = functools.partial(make_tensor, device="cpu", dtype=dtype)
    samples = []
    for shape, kwargs in opinfo_cases("sample_inputs_instance_norm"):
        channels = shape[1]
        samples.append((make(shape), dict(weight=make(channels), bias=make(channels),
                                          running_mean=make(channels, low=0), running_var=make(channels, low=0),
                                          **kwargs)))
    # Then with a weight and no bias, with neither, and with no optional argument.
    for weight in (make(channels), None):
        samples.append((make(shape), dict(running_mean=make(channels, low=0), running_var=make(channels, low=0),
                                          weight=weight, bias=None)))
    samples.append((make((1, 2, 3)), {}))
    for input, kwargs in samples:
        same_as_torch(instance_norm, F.instance_norm, (input,), kwargs, (0, "weight", "bias"))
    # And without input statistics, which the OpInfo samples do not cover.
    for input, kwargs in samples[:-1]:
        same_as_torch(instance_norm, F.instance_norm, (input,), dict(kwargs, use_input_stats=False),
                      (0, "weight", "bias"))


def test_errors_match_pytorchs_error_inputs():
    # error_inputs_group_norm: too few axes, and channels not divisible by the groups.
    for input, groups in [(torch.randn(1), 1), (torch.randn(2, 7, 4), 2)]:
        with pytest.raises(RuntimeError):
            F.group_norm(input, groups)
        with pytest.raises(RuntimeError):
            group_norm(input, groups)
    # One value per group, or one position per channel, with input statistics.
    for call in (lambda f: f(torch.randn(1, 2), 2), lambda f: f(torch.randn(1, 3), 2)):
        for f in (F.group_norm, group_norm):
            with pytest.raises(ValueError):
                call(f)
    for input in (torch.randn(3, 4), torch.randn(3, 4, 1)):
        for f in (F.instance_norm, instance_norm):
            with pytest.raises(ValueError):
                f(input)
    with pytest.raises(RuntimeError):
        instance_norm(torch.randn(3, 4, 5), use_input_stats=False)


# --- where the solutions deliberately differ from torch.nn.functional -----------------------


def test_an_int_normalized_shape_is_accepted_as_nn_layernorm_does():
    x = torch.randn(4, 3)
    # F.layer_norm and F.rms_norm want a tuple; nn.LayerNorm(3) and nn.RMSNorm(3) take an int.
    with pytest.raises(TypeError):
        F.layer_norm(x, 3)
    with pytest.raises(TypeError):
        F.rms_norm(x, 3)
    compare(layer_norm(x, 3), F.layer_norm(x, (3,)))
    compare(rms_norm(x, 3), F.rms_norm(x, (3,)))


def test_half_precision_default_eps_differs():
    # For float16 and bfloat16, PyTorch computes in float32 and takes float32's epsilon;
    # the solution takes the epsilon of the input's dtype, as the exercise states.
    x = torch.full((2, 8), 1e-2, dtype=torch.float16)
    assert torch.finfo(torch.float16).eps > 1e-4 > torch.finfo(torch.float32).eps
    assert F.rms_norm(x, (8,))[0, 0].item() == pytest.approx(1.0, abs=1e-3)
    assert rms_norm(x, (8,))[0, 0].item() < 0.996


def test_mismatched_normalized_shape_is_not_validated():
    # PyTorch checks that normalized_shape matches the input's last sizes; the solution
    # leaves that out (its tests always pass matching shapes).
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.layer_norm(x, (3,))
    assert layer_norm(x, (3,)).shape == (3, 4)
