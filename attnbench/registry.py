"""Name -> class registries for variants and tasks.

Built-ins register on import; outside packages contribute through the entry-point groups
``attnbench.variants`` and ``attnbench.tasks`` declared in their pyproject.toml. A plugin that
fails to import, or that claims a name already taken, is recorded in :attr:`Registry.plugin_errors`
and skipped: everything else keeps working.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class UnknownNameError(KeyError):
    """Asked for a name nobody registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class PluginError:
    """A plugin entry point that could not be registered."""

    group: str
    entry_point: str  # "name = module:object"
    package: str  # distribution that declares it
    error: str

    def __str__(self) -> str:
        return f"{self.package}: entry point {self.entry_point!r} in {self.group}: {self.error}"

    @property
    def name(self) -> str:
        """The name the entry point would have registered."""
        return self.entry_point.split(" = ")[0]


def _check_declaration(cls: type) -> None:
    """Raise if a plugin class's own declaration is unusable (a parameter default outside its bounds).

    Caught at load, such a plugin is reported as failed instead of breaking whatever asks for its
    defaults later (a report over results that never used it, a train run blaming the user).
    """
    resolve = getattr(cls, "resolve", None)
    if callable(resolve):
        try:
            resolve({})
        except Exception as exc:
            raise TypeError(f"its declared parameter defaults are invalid: {exc}") from None


class Registry(Generic[T]):
    """A registry of classes by name, with lazy loading of entry-point plugins."""

    def __init__(self, kind: str, group: str, base: type) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._plugins_loaded = False
        self.plugin_errors: list[PluginError] = []

    def register(
        self, cls: T | None = None, *, name: str | None = None, origin: str = "attnbench"
    ) -> Callable[[T], T] | T:
        """Class decorator: ``@registry.register`` or ``@registry.register(name="x")``."""

        def deco(c: T) -> T:
            self._add(name or c.__dict__.get("name") or c.__name__.lower(), c, origin)
            return c

        return deco(cls) if cls is not None else deco

    def _add(self, name: str, cls: T, origin: str) -> None:
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{self.kind} {name!r} must be a subclass of {self.base.__qualname__}, got {cls!r}")
        if name in self._items and self._items[name] is not cls:
            raise ValueError(f"{self.kind} name {name!r} is already taken by {self._origin[name]}")
        cls.name = name
        self._items[name] = cls
        self._origin[name] = origin

    def load_plugins(self) -> None:
        """Import every entry point of :attr:`group` once; record failures instead of raising."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in importlib.metadata.entry_points(group=self.group):
            package = ep.dist.name if ep.dist is not None else "unknown package"
            label = f"{ep.name} = {ep.value}"
            try:
                obj = ep.load()
                if isinstance(obj, type):
                    _check_declaration(obj)
                    self._add(ep.name, obj, origin=f"plugin package {package}")
                elif ep.name not in self._items:
                    raise TypeError(f"entry point must name a {self.base.__qualname__} subclass, got {obj!r}")
            except Exception as exc:  # a broken plugin must not take the others down
                self.plugin_errors.append(PluginError(self.group, label, package, f"{type(exc).__name__}: {exc}"))

    def reload_plugins(self) -> None:
        """Forget the plugins loaded so far and their errors, then load the entry points again.

        For a process whose installed packages changed, and for tests; built-ins and classes
        registered from code stay.
        """
        for name in [n for n, origin in self._origin.items() if origin.startswith("plugin package ")]:
            del self._items[name], self._origin[name]
        self.plugin_errors = []
        self._plugins_loaded = False
        self.load_plugins()

    def get(self, name: str) -> T:
        """The class registered as ``name``; :class:`UnknownNameError` lists the known names."""
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            message = f"unknown {self.kind} {name!r}; known {self.kind}s: {known}"
            failed = [err for err in self.plugin_errors if err.name == name]
            if failed:
                message += "; " + "; ".join(
                    f"{name!r} failed to load from plugin package {err.package}: {err.error}" for err in failed
                )
            raise UnknownNameError(message) from None

    def origin(self, name: str) -> str:
        """Who registered ``name``: ``attnbench`` or ``plugin package <dist>``."""
        self.get(name)
        return self._origin[name]

    def names(self) -> list[str]:
        """Registered names, built-ins and plugins, sorted."""
        self.load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
