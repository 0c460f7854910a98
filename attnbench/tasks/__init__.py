"""Tasks: built-ins register on import; plugins load from the ``attnbench.tasks`` entry points."""

from attnbench.tasks.base import Task
from attnbench.tasks.registry import TASKS, build_task, get_task, list_tasks, register_task

__all__ = ["TASKS", "Task", "build_task", "get_task", "list_tasks", "register_task"]
