"""mqar: multi-query associative recall, as Zoology defines it.

Arora, Eyuboglu et al., "Zoology: Measuring and Improving Recall in Efficient Language Models" (ICLR
2024), and their generator (HazyResearch/zoology, ``zoology/data/multiquery_ar.py``), rebuilt here on a
torch generator so batches are drawn on the fly. With V the vocabulary, N the number of pairs and T the
length::

    position   0  1  2  3  ...  2N-2 2N-1 | 2N ...                                      T-1
    input      k1 v1 k2 v2 ...  kN   vN   | random tokens, with key k_i again at 2N + 2 g_i
    label      ignored                    | v_i at 2N + 2 g_i (the query), ignored elsewhere

Keys are N distinct tokens of 1..V/2-1, values N distinct tokens of V/2..V-1; the gaps g_i are N
distinct draws from 0..(T-2N)/2-1 with probability proportional to g^(a-1), a = 0.01 (a power law:
most queries come soon after the pairs, a few far later); the filler is uniform over the whole
vocabulary (Zoology's ``random_non_queries``), so it can repeat a key without being asked about it.
As in Zoology's loss (labels -100 elsewhere), only the N query positions are trained on and scored.

Our variants read one-hot inputs (B, T, V) and emit logits over the V tokens at every step. The number
of pairs is how much must be remembered: a fixed-size state must hold N bindings until their query,
while attention can look each one up. A single recurrent layer can learn the task: the state at a
value's position still holds the key just before it (the previous-token information a one-layer
attention model lacks), so attention from the query to that state finds the binding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.errors import UsageError
from attnbench.params import Param
from attnbench.tasks._recall import OneHotTask, _check
from attnbench.tasks.registry import register_task

IGNORE = -100  # label of the positions that are neither trained on nor scored (Zoology's, torch's default)
POWER_A = 0.01  # Zoology's power_a: query gaps drawn with probability proportional to g^(a - 1)
ZOOLOGY_RATIO = 16  # Zoology's figure pairs sequence lengths 64, 128, 256 with 4, 8, 16 pairs


@register_task
class MQARTask(OneHotTask):
    """Multi-query associative recall: recall each key's value when the key comes again."""

    name = "mqar"
    description = "multi-query associative recall (Zoology): key-value pairs, then queries of the keys"
    params = (
        Param("seq_len", 64, int, low=4, axis="seq_len", help="sequence length T (even, below vocab_size)"),
        Param(
            "pairs",
            None,
            int,
            low=1,
            axis="pairs",
            none_means="seq_len/16, as in Zoology's figure",
            help="key-value pairs N to remember (4N <= T)",
        ),
        Param("vocab_size", 8192, int, low=8, help="vocabulary V (Zoology's figure: 8192; V > T)"),
        Param("lag", 0, int, low=0, high=8, help="steps from a query to the step its value is due (Zoology: 0)"),
    )
    metric = "accuracy"
    higher_is_better = True
    target = 0.99  # solved: near-perfect recall (Zoology counts attention's ~100% as solving it)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        t, v = self.seq_len, self.vocab_size
        pairs = self.pairs
        problems = [
            (t % 2 != 0, f"seq_len={t} is not allowed; expected an even length"),
            (v <= t, f"vocab_size={v} is not allowed; expected more tokens than seq_len={t}"),
            # 4N <= T < V also leaves at least N distinct keys in 1..V/2-1
            (4 * pairs > t, f"pairs={pairs} is not allowed; expected 1 to seq_len/4 = {t // 4} (pairs, then queries)"),
            (
                self.query_slots < pairs,
                f"lag={self.lag} is not allowed here; expected at most {t + 1 - 4 * pairs} for seq_len={t} "
                f"and pairs={pairs} (every query's answer must fit)",
            ),
        ]
        for bad, text in problems:
            if bad:
                raise UsageError(f"{self.name}: {text}")

    @property
    def seq_len(self) -> int:
        return int(self.config["seq_len"])

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def pairs(self) -> int:
        given = self.config["pairs"]
        return max(1, self.seq_len // ZOOLOGY_RATIO) if given is None else int(given)

    @property
    def lag(self) -> int:
        return int(self.config["lag"])

    @property
    def query_slots(self) -> int:
        """Even offsets after the pairs where a query can stand with its answer inside the sequence."""
        # Zoology's (T - 2N) / 2 when lag <= 1; one fewer per two steps of lag beyond that
        return (self.seq_len - 1 - self.lag - 2 * self.pairs) // 2 + 1

    @property
    def input_size(self) -> int:
        return self.vocab_size

    @property
    def output_size(self) -> int:
        return self.vocab_size

    @property
    def chance(self) -> float:
        """Guessing one of the V/2 value tokens without reading the input.

        (A model that only learns which values the sequence holds, and not which key they belong to,
        scores about 1/pairs; the report's chance line is the input-blind 2/V.)
        """
        return 1.0 / (self.vocab_size - self.vocab_size // 2)

    def codes(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Input tokens (B, T) and labels (B, T), both long, labels IGNORE except at the queries."""
        b, t, v, n = batch_size, self.seq_len, self.vocab_size, self.pairs
        dev = generator.device
        half = v // 2
        # N distinct keys from 1..V/2-1 and N distinct values from V/2..V-1: the first N of a random order
        keys = torch.rand(b, half - 1, generator=generator, device=dev).argsort(1)[:, :n] + 1
        values = torch.rand(b, v - half, generator=generator, device=dev).argsort(1)[:, :n] + half
        context = 2 * n
        space = self.query_slots
        weights = POWER_A * torch.arange(1, space + 1, device=dev, dtype=torch.float64) ** (POWER_A - 1)
        # N distinct gaps, drawn one after another with renormalised weights (numpy's choice without replacement)
        gaps = torch.multinomial(weights.expand(b, space), n, replacement=False, generator=generator)
        filler = torch.randint(0, v, (b, t), generator=generator, device=dev)
        x = filler  # drawn for this batch alone: written in place
        x[:, 0:context:2] = keys
        x[:, 1:context:2] = values
        where = context + 2 * gaps  # (B, N) query positions
        x.scatter_(1, where, keys)
        y = torch.full((b, t), IGNORE, dtype=torch.long, device=dev)
        y.scatter_(1, where + self.lag, values)
        return x, y

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        _check(self, logits, y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)

    def score(self, logits: Tensor, y: Tensor) -> float:
        _check(self, logits, y)
        asked = y != IGNORE
        return (logits.argmax(-1)[asked] == y[asked]).float().mean().item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The loss at each sequence's last query (the last step itself is usually not asked about)."""
        _check(self, logits, y)
        steps = torch.arange(y.shape[1], device=y.device).expand_as(y)
        last = torch.where(y != IGNORE, steps, -1).amax(1)  # (B,) every sequence has N >= 1 queries
        rows = torch.arange(y.shape[0], device=y.device)
        return F.cross_entropy(logits[rows, last], y[rows, last])
