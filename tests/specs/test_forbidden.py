"""A student's code may not hand the exercise's work to PyTorch, by any route.

Two guards: while the code runs, ``call_student`` refuses the forbidden Python
functions and the aten kernels behind them (``autograder.core.calling``); before
it runs, ``forbidden_in_source`` names the forbidden functions an answer's
source mentions (``autograder.core.forbidden``).
"""

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder import attention, batch_norm, batch_norm_backward, dropout, normalization_layers, registry
from autograder.core.calling import call_student
from autograder.core.devices import run_on_simulated_cuda
from autograder.core.forbidden import forbidden_in_source
from conftest import ROOT
from helpers import solution_code

BATCH_NORM = registry.spec("batch_norm").forbidden

aten = torch.ops.aten


def refusal(check, student, **arguments) -> str:
    """The message of ``check`` failing ``student``."""
    with pytest.raises(AssertionError) as raised:
        check(student, **arguments)
    return str(raised.value)


# --- while the code runs: every route to the kernel is refused ---------------------------


def bn_native(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return aten.native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)[0]


def bn_native_overload(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
    return aten.native_batch_norm.default(input, weight, bias, running_mean, running_var, training, momentum, eps)[0]


def bn_impl_index(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    # A public binding that no FORBIDDEN lists by name: only its kernel gives it away.
    return torch._batch_norm_impl_index(input, weight, bias, running_mean, running_var, training, momentum, eps,
                                        False)[0]


def bn_module(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    module = nn.BatchNorm2d(input.shape[1], eps=eps, momentum=momentum, affine=False)
    module.running_mean, module.running_var = running_mean, running_var
    module.train(training)
    output = module(input)
    return output * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def ln_native(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return aten.native_layer_norm(input, normalized_shape, weight, bias, eps)[0]


def rms_by_aten(input, normalized_shape, weight=None, eps=None):
    # On the CPU aten.rms_norm decomposes into elementary operations: refused by name.
    return aten.rms_norm(input, normalized_shape, weight, eps)


def softmin_of_minus(input, dim):
    return F.softmin(-input, dim)


def softmax_kernel(input, dim):
    return aten._softmax(input, dim, False)


def sdpa_cpu_kernel(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    return aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, is_causal, attn_mask=attn_mask,
                                                            scale=scale)[0]


def sdpa_math(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    # It decomposes into matrix products and a softmax: refused by name.
    return torch._scaled_dot_product_attention_math(query, key, value, attn_mask, 0.0, is_causal, scale=scale)[0]


def dropout_by_aten(input, p=0.5, training=True, inplace=False):
    return aten.dropout(input, p, training)


def dropout_kernel(input, p=0.5, training=True, inplace=False):
    return aten.native_dropout(input, p, training)[0]


def bn_backward_through_grad_fn(grad_output, input, weight, eps=1e-5):
    # No torch.autograd call: the graph's own backward node runs the kernel.
    leaf = input.detach().requires_grad_()
    w = weight.detach().requires_grad_()
    output = F.batch_norm(leaf, None, None, w, None, training=True, eps=eps)
    grad_input, grad_weight, grad_bias = output.grad_fn(grad_output)
    return grad_input, grad_weight, grad_output.sum([d for d in range(input.dim()) if d != 1])


EVASIONS = [
    (batch_norm.check_batch_norm, bn_native, "torch.ops.aten.native_batch_norm"),
    (batch_norm.check_batch_norm, bn_native_overload, "torch.ops.aten.native_batch_norm"),
    (batch_norm.check_batch_norm, bn_impl_index, "torch.ops.aten.native_batch_norm"),
    (batch_norm.check_batch_norm, bn_module, "torch.nn.functional.batch_norm"),
    (normalization_layers.check_layer_norm, ln_native, "torch.ops.aten.native_layer_norm"),
    (normalization_layers.check_rms_norm, rms_by_aten, "torch.ops.aten.rms_norm"),
    (attention.check_softmax, softmin_of_minus, "torch.nn.functional.softmin"),
    (attention.check_softmax, softmax_kernel, "torch.ops.aten._softmax"),
    (attention.check_scaled_dot_product_attention, sdpa_cpu_kernel,
     "torch.ops.aten._scaled_dot_product_flash_attention_for_cpu"),
    (attention.check_scaled_dot_product_attention, sdpa_math, "torch._scaled_dot_product_attention_math"),
    (dropout.check_dropout_scale, dropout_by_aten, "torch.ops.aten.dropout"),
    (dropout.check_dropout_scale, dropout_kernel, "torch.ops.aten.native_dropout"),
    (batch_norm_backward.check_batch_norm_backward, bn_backward_through_grad_fn,
     "torch.ops.aten.native_batch_norm_backward"),
]


@pytest.mark.parametrize("check, student, called", EVASIONS, ids=[e[1].__name__ for e in EVASIONS])
def test_a_route_around_the_forbidden_function_is_refused(check, student, called):
    message = refusal(check, student)
    assert f"it calls {called}; the exercise is to implement it with elementary tensor operations." in message


def test_the_fused_kernel_of_nn_multiheadattention_is_refused():
    # The kernel of the module's fast path, public under a name no FORBIDDEN lists.
    module = nn.MultiheadAttention(8, 2, batch_first=True)

    def self_attention(x):
        return torch._native_multi_head_attention(
            x, x, x, 8, 2, module.in_proj_weight, module.in_proj_bias, module.out_proj.weight, module.out_proj.bias,
        )[0]

    called = call_student(self_attention, (torch.randn(2, 5, 8),), where="test",
                          forbidden=registry.spec("scaled_dot_product_attention").forbidden)
    assert called.failure is not None
    assert "it calls torch.ops.aten._native_multi_head_attention;" in called.failure.summary


@pytest.mark.parametrize("check, student, arguments", [
    (batch_norm.check_batch_norm_rejects_single_value, F.batch_norm, {}),
    (normalization_layers.check_group_norm_rejects_indivisible_channels, F.group_norm, {}),
    (normalization_layers.check_instance_norm_rejects_single_position, F.instance_norm, {}),
    (dropout.check_dropout_rejects_p, F.dropout, {"p": 1.5}),
], ids=["batch_norm", "group_norm", "instance_norm", "dropout"])
def test_the_forbidden_function_does_not_pass_a_check_that_it_raises(check, student, arguments):
    # PyTorch's function raises the error the check expects, but it may not be called.
    message = refusal(check, student, **arguments)
    assert message.endswith(f"it calls torch.nn.functional.{student.__name__}; the exercise is to implement it with "
                            "elementary tensor operations.")


def test_the_building_blocks_of_a_dropout_are_allowed():
    def with_bernoulli(input, p=0.5, training=True, inplace=False):
        if not training or p == 0:
            return input
        mask = torch.empty_like(input).bernoulli_(1 - p)
        return input * mask / (1 - p)

    dropout.check_dropout_scale(with_bernoulli)
    dropout.check_dropout_fraction(with_bernoulli)


def test_attention_may_use_torch_softmax():
    def attention_with_softmax(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        scores = query @ key.transpose(-2, -1) * (scale or query.shape[-1] ** -0.5)
        if is_causal:
            causal = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
            scores = scores.masked_fill(~causal, float("-inf"))
        if attn_mask is not None:
            boolean = attn_mask.dtype == torch.bool
            scores = scores.masked_fill(~attn_mask, float("-inf")) if boolean else scores + attn_mask
        return torch.softmax(scores, dim=-1) @ value

    attention.check_scaled_dot_product_attention(attention_with_softmax, gradients=True)
    attention.check_scaled_dot_product_attention(attention_with_softmax, is_causal=True)


def test_a_kernel_reached_only_on_a_gpu_is_refused_on_the_simulated_gpu():
    # On the CPU F.dropout decomposes into bernoulli_ and arithmetic; on CUDA it reaches aten.native_dropout.
    kernels_only = {key: name for key, name in registry.spec("dropout").forbidden.items()
                    if isinstance(key, torch._ops.OpOverloadPacket)}
    run = run_on_simulated_cuda(lambda x: F.dropout(x, 0.5), [torch.randn(4, 5)], forbidden=kernels_only)
    assert run.problem == ("it calls torch.ops.aten.native_dropout; the exercise is to implement it with "
                           "elementary tensor operations.")
    honest = run_on_simulated_cuda(lambda x: x * (torch.rand_like(x) > 0.5) / 0.5, [torch.randn(4, 5)],
                                   forbidden=registry.spec("dropout").forbidden)
    assert honest.problem is None and honest.inconclusive is None and honest.result.device.type == "cuda"


# --- before the code runs: the answer's source -------------------------------------------


def answer(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


SOURCE_EVASIONS = [
    (BATCH_NORM, """
        import torch
        def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
            return torch.ops.aten.native_batch_norm(
                input, weight, bias, running_mean, running_var, training, momentum, eps)[0]
        """, ["torch.ops.aten.native_batch_norm"]),
    (BATCH_NORM, "batch_norm = lambda *a: torch.ops.aten.native_batch_norm.default(*a)[0]\n",
     ["torch.ops.aten.native_batch_norm"]),
    (BATCH_NORM, """
        import torch.nn.functional as functional
        def batch_norm(*args, **kwargs):
            return functional.batch_norm(*args, **kwargs)
        """, ["torch.nn.functional.batch_norm"]),
    (BATCH_NORM, "from torch.nn.functional import batch_norm as bn\nbatch_norm = bn\n",
     ["torch.nn.functional.batch_norm"]),
    (BATCH_NORM, "import torch\nbatch_norm = getattr(torch.nn.functional, 'batch_norm')\n",
     ["torch.nn.functional.batch_norm"]),
    (BATCH_NORM, "import torch\nbatch_norm = vars(torch.nn.functional)['batch_norm']\n",
     ["torch.nn.functional.batch_norm"]),
    (BATCH_NORM, "from torch.nn.functional import *\n", ["torch.nn.functional.batch_norm"]),
    (BATCH_NORM, """
        from torch import nn
        def batch_norm(input, running_mean, running_var, *args, **kwargs):
            return nn.BatchNorm2d(input.shape[1])(input)
        """, ["torch.nn.BatchNorm2d"]),
    (BATCH_NORM, """
        import torch._decomp
        def batch_norm(*args):
            return torch._decomp.decomposition_table[key](*args)
        """, ["torch._decomp (PyTorch's own implementations of its operators)"]),
    (registry.spec("layer_norm").forbidden, "def layer_norm(x, shape, w=None, b=None, eps=1e-5):\n"
     "    return torch.layer_norm(x, shape, w, b, eps)\n", ["torch.nn.functional.layer_norm"]),
    (registry.spec("layer_norm").forbidden, "def rms_norm(x, shape, w=None, eps=None):\n    return nn.RMSNorm(shape)(x)\n",
     ["torch.nn.RMSNorm"]),
    (registry.spec("softmax").forbidden, "def softmax(input, dim):\n    return input.softmax(dim)\n",
     ["torch.softmax"]),
    (registry.spec("softmax").forbidden, "def softmax(input, dim):\n    return nn.Softmax(dim)(input)\n",
     ["torch.nn.Softmax"]),
    (registry.spec("scaled_dot_product_attention").forbidden, "sdpa = F.scaled_dot_product_attention\n",
     ["torch.nn.functional.scaled_dot_product_attention"]),
    (registry.spec("dropout").forbidden, "def dropout(x, p=0.5, training=True, inplace=False):\n    return nn.Dropout(p)(x)\n",
     ["torch.nn.Dropout"]),
    (registry.spec("batch_norm_backward").forbidden, """
        def batch_norm_backward(grad_output, input, weight, eps=1e-5):
            x = input.detach().requires_grad_()
            out = F.batch_norm(x, None, None, weight, None, training=True, eps=eps)
            out.backward(grad_output)
            return x.grad, None, None
        """, ["autograd (Tensor.backward)", "autograd (torch.autograd.grad)"]),
]


@pytest.mark.parametrize("forbidden, source, found", SOURCE_EVASIONS)
def test_an_answer_that_names_a_forbidden_function_is_found(forbidden, source, found):
    assert forbidden_in_source(answer(source), forbidden) == found


OWN_CODE = [
    # The student's own function of the same name, defined and called by its bare name.
    (BATCH_NORM, """
        def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
            \"\"\"Batch normalization like ``torch.nn.functional.batch_norm``, from elementary operations.\"\"\"
            mean = input.mean(0)  # F.batch_norm would do this in one call
            return (input - mean) / torch.sqrt(input.var(0, unbiased=False) + eps)

        output = batch_norm(x, None, None)
        """),
    # An answer to a question may be the name of a function, as a string.
    (registry.spec("layer_norm").forbidden, 'one_group_equals = "layer_norm"\n'),
    # The student's own attributes: a model of their making.
    (registry.spec("dropout").forbidden, """
        class Block(torch.nn.Module):
            def __init__(self, p):
                super().__init__()
                self.dropout = p
            def forward(self, x):
                return dropout(x, self.dropout)
        """),
    # A message that mentions the function, in prose.
    (registry.spec("softmax").forbidden, 'raise ValueError("use softmax, not torch.softmax, here")\n'),
    # The building blocks of dropout and of attention.
    (registry.spec("dropout").forbidden, "mask = torch.empty_like(x).bernoulli_(1 - p)\nkept = torch.rand_like(x) > p\n"),
    (registry.spec("scaled_dot_product_attention").forbidden, "weights = torch.softmax(scores.masked_fill(mask, float('-inf')), dim=-1)\n"),
    # A Transformer block may use nn.MultiheadAttention: the attention exercise forbids its functional parts only.
    (registry.spec("scaled_dot_product_attention").forbidden, "attention = nn.MultiheadAttention(8, 2, batch_first=True)\n"),
    # Replacing PyTorch's function calls nothing: the checks' references were taken before it ran.
    (BATCH_NORM, "F.batch_norm = lambda input, *args, **kwargs: input.clone()\ndel torch.batch_norm\n"),
]


@pytest.mark.parametrize("forbidden, source", OWN_CODE)
def test_the_student_s_own_code_is_not_a_finding(forbidden, source):
    assert forbidden_in_source(answer(source), forbidden) == []


def test_source_that_does_not_parse_has_no_finding():
    assert forbidden_in_source("def batch_norm(:\n    return F.batch_norm(x)\n", BATCH_NORM) == []
    assert forbidden_in_source("x = 1\0", BATCH_NORM) == []


def test_a_name_built_at_run_time_evades_the_source_check_but_not_the_kernel_check():
    source = answer("""
        import torch
        def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
            kernel = getattr(torch.ops.aten, "native_" + "batch" + "_norm")
            return kernel(input, weight, bias, running_mean, running_var, training, momentum, eps)[0]
        """)
    assert forbidden_in_source(source, BATCH_NORM) == []
    namespace = {}
    exec(source, namespace)  # noqa: S102 - the test's own snippet
    assert "it calls torch.ops.aten.native_batch_norm;" in refusal(batch_norm.check_batch_norm, namespace["batch_norm"])


# The forbidden functions of each assignment's specs, as the registry declares them.
MAPPINGS = {a.name: [spec.forbidden for spec in registry.specs(a).values() if spec.forbidden]
            for a in registry.ASSIGNMENTS}


def test_every_map_of_forbidden_functions_is_named_after_its_spec_or_package():
    for assignment in registry.ASSIGNMENTS:
        for name, spec in registry.specs(assignment).items():
            assert spec.forbidden.name in (name, *assignment.packages, "nothing"), (name, spec.forbidden)


@pytest.mark.parametrize("assignment", MAPPINGS)
def test_no_answer_of_a_solution_notebook_is_a_finding(assignment):
    answers = solution_code(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    assert answers
    for grade_id, source in answers.items():
        for forbidden in MAPPINGS[assignment]:
            assert forbidden_in_source(source, forbidden) == [], grade_id
