"""Plugins the tests install: :mod:`tests.plugins.old_contract` is frozen (see its docstring)."""
