"""The interface every recurrent variant implements, built-in or plugin.

A variant is an ``nn.Module`` that maps inputs ``(B, T, I)`` to per-step outputs ``(B, T, C)``.
Its hyperparameters are declared once, as :class:`~attnbench.params.Param` tuples, which gives
validation, ``attnbench list``, the sweep axes and the docs for free. On request
(``diagnostics=True``) it also returns what a benchmark needs to look inside: per-step hidden
states (still in the autograd graph, for gradient-reach measurement), the attention weights and the
time steps they belong to, and how many past states the memory holds at each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn

from attnbench.errors import PluginFault
from attnbench.params import Param, ParameterError, resolve_params


@dataclass
class Diagnostics:
    """What a variant exposes about one forward pass (all lists have one entry per time step).

    Attributes:
        hidden: the state that feeds the next step, (B, H) each, part of the autograd graph.
        weights: attention weights (B, K_t), or None where the step attended over nothing.
        attended: the time steps the weights belong to (B, K_t) long, or None likewise.
        occupancy: (B, T) long, the number of past states held in memory at each step.
    """

    hidden: list[Tensor]
    weights: list[Tensor | None] = field(default_factory=list)
    attended: list[Tensor | None] = field(default_factory=list)
    occupancy: Tensor | None = None


@dataclass
class VariantOutput:
    """Per-step outputs (B, T, C) and, when asked for, the diagnostics."""

    logits: Tensor
    diagnostics: Diagnostics | None = None


@dataclass(frozen=True)
class Shape:
    """The sizes an analytic FLOP count depends on."""

    batch: int
    seq_len: int
    input_size: int
    output_size: int
    hidden_size: int


@dataclass(frozen=True)
class FlopCount:
    """Matrix-multiply FLOPs (2 per multiply-add) of one forward and one backward pass."""

    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


HIDDEN = Param("hidden_size", 128, int, low=1, help="recurrent state size H")


class RecurrentVariant(nn.Module):
    """Base class of every variant.

    Subclasses set ``params`` (their declared hyperparameters) and a one-line ``description``,
    implement :meth:`build` (create modules from ``self.config``) and :meth:`forward`, and may
    override :meth:`analytic_flops` and :meth:`skip`. Register with
    ``@attnbench.variants.register_variant``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 128, **params: Any) -> None:
        super().__init__()
        owner = self.name or type(self).__name__
        for label, value in (("input_size", input_size), ("output_size", output_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{owner}: {label}={value!r} is not allowed; expected an integer >= 1")
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size = HIDDEN.validate(hidden_size, owner)
        self.config: dict[str, Any] = resolve_params(self.params, params, owner)
        self.build()
        # the first forward pass checks the output's shape, so a variant's mistake names the variant
        self._output_check = self.register_forward_hook(_check_output)

    def build(self) -> None:
        """Create parameters and submodules from ``self.config`` and the sizes."""
        raise NotImplementedError

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:  # (B, T, I) -> (B, T, C)
        raise NotImplementedError

    def group_forward(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """Forward pass of G replicates of this configuration at once (optional: see docs/plugins.md).

        ``params`` maps every name of ``self.named_parameters()`` to its stack over the group, shape
        (G, *shape) (replicate g's weights at index g); ``x`` is (G, B, T, I). Returns logits (G, B, T, C),
        differentiable with respect to every stacked tensor. ``self`` supplies the configuration and
        sizes only; its own parameters are not used. Replicates must not interact: replicate g's output
        depends only on its own weights and ``x[g]``, and its gradients equal those of :meth:`forward`
        alone. A variant that does not implement it has its replicates trained one after another.
        """
        raise NotImplementedError(f"variant {self.name or type(self).__name__!r} does not train grouped")

    @classmethod
    def trains_grouped(cls) -> bool:
        """Whether this variant implements :meth:`group_forward` (its replicates can train together)."""
        return cls.group_forward is not RecurrentVariant.group_forward

    @classmethod
    def resolve(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``params`` and fill in defaults (no model is built)."""
        return resolve_params(cls.params, params, cls.name or cls.__name__)

    @classmethod
    def skip(cls, seq_len: int, **params: Any) -> str | None:
        """Why this configuration makes no sense (for example top-k above the memory size), or None."""
        return None

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float] | None:
        """How this configuration's costs grow with sequence length T, asymptotically.

        ``{"time": e, "flops": e, "memory": e}`` (memory: bytes kept for backward), e.g. 2 for attention
        over every past state. Reports print the fitted exponent beside these, so a wrong
        implementation shows at a glance. None: nothing declared.
        """
        return None

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount | None:
        """Matrix-multiply FLOPs of a forward and backward pass, derived by hand; None if unknown."""
        return None

    def check_input(self, x: Tensor) -> tuple[int, int]:
        """Raise a clear ValueError unless ``x`` is (B, T, input_size); return (B, T)."""
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"{self.name}: expected input of shape (B, T, {self.input_size}), got {tuple(x.shape)}")
        return x.shape[0], x.shape[1]


class VariantOutputError(PluginFault, TypeError):
    """A variant's forward pass returned something other than a VariantOutput of (B, T, C) logits."""


def _origin(module: RecurrentVariant) -> str:
    try:
        from attnbench.variants.registry import VARIANTS

        origin = VARIANTS.origin(module.name) if module.name in VARIANTS else None
    except Exception:
        origin = None
    return f" (from {origin})" if origin else f" (class {type(module).__module__}.{type(module).__qualname__})"


def _check_output(module: RecurrentVariant, args: tuple[Any, ...], output: Any) -> None:
    """Forward hook run once: the output must be a VariantOutput with logits (B, T, output_size)."""
    x = args[0] if args else None
    logits = getattr(output, "logits", None)
    if not isinstance(logits, Tensor):
        raise VariantOutputError(
            f"variant {module.name or type(module).__name__!r}{_origin(module)} returned {type(output).__name__}; "
            "forward must return VariantOutput(logits) with logits of shape (B, T, C)"
        )
    if isinstance(x, Tensor) and x.dim() == 3:
        expected = (x.shape[0], x.shape[1], module.output_size)
        if tuple(logits.shape) != expected:
            raise VariantOutputError(
                f"variant {module.name or type(module).__name__!r}{_origin(module)} returned logits of shape "
                f"{tuple(logits.shape)} for input {tuple(x.shape)}; expected (B, T, C) = {expected}"
            )
    module._output_check.remove()


def linear_flops(rows: float, fan_in: int, fan_out: int) -> FlopCount:
    """FLOPs of ``rows`` applications of a ``fan_in -> fan_out`` linear map (weights trainable).

    Backward computes the input gradient and the weight gradient: twice the forward.
    """
    fwd = 2.0 * rows * fan_in * fan_out
    return FlopCount(fwd, 2 * fwd)


def bank_key_flops(batch: int, rows: int, rows_read: int, value_dim: int, key_dim: int) -> FlopCount:
    """Keys computed by a :class:`~attnbench.ops.StateBank` with ``key_weight``: one projection per row
    forward; backward, the weight gradient over every row and the value gradient of each row that some
    later read saw (the newest row's append is never reached in backward if nothing read it)."""
    per_row = 2.0 * batch * value_dim * key_dim
    return FlopCount(per_row * rows, per_row * (rows + rows_read))


def add_counts(*counts: FlopCount) -> FlopCount:
    """Sum of FLOP counts."""
    return FlopCount(sum(c.forward for c in counts), sum(c.backward for c in counts))


__all__ = [
    "Diagnostics",
    "FlopCount",
    "RecurrentVariant",
    "Shape",
    "VariantOutput",
    "VariantOutputError",
    "add_counts",
    "linear_flops",
]
