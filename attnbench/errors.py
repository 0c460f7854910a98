"""Errors that mean the user asked for something that cannot be: reported in one line, exit code 2."""

from __future__ import annotations

from attnbench.params import ParameterError
from attnbench.registry import UnknownNameError

# A bad command line, file or value: the same class as ParameterError, so that every validator raises
# one error type (a ValueError whose one-line message names the bad value and what is allowed).
UsageError = ParameterError


class PluginFault(RuntimeError):
    """A variant or task broke its contract (e.g. returned the wrong shape); the message names it and its
    package. The CLI reports it in one line with exit code 1: the plugin's bug, not the user's."""


# Everything the CLI turns into a one-line error and exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ParameterError, UnknownNameError)

__all__ = ["USER_ERRORS", "ParameterError", "PluginFault", "UnknownNameError", "UsageError"]
