"""Corpus: weight penalties as d2l and course code write them, wrong and right."""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="l2_penalty_halved_generator_sum",
        assignment="regularization",
        function="l2_penalty",
        style="d2l-style function",
        source='''
def l2_penalty(parameters):
    return sum((w ** 2).sum() for w in parameters) / 2
''',
        # Python's sum of nothing is the int 0, so no parameters give 0.0, a float: a second mistake.
        mistakes=("penalties.half_in_l2", "penalties.empty"),
    ),
    Entry(
        name="l2_penalty_stacked_terms",
        assignment="regularization",
        function="l2_penalty",
        style="list of terms",
        source='''
def l2_penalty(parameters):
    terms = [w.pow(2).sum() for w in parameters]
    return torch.stack(terms).sum() if terms else torch.tensor(0.0)
''',
        mistakes=(),
    ),
    Entry(
        name="l1_penalty_of_the_norms",
        assignment="regularization",
        function="l1_penalty",
        style="torch.norm per tensor",
        source='''
def l1_penalty(parameters):
    total = torch.tensor(0.0)
    for w in parameters:
        total = total + torch.norm(w, p=1)
    return total
''',
        mistakes=(),
    ),
]
