"""PyTorch layers that cross the wire as themselves: their class, their constructor's arguments, their state.

A module of the checker's reaches the kernel as a mirror: by default a shell
that holds its parameters (enough for ``functional_call``). A function that
takes PyTorch's own layers (``fuse_conv_bn_eval(conv, bn)`` reads ``conv.stride``
and ``bn.eps``, and deep-copies ``conv``) needs the layer itself: the layers
listed here are described by their class and constructor arguments, and the
kernel builds the same layer and gives it the checker's tensors. Only these
classes are ever built from what crosses the wire.
"""

from __future__ import annotations

import torch
from torch import nn
from torch._subclasses.fake_tensor import unset_fake_temporarily

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
_BATCH_NORM = ("num_features", "eps", "momentum", "affine", "track_running_stats")
LAYERS: dict[str, tuple[type, tuple[str, ...]]] = {
    **{kind.__name__: (kind, _CONV) for kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d)},
    **{kind.__name__: (kind, _BATCH_NORM) for kind in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)},
}


def describe(module: nn.Module) -> dict | None:
    """``module``'s class, constructor arguments and mode as plain data; None for a class not listed."""
    listed = LAYERS.get(type(module).__name__)
    if listed is None or type(module) is not listed[0]:
        return None
    kind, names = listed
    config = {name: getattr(module, name) for name in names}
    if kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        config["bias"] = module.bias is not None
    return {"class": kind.__name__, "config": config, "training": bool(module.training)}


def build(layer: dict, state: dict) -> nn.Module:
    """The layer ``describe`` described, holding the tensors of ``state`` (their dtype and device kept)."""
    listed = LAYERS.get(layer.get("class")) if isinstance(layer, dict) else None
    config = layer.get("config") if listed else None
    if not isinstance(config, dict) or set(config) - {*listed[1], "bias"}:
        raise ValueError("a malformed layer")
    # No values drawn, no memory: every tensor comes from ``state``. Built outside a simulated GPU's
    # fake mode, which would refuse the meta tensors that a constructor initializes in place.
    with unset_fake_temporarily(), torch.device("meta"):
        module = listed[0](**config)
    module.load_state_dict(state, assign=True)
    return module.train(bool(layer.get("training")))
