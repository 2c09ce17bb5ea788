"""Corpus: softmax and scaled dot-product attention as students write them, wrong and right.

Written for the course in the styles real code uses (CS336-style functions, the Annotated
Transformer's masking); each wrong entry lists the mistakes the checks must name.
"""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="softmax_max_subtracted_in_place",
        assignment="attention",
        function="softmax",
        style="CS336-style function",
        source='''
def softmax(x, dim):
    x -= torch.max(x, dim=dim, keepdim=True).values   # stable, but in the caller's tensor
    e = torch.exp(x)
    return e / torch.sum(e, dim=dim, keepdim=True)
''',
        mistakes=("attention.softmax_modifies_input",),
    ),
    Entry(
        name="softmax_without_the_maximum",
        assignment="attention",
        function="softmax",
        style="CS336-style function",
        source='''
def softmax(in_features, dim):
    exps = in_features.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
''',
        mistakes=("unstable_softmax",),
    ),
    Entry(
        name="softmax_through_logsumexp",
        assignment="attention",
        function="softmax",
        style="log-space function",
        source='''
def softmax(input, dim):
    return torch.exp(input - torch.logsumexp(input, dim=dim, keepdim=True))
''',
        mistakes=(),
    ),
    Entry(
        name="attention_minus_1e9_annotated_transformer",
        assignment="attention",
        function="scaled_dot_product_attention",
        style="Annotated Transformer copy",
        source='''
def softmax(x, dim):
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    d_k = query.size(-1)
    factor = scale if scale is not None else 1 / math.sqrt(d_k)
    scores = torch.matmul(query, key.transpose(-2, -1)) * factor
    L, S = query.size(-2), key.size(-2)
    if is_causal:
        causal = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(causal == 0, -1e9)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(attn_mask == 0, -1e9)
        else:
            scores = scores + attn_mask
    p_attn = softmax(scores, dim=-1)
    return torch.matmul(p_attn, value)
''',
        mistakes=("attention.minus_1e9_mask",),
    ),
    Entry(
        name="attention_masked_fill_result_dropped",
        assignment="attention",
        function="scaled_dot_product_attention",
        style="CS336-style function",
        source='''
def softmax(x, dim):
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ key.transpose(-1, -2) * scale
    allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=query.device)
    if is_causal:
        allowed = torch.tril(allowed)
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        scores = scores + attn_mask
    elif attn_mask is not None:
        allowed = allowed & attn_mask
    scores.masked_fill(~allowed, float("-inf"))   # returns a new tensor, which is dropped
    return softmax(scores, dim=-1) @ value
''',
        mistakes=("attention.mask_fill_discarded",),
    ),
    Entry(
        name="attention_masked_with_plus_inf",
        assignment="attention",
        function="scaled_dot_product_attention",
        style="CS336-style function",
        source='''
def softmax(x, dim):
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ key.transpose(-1, -2) * scale
    blocked = torch.zeros(scores.shape[-2:], dtype=torch.bool, device=query.device)
    if is_causal:
        blocked = torch.ones_like(blocked).triu(1)
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        blocked = blocked | ~attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    scores = scores.masked_fill(blocked, float("inf"))
    return softmax(scores, dim=-1) @ value
''',
        # Its fully masked rows are NaN too, with +inf as with -inf: a second mistake of its own.
        mistakes=("attention.mask_filled_with_plus_inf", "attention.nan_rows"),
    ),
    Entry(
        name="attention_unscaled_and_minus_1e9",
        assignment="attention",
        function="scaled_dot_product_attention",
        style="two mistakes at once",
        source='''
def softmax(x, dim):
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    scores = query @ key.transpose(-2, -1)          # no scale at all
    L, S = scores.shape[-2:]
    if is_causal:
        scores = scores.masked_fill(torch.ones(L, S, device=query.device).tril() == 0, -1e9)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -1e9) if attn_mask.dtype == torch.bool else scores + attn_mask
    return softmax(scores, dim=-1) @ value
''',
        mistakes=("unscaled_scores", "attention.minus_1e9_mask"),
    ),
    Entry(
        name="attention_einsum_zero_rows",
        assignment="attention",
        function="scaled_dot_product_attention",
        style="einsum function",
        source='''
def softmax(x, dim):
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.einsum("...qd,...kd->...qk", query, key) * scale
    L, S = scores.shape[-2:]
    keep = torch.ones(L, S, dtype=torch.bool, device=query.device)
    if is_causal:
        keep = keep & (torch.arange(L, device=query.device)[:, None] >= torch.arange(S, device=query.device))
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        keep = keep & attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    scores = scores.masked_fill(~keep, float("-inf"))
    empty = torch.isinf(scores).all(dim=-1, keepdim=True) & (scores < 0).all(dim=-1, keepdim=True)
    weights = softmax(scores.masked_fill(empty, 0.0), dim=-1) * ~empty
    return torch.einsum("...qk,...kd->...qd", weights, value)
''',
        mistakes=(),
    ),
]
