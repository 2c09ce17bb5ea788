"""The normalization-layer checks: a correct implementation passes on every device; wrong ones are refused.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.normalization_layers``.
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

from autograder.core.devices import SIMULATED_CUDA, available_devices
from autograder.core.failure import CheckFailed, named_mistake, named_mistakes
from autograder.core import mistakes as shared_mistakes
from autograder.core.mistakes import EPS_OUTSIDE_SQRT
from autograder.normalization_layers import (
    FORBIDDEN,
    MISTAKES,
    SPECS,
    STD_PLUS_EPS,
    check_group_norm,
    check_group_norm_rejects_indivisible_channels,
    check_instance_norm,
    check_instance_norm_rejects_single_position,
    check_layer_norm,
    check_rms_norm,
)
from conftest import ROOT

# Layer normalization's unbiased variance, in the words the layer_norm spec plants it with.
LAYER_NORM_UNBIASED = shared_mistakes.UNBIASED_VARIANCE(operation="Layer normalization", code="x.var(dim, unbiased=False)")
from helpers import solution_namespace

NOTEBOOK = ROOT / "solutions" / "normalization_layers" / "normalization_layers.ipynb"
SOLUTION = solution_namespace(NOTEBOOK)  # the course's own answers, not the checks' references
layer_norm, group_norm = SOLUTION["layer_norm"], SOLUTION["group_norm"]
instance_norm, rms_norm = SOLUTION["instance_norm"], SOLUTION["rms_norm"]

CHECKS = {
    "layer_norm": (check_layer_norm, layer_norm),
    "group_norm": (check_group_norm, group_norm),
    "instance_norm": (check_instance_norm, instance_norm),
    "rms_norm": (check_rms_norm, rms_norm),
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
def test_the_solutions_pass_on_every_device(name, dtype):
    check, solution = CHECKS[name]
    for case in CASES[name]:
        report = check(solution, dtype=dtype, gradients=True, **case)
        assert report.devices == available_devices() and report.notes == []
        assert report.call.startswith(f"{name}(input: ") and str(dtype)[6:] in report.call
        assert check(solution, dtype=dtype, affine=False, **case).devices == available_devices()


SEED = np.array([[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[2, 3], [4, 2]]],
                 [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[1, 4], [1, 5]]]], dtype=np.float32)
TOKENS = torch.tensor(SEED.reshape(2, 3, -1).transpose(0, 2, 1).copy())  # (2, 4, 3)
GROUPS_SEED = torch.tensor(
    [[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[-2, 9], [7, 5]], [[2, 3], [4, 2]]],
     [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[4, 7], [-6, 4]], [[1, 4], [1, 5]]]],
    dtype=torch.float32,
)


def test_the_seed_examples_pass_and_print_the_seed_numbers():
    report = check_layer_norm(layer_norm, input=TOKENS, normalized_shape=3, affine=False)
    assert "input: (2, 4, 3) float32, normalized_shape=3" in report.call
    report = check_group_norm(group_norm, input=GROUPS_SEED, num_groups=2, affine=False)
    assert "input: (2, 4, 2, 2) float32, num_groups=2" in report.call and report.devices == available_devices()
    # The values the source article printed for nn.LayerNorm(3) and nn.GroupNorm(2, 4).
    assert torch.allclose(layer_norm(TOKENS, 3)[0, 1], torch.tensor([-1.3728, 0.9806, 0.3922]), atol=1e-4)
    assert torch.allclose(group_norm(GROUPS_SEED, 2)[0, 2, 0], torch.tensor([-1.8240, 1.6654]), atol=1e-4)


# --- what a student who got it wrong reads ---------------------------------------------


def annotated_transformer_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The LayerNorm of a widely copied tutorial: torch's unbiased std, and eps outside the root."""
    mean = input.mean(-1, keepdim=True)
    std = input.std(-1, keepdim=True)
    return weight * (input - mean) / (std + eps) + bias


def test_a_widely_copied_wrong_layer_norm_is_named_with_each_of_its_two_mistakes():
    # Each mistake is named, then whose convention the two together are.
    for arguments in (dict(shape=(4, 5, 6)), dict(shape=(4, 3, 6), eps=0.5, scale=0.3, seed=8)):
        with pytest.raises(CheckFailed) as raised:
            check_layer_norm(annotated_transformer_layer_norm, **arguments)
        assert named_mistakes(str(raised.value)) == [LAYER_NORM_UNBIASED.words, EPS_OUTSIDE_SQRT.words,
                                                     STD_PLUS_EPS.words]


def test_eps_outside_the_root_is_named_in_the_words_shared_by_every_normalization():
    def eps_outside(input, num_groups, weight=None, bias=None, eps=1e-5):
        x = input.reshape(input.shape[0], num_groups, -1)
        x = (x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True).sqrt() + eps)
        return x.reshape(input.shape) * weight[:, None] + bias[:, None]

    with pytest.raises(CheckFailed) as raised:
        check_group_norm(eps_outside, shape=(4, 6, 2), num_groups=3, eps=0.5, scale=0.3, seed=8)
    assert named_mistake(str(raised.value)) == EPS_OUTSIDE_SQRT.words


def test_a_wrong_output_that_matches_no_mistake_gets_a_hint():
    def scaled(input, normalized_shape, weight=None, eps=None):
        return 2 ** 0.5 * rms_norm(input, normalized_shape, weight, eps)

    with pytest.raises(CheckFailed) as raised:
        check_rms_norm(scaled, eps=1e-5)
    message = str(raised.value)
    assert named_mistake(message) is None
    assert "Hint: the output is off by a constant factor of 1.41 ≈ √2." in message


def test_each_spec_is_named_after_the_student_s_function_and_forbids_the_exercise_s_functions():
    # Any of the four normalizations computes the others, so each spec forbids them all.
    assert [spec.name for spec in SPECS] == list(CHECKS)
    assert all(spec.forbidden is FORBIDDEN for spec in SPECS) and FORBIDDEN.name == "normalization_layers"


def test_every_check_of_the_exercise_catches_some_planted_mistake():
    # The catalog covers each of the four operations, not one of them.
    checks = {catch.check for planted in MISTAKES for catch in planted.caught_by}
    assert checks == {"check_layer_norm", "check_group_norm", "check_instance_norm", "check_rms_norm"}


# --- errors ----------------------------------------------------------------------


def test_indivisible_channels_must_raise_runtime_error():
    report = check_group_norm_rejects_indivisible_channels(group_norm)
    # Raising depends on shapes alone: a simulated GPU adds nothing, a real one is tried.
    assert report.devices == [d for d in available_devices() if d != SIMULATED_CUDA]
    assert "input: (2, 7, 4) float32, num_groups=2" in report.call
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
    report = check_instance_norm_rejects_single_position(instance_norm)
    assert report.devices == [d for d in available_devices() if d != SIMULATED_CUDA]

    def unchecked(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
        dims = tuple(range(2, input.dim()))
        return (input - input.mean(dims, keepdim=True)) / (input.var(dims, keepdim=True, unbiased=False) + eps).sqrt()

    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError with use_input_stats"):
        check_instance_norm_rejects_single_position(unchecked)


# --- what the checks catch for every function ------------------------------------------


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
    assert check(student, devices=["cpu"]).devices == ["cpu"]  # the values alone are right
    with pytest.raises(AssertionError, match="carries no gradient|the gradient with respect to input is missing"):
        check(student, gradients=True, devices=["cpu"])
    with pytest.raises(AssertionError, match=r"on a simulated GPU: it calls \.numpy\(\)"):
        check(student, devices=["cpu", SIMULATED_CUDA])


def test_the_devices_of_every_check_include_a_gpu():
    # Every check of the notebook runs on the CPU and on CUDA or its simulation.
    report = check_instance_norm(instance_norm)
    assert report.notes == []
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


def test_the_module_s_own_mistakes_carry_its_name():
    # A class report counts mistakes by id across exercises: a local id must not collide with another's.
    shared = {m.id for m in vars(shared_mistakes).values() if isinstance(m, shared_mistakes.Mistake)}
    local = {p.mistake.id for p in MISTAKES} - shared
    assert local and all(i.startswith("normalization_layers.") for i in local), sorted(local)


def test_rms_norm_s_formula_mistakes_are_the_shared_ones_in_its_own_words():
    # One id per mistake across the course, and words that never tell an RMSNorm student to subtract the mean.
    from autograder.normalization_layers import RMS_NORM

    words = {p.mistake.id: p.words for p in RMS_NORM.planted}
    assert words["eps_outside_sqrt"] == "epsilon is added outside the square root. Use x / sqrt(mean(x²) + eps)."
    assert words["no_sqrt"].startswith("the input is divided by the mean square, not by its square root")
    assert words["no_eps"].startswith("eps is left out. Add it to the mean square inside the square root")
    assert not any("x - mean" in words[i] for i in ("eps_outside_sqrt", "no_sqrt", "no_eps"))
