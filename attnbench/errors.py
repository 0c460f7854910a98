"""Errors that mean the user asked for something that cannot be: reported in one line, exit code 2."""

from __future__ import annotations

from attnbench.params import ParameterError
from attnbench.registry import UnknownNameError

# A bad command line, file or value: the same class as ParameterError, so that every validator raises
# one error type (a ValueError whose one-line message names the bad value and what is allowed).
UsageError = ParameterError

# Everything the CLI turns into a one-line error and exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ParameterError, UnknownNameError)

__all__ = ["USER_ERRORS", "ParameterError", "UnknownNameError", "UsageError"]
