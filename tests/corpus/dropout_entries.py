"""Corpus: dropout as students write it, wrong and right (CS231n's keep convention, module-style code)."""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="dropout_normal_keep_mask",
        assignment="regularization",
        function="dropout",
        style="CS231n keep convention, torch",
        source='''
def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    keep = 1 - p
    mask = (torch.randn_like(input) < keep).to(input.dtype) / keep   # randn where rand was meant
    return input.mul_(mask) if inplace else input * mask
''',
        mistakes=("dropout.normal_keep_mask",),
    ),
    Entry(
        name="dropout_p_one_zeroes_the_input",
        assignment="regularization",
        function="dropout",
        style="function with early returns",
        source='''
def dropout(input, p=0.5, training=True, inplace=False):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training:
        return input
    if p == 1:
        return input.zero_()          # whatever inplace says
    mask = (torch.rand_like(input) >= p).to(input.dtype)
    if inplace:
        return input.mul_(mask).div_(1 - p)
    return input * mask / (1 - p)
''',
        mistakes=("dropout.zeroes_input_at_one",),
    ),
    Entry(
        name="dropout_bernoulli",
        assignment="regularization",
        function="dropout",
        style="bernoulli mask",
        source='''
def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    keep = torch.empty_like(input).bernoulli_(1.0 - p)
    factor = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input.mul_(keep).mul_(factor) if inplace else input * keep * factor
''',
        mistakes=(),
    ),
]
