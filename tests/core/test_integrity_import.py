"""The integrity snapshot: cheap to import, and blind to torch rewrapping its own functions.

Each test runs in a fresh interpreter, because what it checks (which modules an
import loads, what torch has wrapped) is process-wide state that the test run
itself has already changed.
"""

import subprocess
import sys
import textwrap

from conftest import ROOT



def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.strip()


def test_importing_the_integrity_check_does_not_load_dynamo():
    # torch._dynamo takes seconds to import, paid by every student at every import of the autograder.
    assert run_python("""
        import sys
        import autograder.core.integrity
        print("torch._dynamo" in sys.modules)
    """) == "False"


def test_torch_wrapping_its_own_functions_later_is_not_a_replacement():
    # Importing dynamo wraps torch.manual_seed; its first compiled call patches
    # torch.nn.Module.__init__ and __setstate__. Torch does both by itself
    # (torch.compile, the simulated GPU's FakeTensorMode), after the snapshot.
    assert run_python("""
        import sys
        import torch
        from autograder.core import integrity

        integrity.trust_package()
        assert "torch._dynamo" not in sys.modules
        seed = torch.manual_seed
        import torch._dynamo
        assert torch.manual_seed is not seed, "dynamo no longer wraps manual_seed: nothing is tested"
        print(integrity.replaced())
        torch.manual_seed(0)

        init = torch.nn.Module.__init__
        torch.compile(lambda x: torch.nn.Linear(3, 3)(x), backend="eager")(torch.ones(2, 3))
        assert torch.nn.Module.__init__ is not init, "dynamo no longer patches Module.__init__"
        print(integrity.replaced())
    """).splitlines() == ["[]", "[]"]


def test_a_replaced_trusted_function_is_still_reported():
    assert run_python("""
        import torch
        import torch._dynamo
        from autograder.core import integrity

        integrity.trust_package()
        torch.manual_seed = lambda *args: None
        print(integrity.replaced())
    """) == "['torch.manual_seed']"


def test_a_replacement_dressed_as_torchs_wrapper_is_reported():
    # Made by torch's own wrapper maker, but around another function; or carrying
    # the original as __wrapped__, which any function may.
    assert run_python("""
        import functools
        import torch
        from autograder.core import integrity

        integrity.trust_package()
        original = torch.manual_seed
        torch.manual_seed = torch._disable_dynamo(lambda *args: None)
        print(integrity.replaced())

        @functools.wraps(original)
        def fake(*args):
            return None

        torch.manual_seed = fake
        print(integrity.replaced())

        def init(self, *args, **kwargs):
            pass

        init.__wrapped__ = torch.nn.Module.__init__
        torch.manual_seed = original
        torch.nn.Module.__init__ = init
        print(integrity.replaced())
    """).splitlines() == ["['torch.manual_seed']", "['torch.manual_seed']", "['torch.nn.Module.__init__']"]
