"""Regenerate the stored report fixtures (run from the repository root; the output is committed).

    python tests/report/make_fixtures.py

- ``fixtures/sweep_small``: an attnbench results directory, written with ``attnbench.results.ResultsDir``:
  task copy at three lengths, four variants, synthetic metrics with known exponents, and ok, oom,
  error, timeout and skipped points.
- ``fixtures/asv_small``: an asv 0.6 results folder written with asv's own ``Results`` class, so its
  format is asv's: two commits (the reader takes the newest), failed (None) and skipped (NaN) entries.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import shutil
from pathlib import Path

HERE = Path(__file__).parent / "fixtures"
STARTED = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
LENGTHS = (30, 60, 120)
# series -> (variant, params, memory, top_k, time exponent, flops exponent, memory exponent, accuracy by length)
SERIES = {
    "lstm": ("lstm", {"k_trunc": None, "fused": True}, None, None, 1.0, 1.0, 1.0, (0.99, 0.62, 0.31)),
    "dense": ("dense", {}, None, None, 2.0, 2.0, 2.0, (1.0, 0.97, None)),
    "sab[k_att=10,k_top=5,k_trunc=10,max_mem=4]": (
        "sab",
        {"k_trunc": 10, "k_att": 10, "k_top": 5, "max_mem": 4, "mlp_hidden": None},
        4,
        5,
        1.0,
        1.0,
        1.0,
        (None, 0.95, 0.9),
    ),
    "rsm[nu=10,rho=15]": ("rsm", {"nu": 10, "rho": 15}, 15, None, 1.0, 1.0, 1.0, (0.97, 0.93, None)),
}
# (series, length) -> (status, error)
FAILED = {
    ("dense", 120): ("oom", "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("rsm[nu=10,rho=15]", 120): ("timeout", "ran past the 600 s limit"),
    ("sab[k_att=10,k_top=5,k_trunc=10,max_mem=4]", 30): ("error", "RuntimeError: shapes <3> and <4> differ"),
}


def _row(series: str, length: int) -> dict:
    variant, params, memory, top_k, e_time, e_flops, e_mem, accuracy = SERIES[series]
    scale = length / 30
    status, error = FAILED.get((series, length), ("ok", None))
    row = {
        "point_id": f"{variant}_{len(series)}_{length}",
        "label": series,
        "variant": variant,
        "variant_params": json.dumps(params, sort_keys=True),
        "task": "copy",
        "task_params": json.dumps({"delay": length - 20}),
        "seq_len": length,
        "memory": memory,
        "top_k": top_k,
        "batch": 8,
        "hidden_size": 32,
        "device": "cpu",
        "dtype": "float32",
        "seed": 0,
        "train_steps": 200,
        "status": status,
        "error": error,
        "wall_time_s": 1.0 * scale,
        "attnbench_version": "0.1.0",
        "timestamp": "2025-01-01T00:00:00+00:00",
    }
    if status != "ok":
        return row
    flops = 2.0e6 * scale**e_flops * (1 + 0.1 * len(variant))
    step = 2.0e-3 * scale**e_time * (1 + 0.2 * len(variant))
    reach = [[d, math.exp(-d / (5.0 if variant == "lstm" else 40.0))] for d in range(0, length, max(1, length // 10))]
    if variant == "sab":
        reach[-1][1] = 0.0  # truncated: exactly zero gradient far back
    row.update(
        fwd_time_s=step / 3,
        step_time_s=step,
        step_time_iqr_s=step * 0.05,
        step_time_n=20,
        step_time_noisy=False,
        tokens_per_s=8 * length / step,
        saved_bytes=4.0e5 * scale**e_mem * (1 + 0.3 * len(variant)),
        rss_peak_bytes=3.0e8 + 1.0e5 * length,
        flops_fwd=flops / 3,
        flops_bwd=2 * flops / 3,
        flops_fwd_analytic=flops / 3,
        flops_bwd_analytic=2 * flops / 3,
        score=accuracy[LENGTHS.index(length)],
        score_metric="accuracy",
        higher_is_better=True,
        chance=0.125,
        final_loss=0.3,
        train_time_s=20.0 * scale,
        grad_reach=json.dumps(reach),
        missing=json.dumps({"energy_j": "no NVML on cpu", "cuda_peak_allocated_bytes": "cpu run"}),
    )
    if row["score"] is None:
        row["missing"] = json.dumps({"score": "accuracy run diverged", "energy_j": "no NVML on cpu"})
    return row


def make_sweep(out: Path) -> None:
    from attnbench.results import ResultsDir

    shutil.rmtree(out, ignore_errors=True)
    store = ResultsDir(out)
    for series, length in itertools.product(SERIES, LENGTHS):
        store.write(_row(series, length))
    skipped = _row("sab[k_att=10,k_top=5,k_trunc=10,max_mem=4]", 60)
    skipped.update(
        point_id="sab_skipped_60",
        label="sab[k_att=10,k_top=8,k_trunc=10,max_mem=4]",
        top_k=8,
        status="skipped",
        error="k_top=8 exceeds max_mem=4",
    )
    for key in ("step_time_s", "fwd_time_s", "saved_bytes", "score", "flops_fwd", "flops_bwd", "grad_reach"):
        skipped[key] = None
    store.write(skipped)


def make_asv(out: Path) -> None:
    from asv.results import Results
    from asv.runner import BenchmarkResult

    shutil.rmtree(out, ignore_errors=True)
    machine = {
        "machine": "ci-box",
        "os": "Linux 6.1",
        "arch": "x86_64",
        "cpu": "Test CPU",
        "num_cpu": "2",
        "ram": "8GB",
    }
    (out / "ci-box").mkdir(parents=True)
    (out / "ci-box" / "machine.json").write_text(json.dumps({**machine, "version": 1}, indent=4))
    names = ["variant", "seq_len", "memory", "top_k"]
    params = [["'lstm'", "'sab'", "'dense'"], ["'100'", "'200'", "'400'"], ["'none'", "'8'"], ["'none'", "'5'"]]
    exps = {"lstm": 1.0, "sab": 1.0, "dense": 2.0}

    def applies(variant: str, memory: str, top_k: str) -> bool:
        return (variant == "'sab'") == (memory != "'none'") == (top_k != "'none'")

    def values(base: float, kind: str) -> list:
        out_values = []
        for v, t, m, k in itertools.product(*params):
            name, length = v.strip("'"), int(t.strip("'"))
            if not applies(v, m, k):
                out_values.append(math.nan)  # asv: skipped
            elif name == "dense" and length == 400:
                out_values.append(None)  # asv: failed
            elif kind == "score":
                out_values.append({"lstm": 0.6, "sab": 0.95, "dense": 0.99}[name] - length / 4000)
            else:
                out_values.append(base * (length / 100) ** exps[name] * (2 if name == "sab" else 1))
        return out_values

    methods = {
        "time_step": (1e-2, "time"),
        "time_forward": (4e-3, "time"),
        "peakmem_step": (2e8, "mem"),
        "track_saved_bytes": (1e6, "mem"),
        "track_flops_fwd": (1e8, "flops"),
        "track_score": (0.0, "score"),
        "track_something_else": (1.0, "other"),
    }
    for commit, date in (("aaaaaaaa11111111", 1_700_000_000_000), ("bbbbbbbb22222222", 1_800_000_000_000)):
        res = Results({**machine, "python": "3.11"}, {}, commit, date, "3.11", "virtualenv-py3.11", {})
        for method, (base, kind) in methods.items():
            vals = values(base if commit.startswith("b") else base * 10, kind)
            bench = {"name": f"bench_variants.VariantSuite.{method}", "version": "1", "params": params}
            samples = [None] * len(vals)
            result = BenchmarkResult(result=vals, samples=samples, number=samples, errcode=0, stderr="", profile=None)
            res.add_result(bench, result, started_at=STARTED, duration=1.0)
        res.save(str(out))
    meta = {
        f"bench_variants.VariantSuite.{m}": {
            "name": f"bench_variants.VariantSuite.{m}",
            "param_names": names,
            "params": params,
        }
        for m in methods
    }
    meta = {k: {**v, "type": "time" if ".time_" in k else "track", "version": "1"} for k, v in meta.items()}
    (out / "benchmarks.json").write_text(json.dumps({**meta, "version": 2}, indent=4, sort_keys=True))


if __name__ == "__main__":
    make_sweep(HERE / "sweep_small")
    make_asv(HERE / "asv_small")
    print(f"wrote {HERE}")
