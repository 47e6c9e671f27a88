"""The timing underneath ``radgrok bench`` and the profiles in benchmarks/: what one MLP step
costs in GEMM FLOPs, the steps being timed (the loop's own and a plain PyTorch one), a timer
(CUDA events on a GPU) and the alternation that lets machine drift hit every arm alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..models.mlp import one_hot_concat
from ..runs.config import RunConfig
from ..tasks.modular import make_modular
from ..training.loop import Built, make_feed, train_step

__all__ = ["Log", "device_name", "gemm_shapes", "step_flops", "gemm_pass", "loop_stepper", "plain_stepper", "timer",
           "warm", "alternate"]

Log = Callable[[str], None]


# -- FLOP counting -------------------------------------------------------------------

def gemm_shapes(n: int, p: int, width: int, depth: int, encoding: str = "onehot",
                embed_dim: int = 128) -> list[tuple[str, int, int, int, str]]:
    """The matmuls of one MLP training step on n examples: (name, M, K, N, layout), C = A(MxK) @ B(KxN).

    Layouts follow autograd's F.linear (y = x @ W^T): forward "nt" (B is W^T, a transposed
    view), dX = dY @ W "nn", dW = dY^T @ x "tn" (A a transposed view). Every layer needs
    dX because something upstream has weights. One-hot: the first layer is gathers, no GEMM.
    """
    layers = [("hidden.0", 2 * embed_dim, width)] if encoding == "embed" else []
    layers += [(f"hidden.{i}", width, width) for i in range(1, depth)] + [("out", width, p)]
    shapes = []
    for name, d_in, d_out in layers:
        shapes += [(f"{name} fwd", n, d_in, d_out, "nt"), (f"{name} dX", n, d_out, d_in, "nn"),
                   (f"{name} dW", d_out, n, d_in, "tn")]
    return shapes


def step_flops(n: int, p: int, width: int, depth: int, encoding: str = "onehot", embed_dim: int = 128) -> dict:
    """GEMM FLOPs of one training step (2*M*K*N per matmul) and, apart, the one-hot first layer's adds."""
    gemm = sum(2 * m * k * c for _, m, k, c, _ in gemm_shapes(n, p, width, depth, encoding, embed_dim))
    # forward: W^T[a] + W^T[p + b] + bias (2 adds per output); backward: two scatter-adds of dZ into dW
    gather_adds = 4 * n * width if encoding == "onehot" else 0
    return {"gemm": gemm, "first_layer_adds": gather_adds}


def gemm_pass(shapes: list[tuple[str, int, int, int, str]], dtype: torch.dtype,
               device: torch.device | str = "cpu") -> Callable[[], None]:
    """One call runs every matmul of the step once with torch.mm, in the step's layouts."""
    g = torch.Generator().manual_seed(0)

    def rand(rows: int, cols: int, transposed: bool) -> torch.Tensor:
        if transposed:  # a transposed view, as W.t() and dY.t() are in autograd's linear
            return torch.randn(cols, rows, generator=g, dtype=dtype).to(device).t()
        return torch.randn(rows, cols, generator=g, dtype=dtype).to(device)

    pairs = [(rand(m, k, layout == "tn"), rand(k, c, layout == "nt")) for _, m, k, c, layout in shapes]

    def run() -> None:
        for a, b in pairs:
            torch.mm(a, b)

    return run


# -- the steps being timed -----------------------------------------------------------

def loop_stepper(b: Built, cfg: RunConfig) -> Callable[[], None]:
    """``training.loop._train``'s step itself: the task's feed gives the batch of each step and
    ``train_step`` takes it, minus the progress bar and the evaluation check
    (tests/test_experiments_bench.py checks it against ``train``)."""
    feed = make_feed(b, cfg)
    soft = b.rs.active
    state = {"step": 0}
    b.model.train()

    def step() -> None:
        train_step(b, *feed.train_batch(state["step"]), soft)
        state["step"] += 1

    return step


def plain_stepper(cfg: RunConfig) -> Callable[[], None]:
    """A step as reference grokking repositories write it: nn.Sequential on one-hot float inputs."""
    t, m, o = cfg.task, cfg.model, cfg.optim
    dev = torch.device(cfg.train.device)
    data = make_modular(t.op, t.p, t.train_frac, cfg.train.seed)
    x = one_hot_concat(data.x_train, t.p).to(dev)
    y = data.y_train.to(dev)
    torch.manual_seed(cfg.train.seed)
    layers: list[nn.Module] = [nn.Linear(2 * t.p, m.width), nn.ReLU()]
    for _ in range(m.depth - 1):
        layers += [nn.Linear(m.width, m.width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(m.width, t.p)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def device_name(device: str) -> str:
    """"cpu", or the GPU's name ("NVIDIA H100 80GB HBM3"): what a result records as its machine."""
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"


def timer(device: torch.device | str) -> Callable[[Callable[[], object]], float]:
    """``timed(fn)`` -> seconds fn took. On CUDA: CUDA events around the call, after a
    synchronize, so the time covers the queued kernels and not only their launch."""
    if torch.device(device).type != "cuda":
        def timed(fn: Callable[[], object]) -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return timed

    def timed_cuda(fn: Callable[[], object]) -> float:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    return timed_cuda


def warm(step: Callable[[], None], n: int) -> Callable[[], None]:
    for _ in range(n):
        step()
    return step


def alternate(arms: dict[str, tuple[Callable[[], object], int]], reps: int, log: Log,
               key: str, device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Per repetition, each arm's n calls interleaved with the others' (A B B A A B ...), so
    that drift on a shared machine hits every arm alike; an arm's time in a repetition is
    the median of its calls, which also shrugs off the odd call a noisy neighbour slows."""
    names, timed = list(arms), timer(device)
    out: dict[str, list[float]] = {k: [] for k in arms}
    for rep in range(reps):
        times: dict[str, list[float]] = {k: [] for k in arms}
        for i in range(max(n for _, n in arms.values())):
            for name in names if (rep + i) % 2 == 0 else names[::-1]:
                fn, n = arms[name]
                if i < n:
                    times[name].append(timed(fn))
        for k, v in times.items():
            out[k].append(statistics.median(v))
        log(f"{key}: rep {rep + 1}/{reps} " + ", ".join(f"{k} {v[-1]:.4g}" for k, v in out.items()))
    return out
