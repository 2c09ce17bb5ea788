"""The simulated GPU runs without importing torch._dynamo, and leaves torch as it found it.

Each test runs in a fresh interpreter: which modules are loaded is process-wide
state that the test run itself has already changed.
"""

from .test_integrity_import import run_python

# A planted device bug and a correct function, each run on the simulated GPU.
RUNS = """
    import sys
    import torch
    from autograder.core.devices import run_on_simulated_cuda

    def correct(x):
        return (x - x.mean(dim=(0, 2), keepdim=True)).reshape(x.shape[0], -1)

    def on_the_cpu(x):
        return x + torch.zeros(x.shape[1], 1)

    good = run_on_simulated_cuda(correct, [torch.randn(4, 3, 2)])
    bad = run_on_simulated_cuda(on_the_cpu, [torch.randn(4, 3, 2)])
    print(good.problem, good.inconclusive, good.result.device, bad.problem is not None)
"""


def test_a_simulated_run_does_not_import_dynamo():
    # torch._dynamo takes over a second to import, paid on every `check` if a simulated run loaded it.
    assert run_python(RUNS + """
    print("torch._dynamo" in sys.modules, [n for n in sys.modules if n.startswith("torch._dynamo")])
    """).splitlines() == ["None None cuda:0 True", "False []"]


def test_dynamo_imported_after_a_simulated_run_is_whole():
    # torch.compile in the student's notebook after a check: the real package, with its wrappers.
    assert run_python(RUNS + """
    seed = torch.manual_seed
    compiled = torch.compile(lambda x: torch.sin(x) + 1, backend="eager")
    print(float(compiled(torch.zeros(1))), torch.manual_seed is not seed, hasattr(torch._dynamo, "optimize"))
    """).splitlines() == ["None None cuda:0 True", "1.0 True True"]


def test_student_code_that_reaches_dynamo_during_a_simulated_run_gets_all_of_it():
    assert run_python("""
    import sys
    import torch
    from autograder.core.devices import run_on_simulated_cuda

    def uses_dynamo(x):
        assert not torch._dynamo.is_compiling()
        return x * 2

    run = run_on_simulated_cuda(uses_dynamo, [torch.randn(3)])
    print(run.problem, run.inconclusive, run.result.device, hasattr(sys.modules["torch._dynamo"], "optimize"))
    """) == "None None cuda:0 True"


def test_dynamo_already_loaded_is_left_alone():
    assert run_python("""
    import torch
    import torch._dynamo
    package = torch._dynamo
    from autograder.core.devices import run_on_simulated_cuda

    run = run_on_simulated_cuda(lambda x: x + 1, [torch.randn(3)])
    print(run.problem, run.result.device, torch._dynamo is package)
    """) == "None cuda:0 True"
