"""The variant registry: ``register_variant``, ``get_variant``, ``list_variants``, ``build_variant``."""

from __future__ import annotations

from typing import Any

from attnbench.registry import Registry
from attnbench.variants.base import RecurrentVariant

VARIANTS: Registry[type[RecurrentVariant]] = Registry("variant", "attnbench.variants", RecurrentVariant)


def register_variant(cls: type[RecurrentVariant] | None = None, *, name: str | None = None):  # noqa: ANN201
    """Class decorator registering a :class:`RecurrentVariant` under ``name`` (default: ``cls.name``)."""
    return VARIANTS.register(cls, name=name)


def get_variant(name: str) -> type[RecurrentVariant]:
    """The variant class registered as ``name``; raises :class:`UnknownNameError` listing known names."""
    return VARIANTS.get(name)


def list_variants() -> list[str]:
    """Names of every registered variant, plugins included."""
    return VARIANTS.names()


def build_variant(
    name: str, input_size: int, output_size: int, hidden_size: int = 128, **params: Any
) -> RecurrentVariant:
    """Construct variant ``name`` with validated parameters."""
    return get_variant(name)(input_size, output_size, hidden_size, **params)


def build_seeded(
    name: str, input_size: int, output_size: int, hidden_size: int = 128, seed: int = 0, **params: Any
) -> RecurrentVariant:
    """:func:`build_variant` with its weights initialised from ``seed``; the global torch RNG is left as
    it was. (What :meth:`attnbench.config.Point.build_model` and :func:`attnbench.training.build_model`
    build with.)"""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_variant(name, input_size, output_size, hidden_size, **params)
