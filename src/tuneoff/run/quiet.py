"""Quiet libraries: tuneoff's own progress bars and messages replace transformers' per-call chatter."""

from __future__ import annotations


def quiet_libraries() -> None:
    """Our own progress bars and messages replace transformers' per-call chatter."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
