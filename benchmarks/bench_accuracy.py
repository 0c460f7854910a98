"""asv benchmark of learning: accuracy after a short deterministic training run, one per variant.

The task is ``digits`` (scikit-learn's 8x8 digits read pixel by pixel: 64 steps, 10 classes, chance
0.1), which every built-in variant learns well above chance within the grid's budget
(``GRID["accuracy"]``: on the CPU grid 150 Adam steps of batch 32, hidden size 32, learning rate 0.01,
about half of the digits right), so the figure moves when a variant's learning breaks. The copy task
of the cost benchmarks does not: within such budgets every variant stays at 0 on it. Each variant
is trained once per seed at the first configuration of the grid it has (rsm at memory 8, sab at
top-k 4), on the grid's device; the figures are means over the seeds.

asv counts every figure lower-is-better, so the accuracy is tracked as its inverse,
``track_inverse_score`` = 1 / accuracy (1/chance = 10 when nothing is learnt): ``asv continuous
--factor 1.1`` then fails when the accuracy falls by more than a tenth of itself, and an improvement
shows as one. ``attnbench report`` turns it back into the accuracy. ``track_final_loss`` is the mean
training loss over the last steps. A run filtered with ``-b`` trains only the variants it selects
(benchmarks/cache.py).
"""

from __future__ import annotations

import itertools
import statistics

from asv_runner.benchmarks.mark import skip_for_params

from benchmarks import pin_threads
from benchmarks.cache import cache_folder, cached
from benchmarks.grid import GRID, PARAM_NAMES, point

TASK = "digits"
SEQ_LEN = "64"  # digits' fixed length
MIN_SCORE = 1e-3  # the inverse of an accuracy of 0 is reported as 1/MIN_SCORE, not infinity


def _points() -> tuple[list[list[str]], list[tuple[str, ...]]]:
    """asv's parameter lists and the combinations to skip: all but the first valid point of each variant."""
    params = [GRID["variant"], [SEQ_LEN], GRID["memory"], GRID["top_k"], [TASK], GRID["threads"]]
    chosen: dict[str, tuple[str, ...]] = {}
    for key in itertools.product(*params):
        if key[0] not in chosen and not isinstance(point(*key), str):
            chosen[key[0]] = key
    skipped = [p for p in itertools.product(*params) if p not in chosen.values()]
    return params, skipped


PARAMS, SKIPPED = _points()


class Accuracy:
    """Held-out accuracy (as its inverse) and final training loss of each variant after a short training run."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 900

    def setup_cache(self) -> str:
        """The folder the per-variant training runs are cached in (nothing is trained here)."""
        return cache_folder()

    def setup(self, folder: str, *key: str) -> None:
        p = point(*key)
        if key in SKIPPED or isinstance(p, str):
            raise NotImplementedError("not an accuracy point" if not isinstance(p, str) else p)
        pin_threads()
        self.row = cached(folder, key, lambda: _train(p))

    @skip_for_params(SKIPPED)
    def track_inverse_score(self, folder: str, *point: str) -> float:
        return 1.0 / max(self.row["score"], MIN_SCORE)

    @skip_for_params(SKIPPED)
    def track_final_loss(self, folder: str, *point: str) -> float:
        return self.row["final_loss"]

    track_inverse_score.unit = "1/accuracy"
    track_final_loss.unit = "loss"


def _train(p) -> dict:
    """Train grid point ``p`` once per seed of the accuracy budget; the mean score and loss, and each run's."""
    import torch

    from attnbench.config import Options
    from attnbench.training import train_point

    budget = GRID["accuracy"]
    device = GRID["device"] if GRID["device"] != "cuda" or torch.cuda.is_available() else "cpu"
    options = Options(train_steps=budget["steps"], train_batch=budget["batch"], lr=budget["lr"])
    p = p.replace(hidden_size=budget["hidden_size"], device=device)
    runs = []
    for seed in budget["seeds"]:
        result = train_point(p.replace(seed=seed), options)
        runs.append({"seed": seed, "score": result.score, "final_loss": result.final_loss, "chance": result.chance})
    return {
        "score": statistics.fmean(r["score"] for r in runs),
        "final_loss": statistics.fmean(r["final_loss"] for r in runs),
        "runs": runs,
    }
