"""What a run ran on (hardware and software fingerprint) and how much memory it took."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
from importlib import metadata
from pathlib import Path

import torch

from tuneoff import __version__


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


def installed_version(package: str) -> str | None:
    """A package's installed version (None: not installed); imports nothing."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_commit() -> str | None:
    """The commit of the tuneoff checkout this code runs from ('+dirty' if edited), if it is one.

    Asked of the package's own folder, and only believed when that folder is tuneoff's
    src/tuneoff inside the repository git finds: a package installed into site-packages
    inside some other repository, or unpacked from an archive, has no commit.
    """
    here = Path(__file__).resolve().parents[1]  # the tuneoff package
    top = _git(here, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() / "src" / "tuneoff" != here:
        return None
    commit = _git(here, "rev-parse", "HEAD")
    dirty = _git(here, "status", "--porcelain", "--untracked-files=no", ".")
    return commit and commit + ("+dirty" if dirty else "")


def working_dir_commit() -> str | None:
    """The commit of the repository the user ran tuneoff from, if any (their project, not tuneoff)."""
    return _git(Path.cwd(), "rev-parse", "HEAD")


def fingerprint(device: torch.device) -> dict:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "hardware": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "gpu": gpu,
            "device": device.type,
            # the card(s) this process saw (a pool worker is given one): which jobs shared a device
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES") if device.type == "cuda" else None,
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": installed_version("transformers"),
            "peft": installed_version("peft"),
            "tuneoff": __version__,
            "tuneoff_source": str(Path(__file__).resolve().parents[1]),
            "git_commit": source_commit(),
            "working_dir_commit": working_dir_commit(),
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

    def __enter__(self) -> PeakMemory:
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
