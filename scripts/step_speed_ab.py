"""Training-step time of the variants at two commits, in interleaved rounds of one run.

Each commit's attnbench is loaded in a worker process of its own (PYTHONPATH set to that checkout) that
builds the variants of scripts/step_speed.py and times one step per request; the driver asks every
(commit, variant) pair in turn, round after round, so drift in machine speed hits both commits alike;
which commit goes first in a pair alternates from round to round (the second runs warm). Ratios are
against each commit's own LSTMCell loop within the same round.

    git worktree add /tmp/old be8690c
    OMP_NUM_THREADS=1 python scripts/step_speed_ab.py --trees /tmp/old . --batch 32 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import sys, time
# the worker runs in the checkout (first on sys.path); an editable install's import hook would shadow it
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import torch
import torch.nn.functional as F
from attnbench.measure.allocator import keep_freed_memory
from attnbench.variants import build_variant
import attnbench
batch, seq_len, hidden = (int(a) for a in sys.argv[1:4])
labels = sys.argv[4].split(",")
CONFIGS = {
    "lstm-cell": ("lstm", {"fused": False}),
    "lstm-fused": ("lstm", {"fused": True}),
    "rsm": ("rsm", {"nu": 10, "rho": 15}),
    "sab": ("sab", {"k_trunc": 10, "k_att": 10, "k_top": 5}),
    "dense": ("dense", {}),
}
keep_freed_memory()
torch.manual_seed(0)
x = F.one_hot(torch.randint(0, 10, (batch, seq_len)), 10).float()
y = torch.randint(0, 9, (batch, seq_len))
models = {label: build_variant(CONFIGS[label][0], 10, 9, hidden, **CONFIGS[label][1]) for label in labels}
print(f"ready {attnbench.__file__} {torch.get_num_threads()} threads", flush=True)
for line in sys.stdin:
    model = models[line.strip()]
    t0 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    logits = model(x).logits
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    print(time.perf_counter() - t0, flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", nargs=2, required=True, help="two checkouts: before, after")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=1020)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=["lstm-cell", "lstm-fused", "rsm", "sab"])
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    names = [Path(t).resolve().name for t in args.trees]
    workers = []
    for tree in args.trees:
        env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
        cmd = [sys.executable, "-c", WORKER, str(args.batch), str(args.seq_len), str(args.hidden), ",".join(args.only)]
        proc = subprocess.Popen(cmd, env=env, cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        print(f"{tree}: {proc.stdout.readline().strip()}", file=sys.stderr)
        workers.append(proc)
    times = {(w, label): [] for w in range(2) for label in args.only}
    for round_ in range(args.repeats + 1):  # round 0 is the warm-up
        for label in args.only:
            # the checkout timed second in a pair runs right after the same code path in the other process,
            # warm (a shared library's pages, caches): alternate which one goes first, round by round
            for w in (0, 1) if round_ % 2 else (1, 0):
                proc = workers[w]
                proc.stdin.write(label + "\n")
                proc.stdin.flush()
                t = float(proc.stdout.readline())
                if round_:
                    times[w, label].append(t)
        # each round's times as they come: a run stopped early keeps what it measured
        done = [f"{names[w]}/{label} {times[w, label][-1]:.3f}" for w in range(2) for label in args.only if round_]
        print(f"round {round_} done" + (": " + " ".join(done) if done else ""), file=sys.stderr, flush=True)
    for proc in workers:
        proc.stdin.close()
        proc.wait()
    print(f"batch {args.batch}, seq_len {args.seq_len}, hidden {args.hidden}, {args.repeats} timed rounds")
    print(
        f"{'tree':10s} {'variant':11s} {'median (s)':>10s} {'x cell':>7s} {'min (s)':>8s} {'x cell':>7s}"
        f" {'x cell per round (median; all)':>32s}"
    )
    rows = []
    for w in range(2):
        base = times[w, "lstm-cell"] if "lstm-cell" in args.only else None
        for label in args.only:
            ts = times[w, label]
            ratios = [t / b for t, b in zip(ts, base)] if base else []
            row = {"tree": args.trees[w], "label": label, "times_s": ts, "round_ratios": ratios}
            rows.append(row)
            med, low = statistics.median(ts), min(ts)
            xm = f"{med / statistics.median(base):.2f}" if base else "-"
            xl = f"{low / min(base):.2f}" if base else "-"
            per = f"{statistics.median(ratios):.2f}; " + " ".join(f"{r:.2f}" for r in ratios) if ratios else "-"
            print(f"{names[w]:10s} {label:11s} {med:10.3f} {xm:>7s} {low:8.3f} {xl:>7s}  {per}")
    for label in args.only:  # after / before, per round
        speedups = [b / a for a, b in zip(times[1, label], times[0, label])]
        print(f"{label}: before/after per round {' '.join(f'{s:.2f}' for s in speedups)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
