"""A completed final job's checkpoint: the one owner of its layout, of the files it must hold and of the result's
``checkpoint`` record. Nobody else spells a folder inside it. No torch here: writing the weights is the
strategy's (``Strategy.save``, into the folders named here), loading them is ``strategies.load_checkpoint``'s.

    <job>/checkpoint/
        model/      the whole model, transformers' layout, and its tokenizer (format "merged"); for "bottleneck"
                    the model without its adapters
        adapter/    what a parameter-efficient strategy trained: PEFT's adapter folder, or tuneoff's bottleneck
                    adapters (tuneoff.models.bottleneck)
        base/       the untouched base and its tokenizer, for a PEFT adapter that cannot be merged (format "peft")

The result records it as ``{"path", "adapter"?, "format", "trained_artifact_bytes", "bytes"}``: the folder to load
(and its tokenizer) and the adapter's, relative to the job folder; how to load them; the bytes of what was
trained (the adapter where there is one, else the whole model); the bytes of the whole checkpoint.

An adapter folder exported with its base (``tuneoff export --no-merge``) holds that base in ``base/``
(``EXPORTED_BASE``), where ``tuneoff.models.bottleneck.from_pretrained`` and the card look for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MERGED, PEFT, BOTTLENECK = "merged", "peft", "bottleneck"  # the record's formats: how its folders load
FORMATS = (MERGED, PEFT, BOTTLENECK)  # also Checkpoint.MERGED, ... for a save hook that holds only a Checkpoint
EXPORTED_BASE = "base"  # the base written beside an exported adapter, inside its folder


def folder_bytes(path: Path) -> int:
    """The bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def exported_base(adapter_folder: Path) -> Path:
    """Where an exported adapter folder holds the base written beside it."""
    return Path(adapter_folder) / EXPORTED_BASE


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint of the job in folder ``job``: where a strategy writes it (``model``, ``adapter``, ``base``,
    then ``record``), and, given the result's record, what it holds (``weights``, ``adapter_weights``, ``format``)
    and whether a file of it is lost (``missing``). Picklable."""

    job: Path
    recorded: Mapping = field(default_factory=dict)  # the result's "checkpoint" record; empty while being written

    FOLDER = "checkpoint"
    MERGED, PEFT, BOTTLENECK = MERGED, PEFT, BOTTLENECK

    @classmethod
    def of(cls, result: Mapping, job: Path = Path()) -> Checkpoint:
        """A result's checkpoint, as its record describes it, in the job folder ``job`` (by default its paths are
        relative to it, for a caller that reads only the record: ``format``, ``merged``, ``has_adapter``)."""
        return cls(Path(job), dict(result.get("checkpoint") or {}))

    # --- the layout: where a strategy's save writes -----------------------------------------------

    @property
    def folder(self) -> Path:
        return self.job / self.FOLDER

    @property
    def model(self) -> Path:
        """The whole model (format merged), or the model without its bottleneck adapters."""
        return self.folder / "model"

    @property
    def adapter(self) -> Path:
        """What a parameter-efficient strategy trained (PEFT's adapter, or the bottleneck adapters)."""
        return self.folder / "adapter"

    @property
    def base(self) -> Path:
        """The untouched base of a PEFT adapter that is not merged."""
        return self.folder / "base"

    def record(self, weights: Path, format: str, adapter: bool = False) -> dict:
        """The result's ``checkpoint`` record once the strategy has written it: ``weights`` is the folder to load
        (``model`` or ``base``) with its tokenizer, ``adapter`` whether ``self.adapter`` was written too."""
        if format not in FORMATS:
            raise ValueError(f"checkpoint format {format!r}; expected one of {list(FORMATS)}")
        if weights not in (self.model, self.base):
            raise ValueError(f"checkpoint weights {weights}: expected {self.model} or {self.base}")
        out = {"path": self._relative(weights)}
        if adapter:
            out["adapter"] = self._relative(self.adapter)
        trained = self.adapter if adapter else weights
        return {
            **out,
            "format": format,
            "trained_artifact_bytes": folder_bytes(trained),
            "bytes": folder_bytes(self.folder),
        }

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.job).as_posix()

    # --- a recorded checkpoint: what it holds -----------------------------------------------------

    @property
    def weights(self) -> Path:
        """The folder to load, with its tokenizer: the whole model, the base of a PEFT adapter, or the model
        without its bottleneck adapters."""
        return self.job / self._path

    @property
    def adapter_weights(self) -> Path | None:
        """The adapter folder the record names, None when it names none."""
        return self.job / self.recorded["adapter"] if self.has_adapter else None

    def recorded_adapter(self) -> Path:
        """The adapter folder the record names, for a loader that needs one (a record that names none is refused)."""
        if (path := self.adapter_weights) is None:
            raise ValueError(f"{self.job}: its checkpoint record ({self.format}) names no adapter folder")
        return path

    @property
    def has_adapter(self) -> bool:
        return bool(self.recorded.get("adapter"))

    @property
    def format(self) -> str:
        return self.recorded.get("format", MERGED)

    @property
    def merged(self) -> bool:
        """Whether ``weights`` alone is the trained model (plain transformers loads it)."""
        return self.format == MERGED

    @property
    def _path(self) -> str:
        return self.recorded.get("path", self._relative(self.model))

    def missing(self) -> str | None:
        """What is wrong with the recorded checkpoint: a file it needs, as the record names it (relative to the
        job folder), missing or unreadable; None when nothing is."""
        needed = [f"{self._path}/config.json", f"{self._path}/model.safetensors"]
        if self.has_adapter:
            needed.append(f"{self.recorded['adapter']}/adapter_config.json")
        for name in needed:
            try:
                with open(self.job / name, "rb"):
                    pass
            except PermissionError:
                return f"{name} (unreadable: permission denied)"
            except OSError:
                return name
        return None
