"""The checking core on a simple operation: what it reports, and how."""

import sys
import warnings

import pytest
import torch

from autograder import Mistake, Planted, check_against_reference, check_raises
from autograder.core.engine import fail_diagnosed
from autograder.core.failure import CheckFailed, named_mistake
from autograder.core.devices import SIMULATED_CUDA, available_devices
from autograder.core.tolerances import declare

# The operations these tests compare, declared as a spec would declare them.
for _name in ("scale", "update", "both", "f", "Stopper"):
    declare(_name)


def reference(input, weight):
    return input * weight


def arguments():
    generator = torch.Generator().manual_seed(0)
    return {"input": torch.randn(4, 3, generator=generator), "weight": torch.randn(3, generator=generator)}


def check(student, **options):
    return check_against_reference(student, reference, arguments(), name="scale", **options)


def failure(student, **options) -> str:
    with pytest.raises(AssertionError) as raised:
        check(student, **options)
    return str(raised.value)


def test_a_correct_function_passes_on_every_available_device():
    report = check(lambda input, weight: weight * input, grad_wrt=("input", "weight"))
    assert report.devices == available_devices()
    assert "scale(input: (4, 3) float32, weight: (3,) float32)" in str(report)


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda input, weight: None, "the output is None: did you forget a `return`"),
        (lambda input, weight: (input * weight).numpy(), "the output is a NumPy array; return a torch.Tensor"),
        (lambda input, weight: [1.0], "the output is a list, expected a torch.Tensor"),
        (lambda input, weight: (input * weight)[:2], "the output has shape (2, 3), expected (4, 3)"),
        (lambda input, weight: (input * weight).double(), "the output has dtype torch.float64, expected torch.float32"),
        (lambda input, weight: input * weight / 0 * 0, "NaN value(s) where the reference has numbers"),
    ],
)
def test_bad_return_values_get_a_clear_message(student, expected):
    message = failure(student)
    assert expected in message
    assert "on cpu" in message
    assert "Traceback" not in message


def test_a_value_mismatch_reports_where_by_how_much_and_the_tolerance():
    def off_by_one_element(input, weight):
        out = input * weight
        out[2, 1] += 0.5
        return out

    message = failure(off_by_one_element)
    assert "differs from the reference in 1 of 12 elements" in message
    assert "Greatest absolute difference: 0.5 at index (2, 1)" in message
    assert "Allowed: atol=1e-05 + rtol=1.3e-06 * |expected|" in message


def test_a_matching_wrong_variant_is_named():
    planted = (
        Planted(Mistake("weight_twice", "the weight is applied twice."), lambda input, weight: input * weight * weight),
        Planted(Mistake("weight_ignored", "the weight is ignored."), lambda input, weight: input),
    )
    message = failure(lambda input, weight: input, planted=planted)
    assert message.endswith("Likely mistake: the weight is ignored.")
    assert named_mistake(message) == "the weight is ignored."
    # A wrong result that matches no planted mistake names none, but still gets a clue.
    message = failure(lambda input, weight: input * weight + 1, planted=planted)
    assert named_mistake(message) is None
    assert "Hint: the output is off by a constant 1" in message


def test_a_planted_mistake_that_agrees_with_the_reference_names_nothing():
    same = (Planted(Mistake("commuted", "the factors are swapped."), lambda input, weight: weight * input),)
    assert named_mistake(failure(lambda input, weight: 2 * input * weight, planted=same)) is None


def test_exceptions_from_the_student_become_assertion_errors():
    def broken(input, weight):
        raise IndexError("index 7 is out of bounds")

    message = failure(broken)
    assert message == "scale(input: (4, 3) float32, weight: (3,) float32) on cpu: it raised IndexError: index 7 is out of bounds"


def test_an_unimplemented_function_says_so():
    def stub(input, weight):
        raise NotImplementedError()

    assert failure(stub).endswith("on cpu: the function is not implemented yet (it raised NotImplementedError).")


def test_gradients_are_compared_and_a_detached_output_is_named():
    def wrong_gradient(input, weight):
        # Right values, but every gradient is doubled.
        return input * weight + (input * weight - (input * weight).detach())

    message = failure(wrong_gradient, grad_wrt=("input", "weight"))
    assert "gradients" in message and "the gradient with respect to input differs" in message
    assert "Hint: the gradient with respect to input is off by a constant factor of 2." in message

    message = failure(lambda input, weight: (input * weight).detach(), grad_wrt=("input",))
    assert "the output carries no gradient" in message

    message = failure(lambda input, weight: input * weight.detach(), grad_wrt=("input", "weight"))
    assert "the gradient with respect to weight is missing" in message


def test_in_place_state_is_compared():
    def update(input, state):
        state.add_(input.sum(0))
        return input.clone()

    def forgets_the_update(input, state):
        return input.clone()

    args = {"input": torch.ones(2, 3), "state": torch.zeros(3)}
    assert check_against_reference(update, update, args, name="update", state=("state",)).devices == available_devices()
    assert args["state"].eq(0).all(), "the check works on copies of the arguments"
    with pytest.raises(AssertionError, match="state after the call differs from the reference in 3 of 3"):
        check_against_reference(forgets_the_update, update, args, name="update", state=("state",))


def test_nothing_reaches_stderr_and_warnings_are_not_raised(capfd):
    def noisy(input, weight):
        warnings.warn("a user warning", UserWarning)
        print("a stray message", file=sys.stderr)
        return input * weight

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the harness would raise here
        report = check(noisy)
    assert capfd.readouterr().err == ""
    assert report.devices == available_devices()


def test_a_function_that_calls_the_forbidden_reference_fails():
    message = failure(lambda input, weight: torch.mul(input, weight), forbidden={torch.mul: "torch.mul"})
    assert "it calls torch.mul; the exercise is to implement it" in message


def test_check_raises():
    args = {"input": torch.zeros(1, 3)}

    def rejects(input):
        raise ValueError("one value")

    assert check_raises(rejects, args, ValueError, name="f", when="for one value").devices
    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError for one value"):
        check_raises(lambda input: input, args, ValueError, name="f", when="for one value")
    with pytest.raises(AssertionError, match="it raised TypeError: nope; expected ValueError x"):
        check_raises(lambda input: (_ for _ in ()).throw(TypeError("nope")), args, ValueError, name="f", when="x")


def test_check_raises_names_the_mistake_of_code_that_accepts_what_it_must_reject():
    args = {"input": torch.zeros(1, 3)}
    lenient = Mistake("lenient", "a single value is not rejected.")
    with pytest.raises(CheckFailed) as raised:
        check_raises(lambda input: input, args, ValueError, name="f", when="for one value", mistake_if_returned=lenient)
    assert named_mistake(str(raised.value)) == "a single value is not rejected."
    # A stub or another exception names no mistake: the code did not accept the input.
    with pytest.raises(CheckFailed) as raised:
        check_raises(lambda input: [][1], args, ValueError, name="f", when="x", mistake_if_returned=lenient)
    assert named_mistake(str(raised.value)) is None and "IndexError" in str(raised.value)


def test_check_raises_constructs_a_class_with_keywords_and_names_whose_behaviour_it_is():
    class Stopper:
        def __init__(self, patience=1, mode="min"):
            if mode not in ("min", "max"):
                raise ValueError(mode)

    report = check_raises(Stopper, {"mode": "mean"}, ValueError, name="Stopper", when="for mode='mean'",
                          call=lambda cls, arguments: cls(**arguments), devices=["cpu"])
    assert str(report) == "passed: Stopper(mode='mean') on cpu"
    with pytest.raises(CheckFailed) as raised:
        check_raises(lambda mode: None, {"mode": "mean"}, ValueError, name="Stopper", when="for mode='mean'",
                     call=lambda cls, arguments: cls(**arguments), like=None, devices=["cpu"])
    assert str(raised.value) == (
        "Stopper(mode='mean') on cpu: it returned normally; expected it to raise ValueError for mode='mean'.")


def test_fail_diagnosed_names_a_mistake_or_else_gives_the_clue():
    planted = (Planted(Mistake("halved", "the result is halved."), lambda x: x / 2),)
    x = torch.tensor([1.0, 2.0, 4.0])
    agree = lambda a, b: bool(torch.allclose(a, b))  # noqa: E731
    with pytest.raises(CheckFailed) as raised:
        fail_diagnosed("f(x)", x / 2, x, planted=planted, run=lambda f: f(x), agree=agree, problems=["it is off."])
    assert str(raised.value) == "f(x):\n- it is off.\nLikely mistake: the result is halved."
    with pytest.raises(CheckFailed) as raised:
        fail_diagnosed("f(x)", x * 3, x, planted=planted, run=lambda f: f(x), agree=agree, summary="wrong.")
    assert str(raised.value) == "f(x): wrong.\nHint: the output is off by a constant factor of 3."
    with pytest.raises(CheckFailed) as raised:
        fail_diagnosed("f(x)", x * 3, x, planted=planted, run=lambda f: f(x), agree=agree, clue=None)
    assert str(raised.value) == "f(x):"


# --- the simulated GPU -------------------------------------------------------

simulated = pytest.mark.skipif(torch.cuda.is_available(), reason="a real GPU replaces the simulation")
SIM = [SIMULATED_CUDA]


@simulated
def test_simulation_catches_a_tensor_created_on_the_cpu():
    def cpu_tensor(input, weight):
        return input * weight + torch.zeros(input.shape[1])[None, :] * torch.ones(4, 1)

    # Correct on the CPU...
    assert check(cpu_tensor, devices=["cpu"]).devices == ["cpu"]
    # ... but not on a GPU.
    message = failure(cpu_tensor, devices=SIM)
    assert "on a simulated GPU: it mixes devices" in message
    assert "device=input.device" in message


@simulated
def test_simulation_catches_numpy_on_a_device_tensor():
    message = failure(lambda input, weight: torch.from_numpy(input.numpy() * weight.numpy()), devices=SIM)
    assert "calls .numpy() on a tensor" in message


@simulated
def test_simulation_catches_an_output_moved_to_the_cpu():
    assert "the output is on cpu for inputs on cuda" in failure(lambda input, weight: (input * weight).cpu(), devices=SIM)


@simulated
def test_simulation_accepts_device_correct_code_with_copies_indexing_and_to():
    def careful(input, weight):
        out = torch.empty_like(input)
        out.copy_(input * weight[None, :])
        out[0] = out[0] + torch.zeros(3).to(input.device)
        return out.to(input)

    report = check(careful, devices=SIM)
    assert report.devices == SIM and not report.notes


@simulated
def test_data_dependent_code_is_inconclusive_not_wrong():
    def reads_values(input, weight):
        if weight.abs().max().item() > 0:
            return input * weight
        return input

    report = check(reads_values, devices=SIM)
    assert report.devices == [f"{SIMULATED_CUDA}, inconclusive"]
    assert "inconclusive" in report.notes[0]


def test_cuda_results_are_compared_with_cpu_results_when_a_gpu_is_present():
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    report = check(lambda input, weight: input * weight, grad_wrt=("input", "weight"))
    assert report.devices == ["cpu", "cuda"]
    message = failure(lambda input, weight: input * weight + (input.device.type == "cuda"))
    assert "on cuda" in message


def test_functions_returning_a_tuple_are_compared_part_by_part():
    def both(input, weight):
        return input * weight, input + weight

    args = arguments()
    report = check_against_reference(both, both, args, name="both", outputs=("product", "sum"))
    assert report.devices == available_devices()
    with pytest.raises(AssertionError, match=r"sum \(returned value 1\) differs from the reference in 12 of 12"):
        check_against_reference(lambda i, w: (i * w, i - w), both, args, name="both", outputs=("product", "sum"))
    with pytest.raises(AssertionError, match=r"returns a Tensor; expected a tuple \(product, sum\)"):
        check_against_reference(lambda i, w: i * w, both, args, name="both", outputs=("product", "sum"))


def test_a_pass_is_refused_when_a_trusted_function_was_replaced(monkeypatch):
    from autograder.core import integrity

    integrity.trust_package()
    assert integrity.replaced() == []
    monkeypatch.setattr(torch.nn.functional, "batch_norm", lambda *args, **kwargs: args[0])
    report = check(lambda input, weight: input * weight)
    with pytest.raises(AssertionError, match="replaced torch.nn.functional.batch_norm"):
        report.show()
    monkeypatch.undo()
    assert integrity.replaced() == []
    assert report.show() is report
