"""What a run ran on (hardware and software fingerprint) and how much memory it took."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
from importlib import metadata
from pathlib import Path

import torch


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("protocol.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("protocol.device = 'mps' but torch sees no Apple GPU; use 'auto' or 'cpu'")
    return torch.device(requested)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the tuneoff checkout this code runs from ('+dirty' if edited), if any."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "."],
            cwd=here, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def fingerprint(device: torch.device) -> dict:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "hardware": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "gpu": gpu,
            "device": device.type,
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "peft": _version("peft"),
            "tuneoff": _version("tuneoff"),
            "git_commit": git_commit(),
        },
    }


class PeakMemory:
    """Samples this process's resident memory in a thread; also reads CUDA's own peak."""

    def __init__(self, device: torch.device, every: float = 0.05):
        import psutil

        self._process = psutil.Process()
        self._device, self._every = device, every
        self._stop = threading.Event()
        self.peak_rss = 0

    def _sample(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> "PeakMemory":
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_gpu(self) -> int | None:
        return torch.cuda.max_memory_allocated(self._device) if self._device.type == "cuda" else None
