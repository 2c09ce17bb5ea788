"""The dropout operation, declared: its reference, its seeded inputs, what it must refuse, what may not be called."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.calling import aten
from ..core.forbidden import Forbidden
from ..core.spec import ErrorInput, Operation
from .planted import MISTAKES

# --- the spec ------------------------------------------------------------------------------

INPUT_SEED_OFFSET = 1_000_003


def make_input(shape=(64, 50), *, dtype=torch.float32, seed=0, positive=False) -> torch.Tensor:
    """A seeded input with no zero, so that an output element is 0 only if it was dropped.

    ``positive`` draws values in [1, 2) (for the statistics of the mean);
    otherwise values of both signs with |x| >= 0.1.
    """
    # The checks seed the mask with torch.manual_seed(seed). Drawing the input from
    # the same seed would correlate it with the mask (the same uniform numbers),
    # and bias the statistics: the input's stream starts elsewhere.
    generator = torch.Generator().manual_seed(INPUT_SEED_OFFSET + seed)
    if positive:
        values = 1 + torch.rand(shape, generator=generator, dtype=torch.float64)
    else:
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
        values = values + 0.1 * torch.where(values >= 0, 1.0, -1.0)
    return values.to(dtype)


def make_arguments(shape=(4, 5), *, p=0.5, training=True, dtype=torch.float32, seed=0) -> dict:
    """The positional arguments of a call, by name: a seeded input, ``p`` and ``training``."""
    return {"input": make_input(shape, dtype=dtype, seed=seed), "p": p, "training": training}


DROPOUT = Operation(
    name="dropout",
    reference=F.dropout,
    make_arguments=make_arguments,
    # Calling PyTorch's own dropout would pass every test.
    # On the CPU, F.dropout decomposes into bernoulli_ and arithmetic, which a student's own
    # dropout may use as well: there it is refused by name only. On a GPU it reaches the kernels.
    forbidden=Forbidden("dropout", {
        F.dropout: "torch.nn.functional.dropout",
        torch.dropout: "torch.dropout",
        torch.dropout_: "torch.dropout_",
        torch.native_dropout: "torch.native_dropout",
        **aten("dropout", "dropout_", "native_dropout", "_fused_dropout"),
        # Refused at run time through F.dropout, named here for the check of an answer's source.
        torch.nn.Dropout: "torch.nn.Dropout",
    }),
    planted=MISTAKES,
    # PyTorch's message: "dropout probability has to be between 0 and 1, but got 1.5".
    error_inputs=(ErrorInput({"p": 1.5}, ValueError, "for a dropout probability outside [0, 1]"),),
)
