"""Recurrent variants: the four built-ins register on import; plugins load from entry points."""

from attnbench.variants.base import (
    Diagnostics,
    FlopCount,
    RecurrentVariant,
    Shape,
    VariantOutput,
    add_counts,
    linear_flops,
)
from attnbench.variants.registry import (
    VARIANTS,
    build_seeded,
    build_variant,
    get_variant,
    list_variants,
    register_variant,
)

# Built-ins register themselves on import.
from attnbench.variants import lstm, dense, sab, rsm  # noqa: F401  isort: skip

__all__ = [
    "VARIANTS",
    "Diagnostics",
    "FlopCount",
    "RecurrentVariant",
    "Shape",
    "VariantOutput",
    "add_counts",
    "build_seeded",
    "build_variant",
    "get_variant",
    "linear_flops",
    "list_variants",
    "register_variant",
]
