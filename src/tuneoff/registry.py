"""Registries of what a config can name: strategies, model sources and data sets.

Adding one is one class and one decorator line (``@STRATEGIES.register`` above it); the training
loop and the config never ask which entry they hold. A package of your own adds entries through
an entry point, so no tuneoff file changes: in its pyproject.toml,

    [project.entry-points."tuneoff.strategies"]
    my_method = "my_package.strategies:MyMethod"

(groups ``tuneoff.strategies``, ``tuneoff.models`` and ``tuneoff.datasets``); the class is
registered the first time a config names an entry that is not built in.
"""

from __future__ import annotations

from importlib import metadata
from typing import Generic, TypeVar

from pydantic import BaseModel

from tuneoff.suggest import did_you_mean

Entry = TypeVar("Entry", bound=BaseModel)


class Registry(dict[str, type[Entry]], Generic[Entry]):
    """name -> options class (a subclass of ``Entry``); ``key`` is the field whose default is the entry's name."""

    def __init__(self, what: str, key: str, group: str):
        super().__init__()
        self.what, self.key, self.group = what, key, group
        self._plugins_loaded = False

    def register(self, cls: type[Entry]) -> type[Entry]:
        """A class decorator: add ``cls`` under its ``key`` field's default."""
        name = cls.model_fields[self.key].default
        if self.get(name, cls) is not cls:
            raise ValueError(f"{self.what} {name!r} is registered twice: {self[name].__name__} and {cls.__name__}")
        self[name] = cls
        return cls

    def load_plugins(self) -> Registry[Entry]:
        """Register the entries installed packages add through entry points (once); returns the registry."""
        if not self._plugins_loaded:
            self._plugins_loaded = True
            for entry in metadata.entry_points(group=self.group):
                self.register(entry.load())
        return self

    def lookup(self, name: str) -> type[Entry]:
        """The class registered under ``name``, after loading entry points if it is not built in."""
        if name not in self:
            self.load_plugins()
        if name not in self:
            raise ValueError(f"unknown {self.what} {name!r}; choices: {sorted(self)}{did_you_mean(name, self)}")
        return self[name]
