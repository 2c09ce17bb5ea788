"""The checks of fuse_conv_bn_eval: correct answers pass, what a caller relies on is checked, mistakes are named.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.batch_norm_fusion``.
"""

import copy

import pytest
import torch
from torch import nn

from autograder.batch_norm_fusion import (
    MISTAKES, check_fuse_conv_bn_eval, check_fuse_conv_bn_eval_rejects_training, layers,
)
from autograder.batch_norm_fusion.checks import make_arguments
from autograder.core.devices import SIMULATED_CUDA, available_devices
from autograder.checker import layers as wire_layers
from autograder.core.failure import CheckFailed, named_mistake
from conftest import ROOT
from helpers import solution_namespace

NOTEBOOK = ROOT / "solutions" / "batch_norm_fusion" / "batch_norm_fusion.ipynb"
correct = solution_namespace(NOTEBOOK)["fuse_conv_bn_eval"]


def words(mistake_id):
    return next(p.words for p in MISTAKES if p.mistake.id == mistake_id)


def failure(check, student, **arguments) -> str:
    with pytest.raises(CheckFailed) as raised:
        check(student, **arguments)
    return str(raised.value)


def by_functional_conv(conv, bn):
    """Another correct answer: the folded convolution built anew from its settings, not copied."""
    assert not (conv.training or bn.training)
    std = (bn.running_var + bn.eps).rsqrt()
    scale = std if bn.weight is None else bn.weight * std
    shift = -bn.running_mean * scale + (0 if bn.bias is None else bn.bias)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    fused = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                       device=conv.weight.device, dtype=conv.weight.dtype).eval()
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.view(-1, *[1] * (conv.weight.dim() - 1)))
        fused.bias.copy_(bias)
    return fused


@pytest.mark.parametrize("answer", [correct, by_functional_conv], ids=["solution", "built_anew"])
@pytest.mark.parametrize("arguments", [
    dict(), dict(bias=False), dict(dtype=torch.float64), dict(shape=(2, 3, 9), stride=2),
    dict(shape=(1, 2, 3, 3, 3), out_channels=3, kernel_size=1, padding=0), dict(groups=3, out_channels=6),
    dict(affine=False, bias=False), dict(eps=0.1),
], ids=["conv2d", "no_bias", "float64", "conv1d", "conv3d", "groups", "no_affine", "large_eps"])
def test_a_correct_fusion_passes(answer, arguments):
    report = check_fuse_conv_bn_eval(answer, **arguments)
    assert report.devices == available_devices()
    assert report.call.startswith("fuse_conv_bn_eval(input:")


def test_the_layers_a_check_builds_hold_its_tensors_and_compute_as_pytorch_s():
    arguments = make_arguments(shape=(2, 3, 5, 5), out_channels=4, bias=False, training=True)
    conv, bn = layers(*list(arguments.values())[1:])
    assert isinstance(conv, nn.Conv2d) and conv.bias is None and not conv.training
    assert isinstance(bn, nn.BatchNorm2d) and bn.training and bn.eps == 1e-5
    assert conv.weight.data_ptr() == arguments["conv.weight"].data_ptr()
    assert bn.running_var.data_ptr() == arguments["bn.running_var"].data_ptr()
    expected = torch.nn.functional.conv2d(arguments["input"], arguments["conv.weight"], padding=1)
    assert torch.equal(conv(arguments["input"]), expected)


def test_a_fusion_that_changes_the_given_convolution_fails_even_by_replacing_its_parameter():
    def replaces(conv, bn):
        fused = correct(conv, bn)
        conv.weight = nn.Parameter(fused.weight.detach().clone())  # the caller's model now holds the fused weight
        return fused

    message = failure(check_fuse_conv_bn_eval, replaces)
    assert "conv.weight after the call" in message


def test_a_fusion_that_changes_the_batch_norm_fails():
    def resets(conv, bn):
        fused = correct(conv, bn)
        bn.reset_running_stats()
        return fused

    message = failure(check_fuse_conv_bn_eval, resets)
    assert "bn.running_mean after the call" in message and "bn.running_var after the call" in message


def test_a_fused_convolution_returned_in_training_mode_still_computes_the_same():
    """The fused layer's mode is not the check's business: a convolution computes the same in both."""
    report = check_fuse_conv_bn_eval(lambda conv, bn: correct(conv, bn).train())
    assert report.devices == available_devices()


def test_a_fusion_that_raises_for_every_convolution_is_not_called_a_missing_bias_mistake():
    def broken(conv, bn):
        raise TypeError("unsupported operand")

    message = failure(check_fuse_conv_bn_eval, broken, bias=False)
    assert "it raised TypeError: unsupported operand" in message
    assert named_mistake(message) is None


def test_the_missing_bias_mistake_quotes_what_the_code_raised():
    def bias_required(conv, bn):
        assert not (conv.training or bn.training)
        fused = correct(conv, bn)
        fused.bias = nn.Parameter((conv.bias - bn.running_mean).detach())  # TypeError for None
        return fused

    message = failure(check_fuse_conv_bn_eval, bias_required, bias=False)
    assert "for a convolution without bias" in message
    assert named_mistake(message) == words("batch_norm_fusion.missing_bias_is_an_error")


def test_training_mode_is_refused_and_accepting_it_is_named():
    # Raising depends on the layers' settings alone: the simulated GPU leaves it to the CPU run.
    real = [device for device in available_devices() if device != SIMULATED_CUDA]
    assert check_fuse_conv_bn_eval_rejects_training(correct).devices == real

    def accepts(conv, bn):
        return correct(copy.deepcopy(conv).eval(), copy.deepcopy(bn).eval())

    message = failure(check_fuse_conv_bn_eval_rejects_training, accepts)
    assert "expected it to raise AssertionError for a BatchNorm in training mode" in message
    assert named_mistake(message) == words("batch_norm_fusion.fuses_training_mode")


def test_an_unfinished_answer_fails_as_not_implemented():
    def blank(conv, bn):
        raise NotImplementedError()

    assert "not implemented yet" in failure(check_fuse_conv_bn_eval, blank, bias=False)
    assert "not implemented yet" in failure(check_fuse_conv_bn_eval_rejects_training, blank)


@pytest.mark.parametrize("module", [
    nn.Conv1d(3, 4, 3, stride=2, bias=False), nn.Conv2d(4, 6, (3, 1), padding="same", groups=2),
    nn.Conv3d(2, 2, 1, dilation=2, padding_mode="reflect"), nn.BatchNorm2d(5, eps=0.1, momentum=None),
    nn.BatchNorm1d(3, affine=False).eval(),
], ids=["conv1d", "conv2d", "conv3d", "batch_norm2d", "batch_norm1d"])
def test_a_pytorch_layer_crosses_the_wire_as_itself(module):
    """The kernel rebuilds the checker's layer: same class, settings, mode and tensors."""
    layer = wire_layers.describe(module)
    rebuilt = wire_layers.build(layer, {k: v.detach().clone() for k, v in module.state_dict().items()})
    assert type(rebuilt) is type(module) and rebuilt.training == module.training
    assert repr(rebuilt) == repr(module)
    for key, value in module.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value)


def test_a_module_of_another_class_is_not_built_from_the_wire():
    assert wire_layers.describe(nn.Linear(2, 3)) is None
    with pytest.raises(ValueError):
        wire_layers.build({"class": "Linear", "config": {"in_features": 2}}, {})
    with pytest.raises(ValueError):
        wire_layers.build({"class": "Conv2d", "config": {"in_channels": 1, "device": "cuda"}}, {})


@pytest.mark.parametrize("source, found", [
    ("from torch.nn.utils.fusion import fuse_conv_bn_eval as fuse\n", "torch.nn.utils.fusion.fuse_conv_bn_eval"),
    ("def fuse_conv_bn_eval(conv, bn):\n    w, b = torch.nn.utils.fusion.fuse_conv_bn_weights(*args)\n",
     "torch.nn.utils.fusion.fuse_conv_bn_weights"),
    ("def fuse_conv_bn_eval(conv, bn):\n    return torch.ao.quantization.fuse_modules(model, [['0', '1']])\n",
     "torch.ao.quantization.fuse_modules"),
])
def test_an_answer_that_hands_the_fusion_to_pytorch_is_found_in_its_source(source, found):
    """PyTorch's fusion utilities are Python functions, which no torch function mode sees: the source check finds them."""
    from autograder.batch_norm_fusion import FUSE_CONV_BN_EVAL
    from autograder.core.forbidden import forbidden_in_source

    assert forbidden_in_source(source, FUSE_CONV_BN_EVAL.forbidden) == [found]
    assert forbidden_in_source(solution_code_of_the_notebook(), FUSE_CONV_BN_EVAL.forbidden) == []


def solution_code_of_the_notebook() -> str:
    from helpers import solution_code

    return "\n".join(solution_code(NOTEBOOK).values())


def test_a_scale_made_on_the_cpu_is_caught_on_the_simulated_gpu():
    # The fusion's copy of the convolution is on the GPU; a scale built with torch.ones is on the CPU.
    def on_the_cpu(conv, bn):
        fused = correct(conv, bn)
        with torch.no_grad():
            fused.weight.mul_(torch.ones(fused.weight.shape[0], 1, 1, 1))
        return fused

    message = failure(check_fuse_conv_bn_eval, on_the_cpu, devices=["cpu", SIMULATED_CUDA])
    assert "fake CUDA tensors" in message and "mixes devices" in message
