"""asv benchmarks of replicate groups: one training step of G replicates trained together.

``GroupStep.time_step`` times a grouped training step (forward, per-replicate loss, backward, clip, Adam)
at the quick preset's model size (hidden 32, batch 16; copy delay 60, longer than its delays);
``track_replicate_steps_per_s`` is its throughput in replicate-steps per second, the figure that shows
whether grouping still pays (scripts/group_speed.py gives the full table, G = 1, 3, 9, 27 at two sizes,
interleaved rounds).
"""

from __future__ import annotations

import statistics

from benchmarks import pin_threads


class GroupStep:
    params = (["lstm", "dense", "sab", "rsm"], [1, 9])
    param_names = ("variant", "G")
    timeout = 300

    def setup(self, variant: str, g: int) -> None:
        pin_threads()
        from attnbench.groups import timed_group_step
        from attnbench.tasks import build_task

        params = {"lstm": {"k_trunc": None}, "sab": {"k_att": 2, "k_trunc": 5, "k_top": 2, "max_mem": 4}}
        params["rsm"] = {"rho": 4}
        task = build_task("copy", seq_len=60)
        self.timed, _ = timed_group_step(variant, task, 32, 16, g, "cpu", **params.get(variant, {}))
        self.timed()  # first calls allocate

    def time_step(self, variant: str, g: int) -> None:
        self.timed()

    def track_replicate_steps_per_s(self, variant: str, g: int) -> float:
        times = [self.timed() for _ in range(3)]
        return g / statistics.median(times)

    track_replicate_steps_per_s.unit = "replicate-steps/s"
