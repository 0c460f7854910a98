"""The task registry: ``register_task``, ``get_task``, ``list_tasks``, ``build_task``."""

from __future__ import annotations

from typing import Any

from attnbench.registry import Registry
from attnbench.tasks.base import Task

TASKS: Registry[type[Task]] = Registry("task", "attnbench.tasks", Task)


def register_task(cls: type[Task] | None = None, *, name: str | None = None):  # noqa: ANN201
    """Class decorator registering a :class:`Task` under ``name`` (default: ``cls.name``)."""
    return TASKS.register(cls, name=name)


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``; raises :class:`UnknownNameError` listing known names."""
    return TASKS.get(name)


def list_tasks() -> list[str]:
    """Names of every registered task, plugins included."""
    return TASKS.names()


def build_task(name: str, **params: Any) -> Task:
    """Construct task ``name`` with validated parameters."""
    return get_task(name)(**params)
