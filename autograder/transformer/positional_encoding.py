"""The sinusoidal positional encoding of Vaswani et al. (2017).

For position ``p`` and pair ``i`` of columns, ``PE[p, 2i] = sin(p / 10000^(2i/d_model))``
and ``PE[p, 2i+1] = cos(p / 10000^(2i/d_model))``. For an odd ``d_model`` the last
column is the sine of the last pair. PyTorch has no such function: the reference
is that formula, computed in float64.
"""

from __future__ import annotations

import torch

from ..core.mistakes import Mistake, by_position, catch, plant
from ..core.report import Report, entry
from ..core.spec import Operation

# --- the planted implementation ---


def _positional_encoding(length, d_model, dtype=torch.float32, *, columns="interleaved", exponent="2i",
                         frequency="divided", first_position=0):
    """The (length, d_model) encoding of Vaswani et al., whose keywords plant one mistake each.

    ``columns``: "interleaved" (sines in the even columns), "swapped" or "concatenated"
    (every sine first, then every cosine). ``exponent`` of 10000 for column j of pair
    i = j // 2, times d_model: "2i", "i", "2j" or "j". ``frequency``: the positions
    "divided" or "multiplied" by 10000^exponent. ``first_position``: 0, or 1.
    """
    position = torch.arange(length, dtype=torch.float64)[:, None] + first_position  # (L, 1)
    column = torch.arange(d_model, dtype=torch.float64)  # (D,): column j holds pair i = j // 2
    pair = torch.div(column, 2, rounding_mode="floor")
    if exponent == "i":
        power = pair / d_model
    elif exponent == "2j":  # the column index taken for the pair index
        power = 2 * column / d_model
    elif exponent == "j":  # right for the sines (j = 2i), wrong for the cosines (j = 2i + 1)
        power = column / d_model
    else:
        power = 2 * pair / d_model
    angle = position * 10000.0 ** power if frequency == "multiplied" else position / 10000.0 ** power  # (L, D)
    if columns == "concatenated":  # every pair's sine first, then every pair's cosine
        encoding = torch.cat([angle[:, 0::2].sin(), angle[:, 1::2].cos()], dim=1)
    else:
        sine = column % 2 == (1 if columns == "swapped" else 0)
        encoding = torch.where(sine, angle.sin(), angle.cos())
    return encoding.to(dtype)


# --- its mistakes ---

_FORMULA = "PE[p, 2i] = sin(p / 10000^(2i/d_model)) and PE[p, 2i+1] = cos(p / 10000^(2i/d_model))"
SIN_COS_SWAPPED = Mistake(
    "transformer.sin_cos_swapped",
    f"sine and cosine are swapped: the sines belong in the even columns and the cosines in the odd ones, {_FORMULA}.",
)
SIN_COS_CONCATENATED = Mistake(
    "transformer.sin_cos_concatenated",
    "the sines fill the first half of the columns and the cosines the second half. They are interleaved: "
    f"column 2i holds the sine of pair i and column 2i+1 its cosine, {_FORMULA}; e.g. "
    "pe[:, 0::2] = sin(...) and pe[:, 1::2] = cos(...).",
)
EXPONENT_WITHOUT_TWO = Mistake(
    "transformer.exponent_without_two",
    "the frequencies use 10000^(i/d_model); the exponent is 2i/d_model, so that the wavelengths reach "
    f"10000 * 2π at the last pair: {_FORMULA}.",
)
INDEX_NOT_HALVED = Mistake(
    "transformer.index_not_halved",
    "the exponent 2i/d_model is computed with the column index j for i. Columns 2i and 2i+1 are the pair "
    "i = j // 2 and share one frequency, 1 / 10000^(2i/d_model): take the exponent from torch.arange(0, "
    "d_model, 2) / d_model.",
)
EXPONENT_FROM_COLUMN = Mistake(
    "transformer.exponent_from_column",
    "the cosine in column 2i+1 gets its own frequency, 1 / 10000^((2i+1)/d_model): the exponent is taken from "
    "the column index. A sine and its cosine share the frequency of their pair, 1 / 10000^(2i/d_model).",
)
FREQUENCY_INVERTED = Mistake(
    "transformer.frequency_inverted",
    "the positions are multiplied by 10000^(2i/d_model) instead of divided by it. The frequencies are "
    "1 / 10000^(2i/d_model): 1 for the first pair, ever lower after it, so that the wavelengths grow from 2π "
    "to 10000 * 2π.",
)
POSITIONS_FROM_ONE = Mistake(
    "transformer.positions_from_one",
    "the positions are counted from 1: the first position is p = 0, whose encoding is 0 in the sine columns "
    "and 1 in the cosine columns; use torch.arange(length).",
)

_ENCODING_TEST = catch("check_sinusoidal_positional_encoding")
ENCODING_MISTAKES = (
    plant(by_position(_positional_encoding, columns="swapped"), SIN_COS_SWAPPED, _ENCODING_TEST),
    plant(by_position(_positional_encoding, columns="concatenated"), SIN_COS_CONCATENATED, _ENCODING_TEST),
    plant(by_position(_positional_encoding, exponent="i"), EXPONENT_WITHOUT_TWO, _ENCODING_TEST),
    plant(by_position(_positional_encoding, exponent="2j"), INDEX_NOT_HALVED, _ENCODING_TEST),
    plant(by_position(_positional_encoding, exponent="j"), EXPONENT_FROM_COLUMN, _ENCODING_TEST),
    plant(by_position(_positional_encoding, frequency="multiplied"), FREQUENCY_INVERTED, _ENCODING_TEST),
    plant(by_position(_positional_encoding, first_position=1), POSITIONS_FROM_ONE, _ENCODING_TEST),
)

# --- the spec ---


def make_encoding_arguments(length=6, d_model=8, dtype=torch.float32) -> dict:
    """The encoding's arguments: it takes no tensor."""
    return {"length": length, "d_model": d_model, "dtype": dtype}


POSITIONAL_ENCODING = Operation("sinusoidal_positional_encoding", _positional_encoding, make_encoding_arguments,
                                planted=ENCODING_MISTAKES)

# --- the check entries ---


@entry
def check_sinusoidal_positional_encoding(student, *, length=6, d_model=8, dtype=torch.float32) -> Report:
    """Compare ``student(length, d_model, dtype)`` with the encoding of Vaswani et al."""
    report = POSITIONAL_ENCODING.compare(student, devices=["cpu"], length=length, d_model=d_model, dtype=dtype)
    # Without a tensor argument there is no device to follow: the encoding is made on the CPU.
    report.notes.append("the encoding takes no tensor, so it is built on the CPU; move it with .to(x.device)")
    return report
