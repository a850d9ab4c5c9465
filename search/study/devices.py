"""Which accelerator each local worker trains on: one GPU each, fixed before TensorFlow starts.

TensorFlow takes every GPU it sees and cannot give one back, so a worker's GPU is chosen
through ``CUDA_VISIBLE_DEVICES`` in its environment before it imports TensorFlow, with
memory growth on (``TF_FORCE_GPU_ALLOW_GROWTH``) so two workers may share one GPU. GPUs are
found without importing TensorFlow: ``CUDA_VISIBLE_DEVICES`` if set, else the NVIDIA
driver's ``/proc/driver/nvidia/gpus`` (or ``nvidia-smi -L``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from search.errors import UsageError

DEVICE_ENV = "SEARCH_DEVICE"  # the label a worker records on its trials: "gpu:1" or "cpu"
CPU = "cpu"


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (as ``CUDA_VISIBLE_DEVICES`` names them)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    driver = Path("/proc/driver/nvidia/gpus")
    if driver.is_dir():
        return [str(i) for i in range(len(list(driver.iterdir())))]
    if shutil.which("nvidia-smi"):
        try:
            done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [str(i) for i, line in enumerate(done.stdout.splitlines()) if line.startswith("GPU ")]
    return []


def parse_devices(spec: str | None) -> list[str] | None:
    """``--devices``: None (every visible GPU, or the CPU without one), ``cpu`` ([]), or GPU ids."""
    if spec is None:
        return None
    if spec.strip().lower() == CPU:
        return []
    ids = [part.strip() for part in spec.split(",")]
    if not ids or not all(part.isdigit() for part in ids):
        raise UsageError(f"Invalid --devices {spec!r}; expected 'cpu' or GPU ids such as 0,1.")
    gpus = visible_gpus()
    missing = [i for i in ids if i not in gpus]
    if missing:
        have = ", ".join(gpus) or "none"
        raise UsageError(f"--devices {spec}: no GPU {', '.join(missing)} here; GPUs visible: {have}.")
    return ids


def assign(workers: int, devices: list[str] | None) -> list[str | None]:
    """The GPU of each local worker (index 0: the ``search run`` process): worker i gets
    ``devices[i mod G]``; None for all when there is no GPU to give (nothing changes then),
    ``""`` (hide the GPUs) for all with ``--devices cpu``."""
    gpus = visible_gpus() if devices is None else devices
    if devices is None and not gpus:
        return [None] * workers
    if not gpus:
        return [""] * workers
    return [gpus[i % len(gpus)] for i in range(workers)]


def device_env(gpu: str | None) -> dict[str, str]:
    """The environment variables that put a worker on ``gpu`` (:func:`assign`)."""
    if gpu is None:
        return {DEVICE_ENV: CPU}
    label = f"gpu:{gpu}" if gpu else CPU
    return {"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true", DEVICE_ENV: label}


def device_label() -> str:
    """What this process trains on, as recorded per trial: its assignment, else its visible GPUs."""
    assigned = os.environ.get(DEVICE_ENV)
    if assigned:
        return assigned
    gpus = visible_gpus()
    return f"gpu:{','.join(gpus)}" if gpus else CPU
