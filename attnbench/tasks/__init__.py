"""Tasks: built-ins register on import; plugins load from the ``attnbench.tasks`` entry points."""

from attnbench.tasks.base import PluginContractWarning, Task, validation_split
from attnbench.tasks.registry import TASKS, build_task, get_task, list_tasks, register_task

# Built-ins register themselves on import.
from attnbench.tasks import copy_task, denoise_task, adding_task, digits_task, mnist_task, mqar_task  # noqa: F401  isort: skip

__all__ = [
    "TASKS",
    "PluginContractWarning",
    "Task",
    "build_task",
    "get_task",
    "list_tasks",
    "register_task",
    "validation_split",
]
