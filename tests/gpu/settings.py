"""What the GPU suite runs on, read once from the environment.

``DEVICE`` (cpu or cuda, default cpu): the device under test; with cpu the CPU
stands in for it, so the whole suite also runs on a machine without a GPU.
``GPU_SUITE`` (fast or full, default fast): fast keeps every test alive on a
small CPU in about a minute (a plain ``pytest`` collects this folder too, and
must stay quick); full is what a GPU machine runs. ``GPU_REPORT``: where the
JSON report goes (unset or empty: none; ``make test-gpu`` writes
``benchmarks/results/gpu-<device>.json``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

DEVICE = os.environ.get("DEVICE", "cpu").strip() or "cpu"
SUITE = os.environ.get("GPU_SUITE", "fast").strip() or "fast"
FAST = SUITE == "fast"

_report = os.environ.get("GPU_REPORT", "").strip()
REPORT = Path(_report) if _report else None

# The devices a check that takes ``devices`` runs on: the CPU, and the device under test
# (once, when the CPU stands in for it).
DEVICES = list(dict.fromkeys(["cpu", DEVICE]))


def problem() -> str | None:
    """Why the suite cannot run as asked, in words that say what to change; None when it can."""
    if DEVICE not in ("cpu", "cuda"):
        return f"DEVICE={DEVICE!r}: the GPU suite runs on DEVICE=cpu or DEVICE=cuda"
    if SUITE not in ("fast", "full"):
        return f"GPU_SUITE={SUITE!r}: the GPU suite is GPU_SUITE=fast or GPU_SUITE=full"
    if DEVICE == "cuda" and not torch.cuda.is_available():
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        return (f"DEVICE=cuda, but {why} (torch {torch.__version__}, CUDA_VISIBLE_DEVICES="
                f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}); run with DEVICE=cpu on a machine without one")
    return None


def device_name() -> str:
    """The device under test, as its maker names it."""
    if DEVICE == "cuda":
        return torch.cuda.get_device_name(0)
    import platform

    name = platform.processor()
    try:  # Linux leaves platform.processor() empty or says only "x86_64"; cpuinfo names the model
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine()
