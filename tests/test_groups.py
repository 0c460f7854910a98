"""attnbench.groups: one training step of a replicate group equals its replicates' steps alone."""

from __future__ import annotations

import pytest
import torch

from attnbench.groups import GroupOptimizer, ReplicaGroup, build_group, clip_group_grad_norm_, group_losses
from attnbench.tasks import build_task
from attnbench.training import build_model
from attnbench.variants import get_variant, list_variants

CONFIGS = {
    "lstm": {"k_trunc": None},
    "dense": {},
    "rsm": {"nu": 2, "rho": 2},
    "sab": {"k_trunc": 3, "k_top": 2, "k_att": 2, "max_mem": 4},
}
SEEDS, LRS = [0, 1, 2], [1e-3, 3e-3, 1e-2]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _torch_step(model, task, x, y, optimizer, clip):
    optimizer.zero_grad(set_to_none=True)
    logits = model(x).logits
    task.loss(logits, y).backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else None
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    optimizer.step()
    return logits.detach(), grads, norm


def _float32_error(variant, params, task, x, y):
    """Per replicate and parameter, how far float32's own gradient lies from float64's (the same model and
    batch alone): where a computation is ill-conditioned (sab's top-k threshold near a tie), float32 alone
    is that far from exact, and a group's different rounding may land anywhere within it."""
    errors = []
    for g, seed in enumerate(SEEDS):
        grads = {}
        for dtype in (torch.float32, torch.float64):
            model = build_model(variant, task, 8, seed, **params).to(dtype)
            task.loss(model(x[g].to(dtype)).logits, y[g]).backward()
            grads[dtype] = {n: p.grad.double() for n, p in model.named_parameters()}
        errors.append({n: (grads[torch.float32][n] - grads[torch.float64][n]).abs().max().item() for n in grads[dtype]})
    return errors


def _compare(variant, params, dtype, kind, clip, steps=1):
    task = build_task("copy", seq_len=5)
    alone = [build_model(variant, task, 8, s, **params).to(dtype) for s in SEEDS]
    make = torch.optim.Adam if kind == "adam" else (lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.99))
    optimizers = [make(m.parameters(), lr=lr) for m, lr in zip(alone, LRS)]
    group = build_group(variant, task, 8, SEEDS, **params).to(dtype=dtype)
    optimizer = GroupOptimizer(group, kind, LRS)
    tol = TOL[dtype]
    for step in range(steps):
        gen = torch.Generator().manual_seed(step)
        batches = [task.sample(3, gen) for _ in SEEDS]
        x = torch.stack([b[0] for b in batches]).to(dtype)
        y = torch.stack([b[1] for b in batches])
        slack = _float32_error(variant, params, task, x, y) if dtype == torch.float32 and step == 0 else None
        optimizer.zero_grad()
        logits = group(x)
        group_losses(task, logits, y).sum().backward()
        norms = clip_group_grad_norm_(group, clip)
        grads = {n: p.grad.clone() for n, p in group.stacked().items()}
        optimizer.step()
        for g, (model, opt) in enumerate(zip(alone, optimizers)):
            out, want_grads, norm = _torch_step(model, task, x[g], y[g], opt, clip)
            torch.testing.assert_close(logits[g].detach(), out, rtol=tol, atol=tol)
            for name, grad in want_grads.items():
                atol = tol if slack is None else max(tol, 3 * slack[g][name])
                torch.testing.assert_close(grads[name][g], grad, rtol=tol, atol=atol, msg=f"{name} gradient")
            if slack is not None:
                # float32: the update is not compared; Adam's first step is lr * g / |g|, which turns the
                # rounding of a near-zero gradient element into a full step (float64 compares it to 1e-10)
                continue
            if norm is not None:
                torch.testing.assert_close(norms[g], norm, rtol=tol, atol=tol)
            for name, param in model.named_parameters():
                torch.testing.assert_close(group.stacked()[name][g].detach(), param.detach(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_one_step_of_a_group_of_3_equals_three_steps_alone(variant, kind, dtype):
    assert get_variant(variant).trains_grouped()
    _compare(variant, CONFIGS[variant], dtype, kind, clip=0.05)  # the clip acts at this norm


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_five_steps_unclipped_and_clipped(variant):
    _compare(variant, CONFIGS[variant], torch.float64, "adam", clip=0.0, steps=5)
    _compare(variant, CONFIGS[variant], torch.float64, "rmsprop", clip=0.05, steps=3)


def test_every_variant_that_trains_grouped_matches_the_reference_loop():
    """The registry's variants (a plugin's too) with group_forward, against functional_call replicate by replicate."""
    task = build_task("copy", seq_len=5)
    checked = []
    for name in list_variants():
        cls = get_variant(name)
        if not cls.trains_grouped():
            continue
        group = build_group(name, task, 8, SEEDS).double()
        reference = ReplicaGroup([group.replica(g) for g in range(3)]).double()
        reference.grouped = False
        x = torch.randn(3, 2, task.seq_len, task.input_size, dtype=torch.float64)
        torch.testing.assert_close(group(x), reference(x), rtol=1e-10, atol=1e-10)
        checked.append(name)
    assert {"lstm", "dense", "sab", "rsm"} <= set(checked)


def test_a_variant_without_group_forward_runs_the_reference_loop():
    pytest.importorskip("attnbench_fox")
    task = build_task("copy", seq_len=5)
    assert not get_variant("fox").trains_grouped()
    group = build_group("fox", task, 8, SEEDS)
    assert not group.grouped
    x = torch.randn(3, 2, task.seq_len, task.input_size)
    logits = group(x)
    for g, seed in enumerate(SEEDS):
        torch.testing.assert_close(logits[g], build_model("fox", task, 8, seed)(x[g]).logits)


def test_a_group_of_one_seed_is_the_model_that_seed_builds_and_replica_copies():
    task = build_task("copy", seq_len=5)
    group = build_group("rsm", task, 8, [4])
    model = build_model("rsm", task, 8, 4)
    for name, param in model.named_parameters():
        assert torch.equal(group.stacked()[name][0], param)
    copy = group.replica(0)
    with torch.no_grad():
        group.stacked()["score"].add_(1.0)
    assert torch.equal(copy.score, model.score)  # independent of the group


def test_a_non_finite_replicate_leaves_the_others_clip_and_update_alone():
    task = build_task("copy", seq_len=5)
    group = build_group("dense", task, 8, SEEDS).double()
    optimizer = GroupOptimizer(group, "adam", LRS)
    x = torch.randn(3, 2, task.seq_len, task.input_size, dtype=torch.float64)
    with torch.no_grad():
        group.stacked()["head.bias"][1].fill_(float("nan"))
    before = {n: p.detach().clone() for n, p in group.stacked().items()}
    group(x).square().mean(dim=(1, 2, 3)).sum().backward()
    norms = clip_group_grad_norm_(group, 0.1)
    optimizer.step()
    assert not torch.isfinite(norms[1]) and torch.isfinite(norms[[0, 2]]).all()
    for name, param in group.stacked().items():
        assert torch.isfinite(param[[0, 2]]).all(), name
        assert not torch.equal(param[0], before[name][0]) or name == "cell.bias_hh"


def test_bad_arguments_are_named():
    task = build_task("copy", seq_len=5)
    group = build_group("lstm", task, 4, [0, 1])
    with pytest.raises(ValueError, match=r"1 learning rate\(s\) for a group of 2"):
        GroupOptimizer(group, "adam", [1e-3])
    with pytest.raises(ValueError, match="kind='sgd'"):
        GroupOptimizer(group, "sgd", [1e-3, 1e-3])
    with pytest.raises(ValueError, match="one variant and configuration"):
        ReplicaGroup([build_model("lstm", task, 4, 0), build_model("dense", task, 4, 0)])


def test_cuda_graph_capture_refuses_cleanly_without_a_gpu():
    from attnbench.groups import CudaGraphUnavailable, capture_step

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the gpu test covers capture")
    with pytest.raises(CudaGraphUnavailable, match=r"needs a CUDA device \(this run is on cpu\)"):
        capture_step(lambda: None, "cpu")


@pytest.mark.gpu
def test_a_captured_grouped_step_equals_eager_steps():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from attnbench.groups import capture_step

    task = build_task("copy", seq_len=5)
    runs = []
    for graph in (False, True):
        group = build_group("rsm", task, 8, SEEDS, **CONFIGS["rsm"]).cuda()
        optimizer = GroupOptimizer(group, "adam", LRS)
        gen = torch.Generator().manual_seed(0)
        x, y = (torch.stack(t) for t in zip(*[task.sample(3, gen, "cuda") for _ in SEEDS]))

        def step(group=group, optimizer=optimizer, x=x, y=y):
            optimizer.zero_grad()
            group_losses(task, group(x), y).sum().backward()
            clip_group_grad_norm_(group, 1.0)
            optimizer.step()

        run = capture_step(step, "cuda") if graph else step
        for _ in range(5 if graph else 8):  # capture ran 3 warm-up steps; the captured one only records
            run()
        runs.append({n: p.detach().cpu() for n, p in group.stacked().items()})
    for name in runs[0]:
        torch.testing.assert_close(runs[1][name], runs[0][name], rtol=1e-4, atol=1e-5)
