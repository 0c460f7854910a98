"""Every figure attnbench measures, declared once: name, unit, meaning, and how the report and asv use it.

:mod:`attnbench.schema` takes its metric columns from here, the report its cost list (which costs
it plots, under which name, and how each scales with the sequence length), the asv benchmarks their
``track_`` methods, ``attnbench measure`` the lines of its printout it has no special layout for,
and docs/schema.md its Metrics table. Adding a metric is its measurement (in
:mod:`attnbench.measure.point`) and one :class:`Metric` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """One figure of a result row (or one the report derives from them, ``column=False``).

    ``cost``: the report's name for it when it is a cost the report plots; costs with the same
    ``chain`` are alternatives, the first one measured for a task is plotted (``rank`` orders them).
    ``scales_as``: the kind of declared scaling exponent it follows (``time``, ``flops``, ``memory``;
    see ``RecurrentVariant.scaling_exponents``); ``analytic``: the column of its analytic count.
    ``device``: where it can be had (``any``; ``cuda``: a CUDA device; ``nvml``: an NVIDIA GPU).
    ``asv``: tracked by the asv ``Track`` cost benchmarks (score and final_loss are tracked after a
    training run of their own by benchmarks/bench_accuracy.py, the score as its inverse).
    """

    name: str
    unit: str
    meaning: str
    better: Literal["lower", "higher", "task"] | None = None  # task: the task says (higher_is_better)
    device: Literal["any", "cuda", "nvml"] = "any"
    cost: str | None = None
    chain: str | None = None
    rank: int = 0
    scales_as: Literal["time", "flops", "memory"] | None = None
    analytic: str | None = None
    noisy_flag: str | None = None
    asv: bool = False
    column: bool = True


METRICS: tuple[Metric, ...] = (
    Metric("fwd_time_s", "s", "median wall time of a forward pass (device-synchronised)", "lower",
           cost="forward time", chain="time", rank=1, scales_as="time", noisy_flag="fwd_time_noisy"),
    Metric("fwd_time_iqr_s", "s", "interquartile range of the forward-pass samples", "lower"),
    Metric("fwd_time_n", "count", "number of timed forward passes"),
    Metric("fwd_time_noisy", "bool", "forward IQR/median above 10%"),
    Metric("step_time_s", "s", "median wall time of a training step: forward, loss, backward", "lower",
           cost="training-step time", chain="time", rank=0, scales_as="time", noisy_flag="step_time_noisy"),
    Metric("step_time_iqr_s", "s", "interquartile range of the training-step samples", "lower"),
    Metric("step_time_n", "count", "number of timed training steps"),
    Metric("step_time_noisy", "bool", "training-step IQR/median above 10%"),
    Metric("compile_time_s", "s",
           "torch.compile's cost (compile option): first compiled training step minus step_time_s (not in it)",
           "lower"),
    Metric("tokens_per_s", "1/s", "batch * seq_len / step_time_s", "higher"),
    Metric("saved_bytes", "bytes", "bytes autograd keeps for backward (saved-tensor hooks, distinct storages)",
           "lower", cost="saved for backward", chain="saved", scales_as="memory", asv=True),
    Metric("rss_peak_bytes", "bytes", "peak resident set size of the measuring process (psutil)", "lower",
           cost="process peak RSS", chain="peak memory", rank=1),
    Metric("cuda_peak_allocated_bytes", "bytes", "torch.cuda.max_memory_allocated over a training step", "lower",
           device="cuda", cost="device peak allocated", chain="peak memory", rank=0, scales_as="memory", asv=True),
    Metric("cuda_peak_reserved_bytes", "bytes", "torch.cuda.max_memory_reserved over a training step", "lower",
           device="cuda"),
    Metric("nvml_used_bytes", "bytes",
           "device memory in use per NVML after a training step (context and cache included)", "lower",
           device="nvml", asv=True),
    Metric("flops_fwd", "FLOP",
           "matrix-multiply FLOPs of a forward pass, counted (torch FlopCounterMode + fused RNN ops)", "lower",
           cost="forward FLOPs", chain="flops", rank=1, scales_as="flops", analytic="flops_fwd_analytic", asv=True),
    Metric("flops_bwd", "FLOP", "matrix-multiply FLOPs of a backward pass, counted", "lower",
           scales_as="flops", analytic="flops_bwd_analytic", asv=True),
    Metric("flops_fwd_analytic", "FLOP", "forward FLOPs from the variant's analytic formula", "lower"),
    Metric("flops_bwd_analytic", "FLOP", "backward FLOPs from the variant's analytic formula", "lower"),
    Metric("flops_step", "FLOP", "flops_fwd + flops_bwd: FLOPs of one training step", "lower",
           cost="FLOPs per training step", chain="flops", rank=0, scales_as="flops",
           analytic="flops_step_analytic", column=False),
    Metric("flops_step_analytic", "FLOP", "flops_fwd_analytic + flops_bwd_analytic", "lower",
           cost="analytic FLOPs per training step", chain="flops", rank=2, column=False),
    Metric("flops_per_s", "FLOP/s", "(flops_fwd + flops_bwd) / step_time_s", "higher"),
    Metric("matmul_flops_per_s", "FLOP/s", "the machine's own matrix-multiply rate, measured once per run", "higher"),
    Metric("peak_fraction", "ratio", "flops_per_s / matmul_flops_per_s", "higher"),
    Metric("energy_j", "J", "device energy per training step (NVML total-energy counter)", "lower", device="nvml",
           cost="energy per training step", chain="energy", scales_as="time", asv=True),
    Metric("power_w", "W", "average device power over the energy window", device="nvml"),
    Metric("score", "task metric", "task score on held-out batches after training (see score_metric)", "task"),
    Metric("score_metric", "name", "what score is: accuracy (higher is better) or mse (lower is better)"),
    Metric("higher_is_better", "bool", "direction of score"),
    Metric("chance", "task metric", "score of a predictor that ignores the input"),
    Metric("final_loss", "task loss", "training loss at the end of the accuracy run", "lower"),
    Metric("train_time_s", "s", "wall time of the accuracy run", "lower"),
    Metric("val_score", "task metric", "validation score at the end of training (last point of val_curve)", "task"),
    Metric("val_curve", "JSON",
           "[[step, training seconds, validation score], ...]: the learning curve on the validation split"),
    Metric("val_time_s", "s", "wall time spent on the learning curve's validation (not in its training seconds)",
           "lower"),
    Metric("steps_to_target", "steps", "first curve step whose validation score reaches target", "lower"),
    Metric("seconds_to_target", "s", "training seconds (validation excluded) at steps_to_target", "lower"),
    Metric("transfer_scores", "JSON", "{evaluation length: score} for transfer tasks", "task"),
    Metric("grad_reach", "JSON", "[[distance, norm], ...]: |d loss_T / d h_(T-1-distance)|, mean over the batch"),
    Metric("missing", "JSON", "{metric: reason} for every metric that could not be measured"),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
COLUMN_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.column)
DERIVED_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if not m.column)


def cost_chains() -> tuple[tuple[str, ...], ...]:
    """The costs the report plots: per chain (in declaration order), its alternatives by rank."""
    chains: dict[str, list[Metric]] = {}
    for m in METRICS:
        if m.chain is not None:
            chains.setdefault(m.chain, []).append(m)
    return tuple(tuple(m.name for m in sorted(ms, key=lambda m: m.rank)) for ms in chains.values())


__all__ = ["BY_NAME", "COLUMN_METRICS", "DERIVED_METRICS", "METRICS", "Metric", "cost_chains"]
