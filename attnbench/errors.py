"""Errors that mean the user asked for something that cannot be: reported in one line, exit code 2."""

from __future__ import annotations

from attnbench.params import ParameterError
from attnbench.registry import UnknownNameError


class UsageError(ValueError):
    """A bad command line, file or value; the message names the bad value and what is allowed."""


# Everything the CLI turns into a one-line error and exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (UsageError, ParameterError, UnknownNameError)

__all__ = ["USER_ERRORS", "ParameterError", "UnknownNameError", "UsageError"]
