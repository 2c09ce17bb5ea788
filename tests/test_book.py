"""The book builds with every cell executed, warnings as errors, and prints the source's numbers."""

import pytest

from helpers import printed

pytestmark = pytest.mark.slow


def test_batch_norm_chapter_prints_the_worked_example(built_book):
    text = printed(built_book, "book/normalization/batch_norm")
    # nn.BatchNorm2d(4) on the 2x4x2x2 example.
    assert "tensor([[[[ 0.3780, -0.6299],\n          [-0.6299,  1.3859]]," in text
    assert "grad_fn=<NativeBatchNormBackward0>" in text
    # The by-hand means and biased variances of the four channels, mean then variance.
    assert "0.625\n0.984375\n2.625\n1.734375\n3.5\n22.25\n2.75\n1.9375\n" in text
    # The NumPy recomputation prints the same normalized values as PyTorch.
    assert "[[[[ 0.37796253 -0.6299376 ]" in text
    assert "np.allclose: True" in text
    html = (built_book / "html" / "book" / "normalization" / "batch_norm.html").read_text()
    assert "0.3780" in html and "22.25" in html


def test_only_the_book_is_published(built_book):
    html = built_book / "html"
    assert (html / "book" / "intro.html").is_file()
    for folder in ("solutions", "exercises", "tests", "autograder", "grading"):
        assert not (html / folder).exists()
    for page in html.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text(), page
