"""Does ``torch.compile`` make the penalty free on this CPU, and at what price for the step?

Inductor fuses elementwise work into its neighbours' passes, which is exactly what the eager gate
cannot do (``docs/results/readings/README.md`` §5): the penalty's norms could ride on the ReLU's
read of the pre-activations and its gradient on the ReLU's backward. This measures both halves of
that trade on the real ``paper-mlp`` (``build``'s model, loss, AdamW and full batch):

* ``eager`` -- the loop's own step, lam 0 and lam 0.05 (the fused gate);
* ``compiled`` -- the same model's loss (model, cross-entropy and the penalty's plain autograd
  formula, ``RadialSuppression.unfused``) under ``torch.compile``, AdamW eager, lam 0 and 0.05.

Arms alternate call by call; each figure is a median over all calls.

    python benchmarks/compile_penalty.py [--steps 40] [--norm-over example] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from typing import Callable

import torch

from radgrok.experiments.bench import write_result
from radgrok.experiments.presets import get_preset
from radgrok.training.loop import build, make_feed, train_step


def steppers(lam: float, norm_over: str) -> dict[str, Callable[[], None]]:
    cfg = get_preset("paper-mlp").replace(lam=lam, norm_over=norm_over)
    out = {}
    for kind in ("eager", "compiled"):
        b = build(cfg)
        feed = make_feed(b, cfg)
        b.model.train()
        xb, yb = feed.train_batch(0)  # full batch: the same rows every step
        if kind == "eager":
            out[kind] = lambda b=b, xb=xb, yb=yb: train_step(b, xb, yb, b.rs.active)
            continue

        def loss_of(x: torch.Tensor, y: torch.Tensor, b=b) -> torch.Tensor:
            with b.rs.unfused():
                loss = b.loss_fn(b.model(x), y)
                return loss + b.rs.penalty() if b.rs.active else loss

        compiled = torch.compile(loss_of)

        def step(b=b, xb=xb, yb=yb, compiled=compiled) -> None:
            loss = compiled(xb, yb)
            b.opt.zero_grad(set_to_none=True)
            loss.backward()
            b.opt.step()
        out[kind] = step
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="timed calls per arm")
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--norm-over", default="example", choices=["example", "batch"])
    ap.add_argument("--json", default=None, help="default benchmarks/results/<host>-<date>-compile-penalty.json")
    args = ap.parse_args()
    arms = {}
    t0 = time.perf_counter()
    for lam in (0.0, args.lam):
        for kind, fn in steppers(lam, args.norm_over).items():
            for _ in range(3):  # compile, then AdamW's state
                fn()
            arms[f"{kind}_lam{lam:g}"] = fn
    compile_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in arms}
    names = list(arms)
    for i in range(args.steps):
        for k in names if i % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            arms[k]()
            times[k].append(time.perf_counter() - t)
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    e0, e1, c0, c1 = (ms[f"{k}_lam{lam:g}"] for k in ("eager", "compiled") for lam in (0.0, args.lam))
    res = {
        "benchmark": "compile_penalty", "command": "python " + " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "preset": "paper-mlp", "lam": args.lam, "norm_over": args.norm_over, "steps": args.steps,
        "warmup_and_compile_s": round(compile_s, 1), "step_ms": ms,
        "penalty_overhead": {"eager": e1 / e0 - 1, "compiled": c1 / c0 - 1},
        "compiled_over_eager_step": {"lam0": c0 / e0, "with_penalty": c1 / e1},
    }
    out = write_result(res, args.json, "compile-penalty")
    print("step ms: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
    print(f"penalty overhead: eager {e1 / e0 - 1:+.1%}, compiled {c1 / c0 - 1:+.1%}; compiled step / eager step: "
          f"{c0 / e0:.2f} (lam 0), {c1 / e1:.2f} (with the penalty) -> {out}")


if __name__ == "__main__":
    main()
