"""The facts that the questions and the model answers state about PyTorch and about the methods hold."""

from pathlib import Path

import nbformat
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]


def cell(folder, grade_id, edition="solutions"):
    notebook = nbformat.read(ROOT / edition / folder / f"{folder}.ipynb", as_version=4)
    source = next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return " ".join(source.split())


def test_dropout_output_variance_is_the_model_answers_formula():
    torch.manual_seed(0)
    p, mean, std = 0.8, 2.0, 0.5
    x = mean + std * torch.randn(2_000_000, dtype=torch.float64)
    y = nn.functional.dropout(x, p=p, training=True)
    formula = std ** 2 / (1 - p) + p / (1 - p) * mean ** 2        # Var(x)/(1 - p) + p/(1 - p) E[x]^2
    assert abs(y.var().item() / formula - 1) < 0.01, (y.var().item(), formula)
    assert "Var(y) = Var(x)/(1 − p) + p/(1 − p)·E[x]²" in cell("regularization", "regularization_explanation")


def test_l2_and_decoupled_weight_decay_agree_for_plain_sgd_only():
    gen = torch.Generator().manual_seed(0)
    A, b = torch.randn(32, 5, generator=gen, dtype=torch.float64), torch.randn(32, generator=gen, dtype=torch.float64)
    w0, lr, wd = torch.randn(5, generator=gen, dtype=torch.float64), 0.1, 0.1

    def l2(momentum):
        w = w0.clone().requires_grad_()
        optimizer = torch.optim.SGD([w], lr=lr, momentum=momentum, weight_decay=wd)   # an L2 term
        for _ in range(5):
            optimizer.zero_grad()
            ((A @ w - b) ** 2).mean().backward()
            optimizer.step()
        return w.detach()

    def decoupled(momentum):
        w, buffer = w0.clone(), None
        for _ in range(5):
            v = w.clone().requires_grad_()
            g, = torch.autograd.grad(((A @ v - b) ** 2).mean(), v)
            buffer = g if buffer is None else momentum * buffer + g
            w = w - lr * buffer - lr * wd * w
        return w

    assert (l2(0.0) - decoupled(0.0)).abs().max() < 1e-12
    assert (l2(0.9) - decoupled(0.9)).abs().max() > 1e-2
    assert "This holds for plain SGD only" in cell("regularization", "regularization_explanation")


def test_multihead_attention_on_a_fully_masked_query_is_nan_only_with_its_weights():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 4)
    ignore = torch.tensor([[True, True, True]])                  # every key of every query is masked
    mha = nn.MultiheadAttention(4, 1, batch_first=True)
    for mode in (mha.train, mha.eval):
        mode()
        with torch.no_grad():
            assert mha(x, x, x, key_padding_mask=ignore, need_weights=True)[0].isnan().all()
            assert (mha(x, x, x, key_padding_mask=ignore, need_weights=False)[0] == 0).all()
            # zero attention, then the output projection: its bias alone, zero only as initialized
            nn.init.constant_(mha.out_proj.bias, 0.5)
            assert (mha(x, x, x, key_padding_mask=ignore, need_weights=False)[0] == 0.5).all()
            nn.init.zeros_(mha.out_proj.bias)
    for grade_id in ("attention_introduction", "fully_masked_query_question"):
        text = " ".join(cell("attention", grade_id, edition="exercises").split())
        assert "NaN with `need_weights=True`" in text or "NaN for such a query with `need_weights=True`" in text
        assert "zero attention with `need_weights=False`" in text
        assert "output projection's bias alone" in text
