"""The regularization chapter's measurements, and the claims its text makes about them.

Nothing here hard-codes a measured value. The tests read what the built page
prints (cell outputs) and the numbers the prose quotes through myst-nb's glue,
check that the two agree, and check what the text claims of them: that the
validation loss turns up, that early stopping restores the best step and beats
the last one, which regularizers gain more than the spread over seeds and which
do not, and that each strength was chosen by the validation accuracy.
"""

import math
import re

import pytest

from conftest import ROOT
from helpers import printed


CHAPTER = "book/regularization/regularization"
NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)

# The sweeps the chapter reports, by the key under which it glues their results.
SWEEPS = {
    "l1": "L1 penalty",
    "l2": "L2 penalty",
    "adam_l2": "Adam + L2 penalty",
    "adamw": "AdamW",
    "dropout": "dropout",
    "augment": "data augmentation",
}
# Those the text says gain more than the spread over seeds; the L1 penalty it says does not.
HELPFUL = ("l2", "adam_l2", "adamw", "dropout", "augment")


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.fixture(scope="module")
def glued(built_book):
    """name -> the text that the prose shows for each {glue:text} role of the chapter.

    The page renders the roles as `span.pasted-text` in the order of the source.
    """
    from bs4 import BeautifulSoup

    prose = CODE_CELL.sub("", (ROOT / f"{CHAPTER}.md").read_text())
    names = GLUE_ROLE.findall(prose)
    page = BeautifulSoup((built_book / "html" / f"{CHAPTER}.html").read_text(), "html.parser")
    shown = [span.get_text() for span in page.select("span.pasted-text")]
    assert len(shown) == len(names), "a glue role of the chapter did not render"
    values = {}
    for name, value in zip(names, shown):
        assert value.strip(), f"glued value {name!r} is empty"
        assert values.setdefault(name, value) == value, f"{name!r} shows two different values"
    return values


def number(value):
    return float(value.rstrip("%"))


def sweep_report(text, name):
    """A sweep's printed report: {strength: mean validation accuracy}, the chosen strength and the test line."""
    block = re.search(rf"^{re.escape(name)}: validation accuracy, mean ± std over seeds, per strength\n"
                      rf"((?:  \S.*\n)+)", text, flags=re.M)
    assert block, f"the sweep of {name!r} is not printed"
    lines = block.group(1).splitlines()
    val = {}
    chosen = None
    for line in lines[:-1]:
        match = re.match(rf"  ({NUMBER}): ({NUMBER}) ± ({NUMBER})(   <- chosen)?$", line)
        assert match, line
        val[float(match.group(1))] = float(match.group(2))
        if match.group(4):
            chosen = float(match.group(1))
    test = re.match(rf"  test accuracy at ({NUMBER}): ({NUMBER}) ± ({NUMBER}); paired gain over no regularization "
                    rf"({NUMBER}) ± ({NUMBER}), positive on (\d+) of (\d+) seeds$", lines[-1])
    assert test, lines[-1]
    return val, chosen, test


# The values the text glues as words, computed from the runs: where a tuned strength sits in its grid,
# and which rows of the comparison do not clear twice their standard error.
PHRASES = {"adam_l2_edge", "adamw_edge", "unclear_methods", "unclear_plural"}


def test_every_glued_number_renders(glued):
    for name, value in glued.items():
        if name not in PHRASES:
            assert re.fullmatch(rf"{NUMBER}%?", value), f"{name!r} shows {value!r}, not a number"


def test_tuned_strengths_are_placed_in_their_grids(text, glued):
    for key, name in (("adam_l2", "Adam + L2 penalty"), ("adamw", "AdamW")):
        line = re.search(rf"^{re.escape(name)}: chosen (.+)$", text, re.M)
        assert line and glued[f"{key}_edge"] == line.group(1), key
        val, chosen, _ = sweep_report(text, name)
        strengths = sorted(val)
        if chosen not in (0.0, strengths[-1]):
            following = strengths[strengths.index(chosen) + 1]
            assert f"the next value of its grid, {following:g}, gives a validation accuracy of {val[following]:.3f}" \
                in line.group(1), key


def test_labels_are_noisy_and_the_model_memorizes(text, glued):
    counts = re.search(r"wrong training labels per seed: \[([\d, ]+)\] of (\d+)", text)
    assert counts
    wrong = [int(c) for c in counts.group(1).split(",")]
    assert number(glued["wrong_mean"]) == pytest.approx(100 * sum(wrong) / len(wrong) / int(counts.group(2)), abs=0.5)
    assert number(glued["n_seeds"]) == len(wrong)
    ratio = re.search(r"parameters: (\d+), that is (\d+) per training image", text)
    assert ratio and glued["params_per_image"] == ratio.group(2) and int(ratio.group(2)) > 100
    # The unregularized network learns the wrong labels: the text says so with these two numbers.
    assert number(glued["base_train_acc"]) > 0.99 and number(glued["base_learned_wrong"]) > 95


def test_validation_loss_turns_up(text, glued):
    seeds = re.findall(rf"seed \d: lowest validation loss ({NUMBER}) at step (\d+), ({NUMBER}) at step (\d+); "
                       rf"validation accuracy ({NUMBER}) there, ({NUMBER}) at the end; "
                       rf"training accuracy at the end ({NUMBER})", text)
    assert len(seeds) == int(glued["n_seeds"])
    for low, step, end, last_step, acc_there, acc_end, _ in seeds:
        assert float(end) > 2 * float(low), "the validation loss should climb well above its minimum"
        assert int(step) < int(last_step) / 2, "the minimum should come early"
        assert float(acc_there) > float(acc_end), "validation accuracy should fall after the loss minimum"
    mean = lambda column: sum(float(s[column]) for s in seeds) / len(seeds)  # noqa: E731
    assert number(glued["base_min_val_loss"]) == pytest.approx(mean(0), abs=2e-3)
    assert number(glued["base_min_step"]) == pytest.approx(mean(1), abs=0.5)
    assert number(glued["base_end_val_loss"]) == pytest.approx(mean(2), abs=2e-3)
    assert number(glued["base_acc_at_min"]) == pytest.approx(mean(4), abs=2e-3)
    assert number(glued["base_end_val_acc"]) == pytest.approx(mean(5), abs=2e-3)
    assert f"validation loss ends above its minimum on {len(seeds)} of {len(seeds)} seeds" in text
    assert glued["base_turns_up"] == str(len(seeds))


def test_exact_zeros_per_lambda_are_printed(text, glued):
    assert "exact zeros, L1 | exact zeros, L2" in text
    rows = re.findall(r"^\s*(\d+\.\d+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+\.\d+)$", text, flags=re.M)
    assert len(rows) >= 5, "the table of exact zeros per lambda is missing"
    l1_zeros = [int(row[1]) for row in rows]
    l2_zeros = [int(row[2]) for row in rows]
    assert max(l1_zeros) > 0 and all(zeros == 0 for zeros in l2_zeros)
    # Along a path from strong to weak penalties the L1 zeros are reached at the strong end.
    assert l1_zeros[0] == max(l1_zeros)
    # In PyTorch: proximal gradient descent finds the lasso's zeros, gradient descent on |w| none.
    lasso = re.search(r"exact zeros, coordinate descent \(lasso_path\): (\d+)", text)
    prox = re.search(r"exact zeros, proximal gradient descent:\s+(\d+)", text)
    sub = re.search(r"exact zeros, gradient descent on the penalty: (\d+)", text)
    assert lasso and prox and sub
    assert lasso.group(1) == prox.group(1) == glued["prox_zeros"]
    assert int(sub.group(1)) == 0 and glued["sub_zeros"] == sub.group(1)


def test_ridge_shrinks_the_norm_but_not_each_coefficient(text, glued):
    """The correction of "every coefficient shrinks smoothly": the norm falls, single coefficients cross zero."""
    assert "‖w‖₂ grows at every step from strong to weak penalty: True" in text
    crossing = re.search(r"coefficients that change sign along the ridge path: (\d+)", text)
    not_monotone = re.search(r"coefficients whose \|w\| is not monotone in λ: (\d+)", text)
    assert crossing and not_monotone
    assert int(crossing.group(1)) >= 1 and int(not_monotone.group(1)) >= int(crossing.group(1))
    assert glued["ridge_crossing"] == crossing.group(1) and glued["ridge_not_monotone"] == not_monotone.group(1)


def test_weight_decay_lines_are_printed(text, glued):
    # Without momentum the penalty, SGD's weight_decay, the step by hand and SGDW agree ...
    match = re.search(r"largest difference to the penalty:\s+(\S+)", text)
    assert match and float(match.group(1)) < 1e-12
    # ... with momentum, SGD's weight_decay is still the L2 penalty, but decoupled decay (SGDW) is not.
    same = re.search(r"largest difference, penalty vs SGD\(weight_decay\):\s+(\S+)", text)
    decoupled = re.search(r"largest difference, penalty vs SGDW:\s+(\S+)", text)
    assert same and float(same.group(1)) < 1e-12
    assert decoupled and float(decoupled.group(1)) > 1e-2
    assert glued["l2_vs_sgdw"] == f"{float(decoupled.group(1)):.3f}"
    rows = {}
    for label in ("Adam, L2 in the loss, λ=0.01", "Adam(weight_decay=0.02)", "AdamW(weight_decay=0.02)",
                  "Adam, L2 in the loss, λ=0.0001", "AdamW(weight_decay=0.0002)"):
        match = re.search(rf"{re.escape(label)}\s+\[\s*({NUMBER})\s+({NUMBER})\s*\]", text)
        assert match, label
        rows[label] = float(match.group(2))
    # The penalty in the loss and Adam's weight_decay = 2 lambda are the same thing ...
    assert rows["Adam, L2 in the loss, λ=0.01"] == rows["Adam(weight_decay=0.02)"]
    # ... and decay w2 by the same amount whatever lambda is, as the text says; AdamW by (1 - lr wd)^3.
    assert glued["toy_w2_strong"] == glued["toy_w2_weak"] == f"{rows['Adam, L2 in the loss, λ=0.01']:.2f}"
    assert float(glued["toy_adamw_w2"]) == pytest.approx(2 * (1 - 0.1 * 0.02) ** 3, abs=1e-4)
    assert float(glued["toy_adamw_w2"]) == pytest.approx(rows["AdamW(weight_decay=0.02)"], abs=1e-4)


def test_adamw_grid_reaches_a_real_decay(text, glued):
    factors = dict(re.findall(rf"AdamW, weight_decay=({NUMBER}): the weights shrink by the factor ({NUMBER})", text))
    assert float(factors["0.1"]) > 0.9, "the customary 0.1 decays by little, as the text says"
    assert number(glued["adamw_small_decay"]) == pytest.approx(100 * (1 - float(factors["0.1"])), abs=0.6)
    assert min(float(f) for f in factors.values()) < 0.1, "the grid must reach a decay that matters"
    default = re.search(rf"PyTorch's default weight_decay for AdamW: ({NUMBER})", text)
    assert default and glued["adamw_default"] == default.group(1)
    assert number(glued["adamw_default_decay"]) == pytest.approx(100 * (1 - float(factors[default.group(1)])), abs=0.06)


@pytest.mark.parametrize("key", SWEEPS)
def test_sweep_chooses_by_validation_and_the_text_quotes_it(text, glued, key):
    val, chosen, test = sweep_report(text, SWEEPS[key])
    assert 0.0 in val and len(val) >= 5, "the grid must include no regularization and at least four strengths"
    assert chosen == max(val, key=val.get), "the chosen strength is not the one with the best validation accuracy"
    assert float(test.group(1)) == chosen and number(glued[f"{key}_chosen"]) == chosen
    assert glued[f"{key}_test"] == test.group(2)
    assert number(glued[f"{key}_gain"]) == pytest.approx(100 * float(test.group(4)), abs=0.06)
    assert number(glued[f"{key}_gain_std"]) == pytest.approx(100 * float(test.group(5)), abs=0.06)
    assert glued[f"{key}_wins"] == test.group(6)


@pytest.mark.parametrize("key", HELPFUL)
def test_regularizer_beats_the_spread_over_seeds(text, glued, key):
    _, _, test = sweep_report(text, SWEEPS[key])
    assert float(test.group(4)) * 100 > number(glued["seed_spread"]), "the gain is within the spread over seeds"
    # The text's criterion: the mean paired gain is more than twice its standard error.
    assert float(test.group(4)) > 2 * float(test.group(5)) / 5 ** 0.5, "the gain is within two standard errors"
    # It wins by keeping the network from learning the wrong labels.
    assert number(glued[f"{key}_wrong"]) < number(glued["base_learned_wrong"]) / 2


def test_l1_penalty_has_no_effect_beyond_the_spread(text, glued):
    _, _, test = sweep_report(text, SWEEPS["l1"])
    assert abs(float(test.group(4))) * 100 < number(glued["seed_spread"])


def test_dropout_and_adam_claims(text, glued):
    val, chosen, _ = sweep_report(text, "dropout")
    assert chosen < max(val), "the text says validation accuracy falls beyond the chosen p"
    assert val[max(val)] < val[chosen] - 0.05
    rises = dict(re.findall(rf"(no regularization|chosen dropout): validation loss rises from its lowest value "
                            rf"to the end by ({NUMBER}) on average", text))
    assert glued["rise_none"] == rises["no regularization"] and glued["rise_dropout"] == rises["chosen dropout"]
    assert float(rises["chosen dropout"]) < float(rises["no regularization"]) / 5, "the text says 'only'"
    difference = re.search(rf"Adam \+ L2 penalty minus AdamW, test accuracy at the chosen strengths: "
                           rf"({NUMBER}) ± ({NUMBER}), positive on (\d+) of", text)
    assert difference and float(difference.group(1)) > 0, "the text says Adam with the L2 penalty is ahead"
    assert number(glued["l2_over_adamw"]) == pytest.approx(100 * float(difference.group(1)), abs=0.06)
    assert glued["l2_over_adamw_wins"] == difference.group(3)


def test_dropout_lines_are_printed(text):
    assert "F.dropout equals mask * x / (1 - p): True" in text
    assert re.search(r"train mode, training =\s*True -> tensor", text)
    assert re.search(r"eval mode,  training = False -> tensor\(\[1\., 1\., 1\., 1\., 1\., 1\., 1\., 1\.\]\)", text)
    assert "model.eval(): two passes on the same images agree: True" in text
    assert "model.train(): two passes on the same images agree: False" in text


def test_dropout_mask_statistics_are_printed(text, glued):
    pattern = (rf"p = ({NUMBER}): dropped (\d+) of (\d+) = ({NUMBER}), 95% CI \[({NUMBER}), ({NUMBER})\], "
               rf"contains p: (True|False); the CI of a single mask contains p for ({NUMBER})% of \d+ masks")
    lines = re.findall(pattern, text)
    assert len(lines) >= 3, "the dropout mask statistics are missing"
    for p, dropped, total, fraction, low, high, _, coverage in lines:
        assert float(fraction) == pytest.approx(int(dropped) / int(total), abs=1e-4)
        assert float(low) <= float(fraction) <= float(high)
        assert 85 <= float(coverage) <= 100
    assert glued["wilson_inside"] == str(sum(line[6] == "True" for line in lines))
    assert glued["wilson_ps"] == str(len(lines))
    assert number(glued["wilson_coverage_low"]) == min(float(line[7]) for line in lines)
    assert number(glued["wilson_coverage_high"]) == max(float(line[7]) for line in lines)


def test_early_stopping_restores_the_best_step_and_beats_the_last(text, glued):
    for monitor in ("val_loss", "val_acc"):
        block = re.search(rf"monitor {monitor}, patience \d+:\n((?:  \S.*\n)+)", text)
        assert block, monitor
        seeds = re.findall(rf"seed \d: best at step (\d+), stopped at step (\d+); best step of the full run (\d+); "
                           rf"curve identical to the full run until the stop: (True|False); "
                           rf"test accuracy ({NUMBER}) with the restored weights, ({NUMBER}) at the end", block.group(1))
        assert len(seeds) == int(glued["n_seeds"])
        for best, stop, best_full, same, restored, end in seeds:
            assert int(best) < int(stop) and same == "True"
            if monitor == "val_loss":  # the text says so for the loss, whose minimum is never undercut later
                assert best == best_full, "early stopping should restore the best step of the whole run"
            assert float(restored) > float(end), "the restored weights should beat the last ones"
        summary = re.search(rf"  test accuracy ({NUMBER}) ± ({NUMBER}), gain over the last step ({NUMBER}) ± "
                            rf"({NUMBER}), positive on (\d+) of", block.group(1))
        assert summary and float(summary.group(3)) * 100 > number(glued["seed_spread"])
        key = f"stop_{monitor}"
        assert glued[f"{key}_wins"] == summary.group(5) == str(len(seeds))
        assert glued[f"{key}_test"] == summary.group(1)
        assert number(glued[f"{key}_best"]) == pytest.approx(sum(int(s[0]) for s in seeds) / len(seeds), abs=0.5)
        if monitor == "val_loss":
            assert number(glued[f"{key}_stop"]) == pytest.approx(sum(int(s[1]) for s in seeds) / len(seeds), abs=0.5)
            assert number(glued[f"{key}_gain"]) == pytest.approx(100 * float(summary.group(3)), abs=0.06)
            assert number(glued[f"{key}_gain_std"]) == pytest.approx(100 * float(summary.group(4)), abs=0.06)


def test_comparison_table(text, glued):
    assert re.search(r"method\s+\| strength \| val\. acc\. \| test acc\. ± std \| test − none ± s\.e\. \| wins "
                     r"\| sign test p", text)
    rows = {}
    for name in ("no regularization (SGD)", "no regularization (Adam)", "early stopping, val. loss",
                 "early stopping, val. accuracy", *SWEEPS.values()):
        row = re.search(rf"^{re.escape(name)}\s+\|\s+({NUMBER}) \|\s+({NUMBER}) \| ({NUMBER}) ± ({NUMBER})\s+\|\s+"
                        rf"({NUMBER}) ± ({NUMBER}) \|\s+(\d+)/(\d+) \|\s+({NUMBER}) \|\s+({NUMBER}) \|\s+(\d+)$",
                        text, flags=re.M)
        assert row, f"the comparison table has no row for {name!r}"
        rows[name] = row
        assert 0 < float(row.group(3)) <= 1 and 0 < int(row.group(11)) <= 300
        # The one-sided sign test: the chance of at least this many wins of five fair coin tosses.
        wins, seeds = int(row.group(7)), int(row.group(8))
        expected = sum(math.comb(seeds, k) for k in range(wins, seeds + 1)) / 2 ** seeds
        assert float(row.group(9)) == pytest.approx(expected, abs=5e-4), name
    assert number(glued["seed_spread"]) == pytest.approx(100 * float(rows["no regularization (SGD)"].group(4)), abs=0.06)
    for key, name in SWEEPS.items():
        assert glued[f"{key}_test"] == rows[name].group(3)
    # The methods whose mean paired gain is more than twice its standard error, as the table's columns give them.
    listed = re.search(r"mean paired gain more than twice its standard error: \[(.*)\]", text)
    assert listed
    names = set(re.findall(r"'([^']+)'", listed.group(1)))
    clear = {name for name, row in rows.items() if float(row.group(6)) > 0 and float(row.group(5)) > 2 * float(row.group(6))}
    assert names == clear
    assert names == {SWEEPS[key] for key in HELPFUL} | {"early stopping, val. loss", "early stopping, val. accuracy"}
    assert glued["n_clear"] == str(len(names)) and glued["unclear_methods"] == "L1 penalty"
    assert glued["all_wins"] == str(sum(row.group(7) == row.group(8) for row in rows.values()))
    assert re.search(r"means and sample standard deviations over seeds \(0, 1, 2, 3, 4\), \d+ test images", text)
    n_test = int(re.search(r"test: (\d+)", text).group(1))
    assert number(glued["one_test_image"]) == pytest.approx(100 / n_test, abs=0.005)
