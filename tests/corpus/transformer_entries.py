"""Corpus: sinusoidal positional encodings as course code and tutorials write them, wrong and right."""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="positional_encoding_log_space_div_term",
        assignment="transformer",
        function="sinusoidal_positional_encoding",
        style="module-style buffer code, log-space frequencies",
        source='''
def sinusoidal_positional_encoding(length, d_model, dtype=torch.float32):
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
    return pe.to(dtype)
''',
        mistakes=(),
    ),
    Entry(
        name="positional_encoding_swapped_and_exponent_without_two",
        assignment="transformer",
        function="sinusoidal_positional_encoding",
        style="two mistakes at once",
        source='''
def sinusoidal_positional_encoding(length, d_model, dtype=torch.float32):
    p = torch.arange(length, dtype=torch.float64)[:, None]
    i = torch.arange((d_model + 1) // 2, dtype=torch.float64)
    angle = p / 10000 ** (i / d_model)           # i / d_model, where the paper has 2i / d_model
    pe = torch.empty(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.cos(angle)                # cosines in the even columns
    pe[:, 1::2] = torch.sin(angle[:, : d_model // 2])
    return pe.to(dtype)
''',
        mistakes=("transformer.sin_cos_swapped", "transformer.exponent_without_two"),
    ),
    Entry(
        name="positional_encoding_concatenated_halves",
        assignment="transformer",
        function="sinusoidal_positional_encoding",
        style="tutorial function",
        source='''
def sinusoidal_positional_encoding(length, d_model, dtype=torch.float32):
    positions = torch.arange(length, dtype=torch.float64)[:, None]
    frequencies = 1.0 / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = positions * frequencies
    encoding = torch.cat([angles.sin(), angles[:, : d_model // 2].cos()], dim=-1)
    return encoding.to(dtype)
''',
        mistakes=("transformer.sin_cos_concatenated",),
    ),
]
