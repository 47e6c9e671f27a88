"""Search for a CPU-sized MLP setting where radial suppression's effect shows.

Runs each arm (a dict of flat config overrides on top of a base) for each seed,
one after another on one thread, and appends one JSON line per run to --out.
Re-running skips arms already in the file. Usage:

    python benchmarks/calibrate_cpu_mlp.py --out docs/results/calibration/cpu_mlp.jsonl --seeds 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from radgrok.runs.config import RunConfig
from radgrok.training.loop import train

BASE = dict(p=97, train_frac=0.5, width=128, depth=2, steps=4000, eval_every=50, patience=200,
            lr=1e-3, threads=1)

ARMS = {
    "wd1.0": dict(weight_decay=1.0),
    "wd0.1": dict(weight_decay=0.1),
    "wd1e-3": dict(weight_decay=1e-3),
    "lam0.05": dict(lam=0.05, weight_decay=1e-3),
    "lam0.05-c0.3": dict(lam=0.05, radius_scale=0.3, weight_decay=1e-3),
    "lam1-c0.3": dict(lam=1.0, radius_scale=0.3, weight_decay=1e-3),
    "lam1-c0.1": dict(lam=1.0, radius_scale=0.1, weight_decay=1e-3),
    "lam0.05+wd0.1": dict(lam=0.05, weight_decay=0.1),
    "lam0.05+wd1.0": dict(lam=0.05, weight_decay=1.0),
    "lam0.05-post": dict(lam=0.05, site="post", weight_decay=1e-3),
    "embed-wd1.0": dict(encoding="embed", weight_decay=1.0),
    "embed-lam0.05": dict(encoding="embed", lam=0.05, weight_decay=1e-3),
    "embed-lam0.05+wd1.0": dict(encoding="embed", lam=0.05, weight_decay=1.0),
    "lr3e-3-wd1.0": dict(lr=3e-3, weight_decay=1.0),
    "lr3e-3-lam0.05": dict(lr=3e-3, lam=0.05, weight_decay=1e-3),
    "lr3e-3-lam0.05+wd1.0": dict(lr=3e-3, lam=0.05, weight_decay=1.0),
    # second round: a radius well below sqrt(d) turns the penalty into a shrinking force
    "lam3-c0.1": dict(lam=3.0, radius_scale=0.1, weight_decay=1e-3),
    "lam0.3-c0.1": dict(lam=0.3, radius_scale=0.1, weight_decay=1e-3),
    "lam1-c0.05": dict(lam=1.0, radius_scale=0.05, weight_decay=1e-3),
    "lr3e-3-lam1-c0.1": dict(lr=3e-3, lam=1.0, radius_scale=0.1, weight_decay=1e-3),
    "lam1-c0.1-post": dict(lam=1.0, radius_scale=0.1, site="post", weight_decay=1e-3),
}


def table(path: Path) -> str:
    """Markdown table of a results file: one row per (arm, seed)."""
    lines = ["| arm | changes from the base | seed | status | grok step | memorised | final test acc | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in map(json.loads, path.read_text().splitlines()):
        diff = {k: v for k, v in r["overrides"].items() if BASE.get(k) != v}
        lines.append(f"| {r['arm']} | {', '.join(f'{k}={v}' for k, v in diff.items())} | {r['seed']} "
                     f"| {r['status']} | {r['grok_step'] if r['grok_step'] is not None else 'DNG'} "
                     f"| {r['memorised_step']} | {r['final']['test_acc']:.3f} | {r['wall_s']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--arms", nargs="*", default=list(ARMS))
    ap.add_argument("--table", action="store_true", help="print the results in --out as markdown and exit")
    args = ap.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(out))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["arm"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())} if out.exists() else set()
    torch.set_num_threads(1)
    for arm in args.arms:
        for seed in args.seeds:
            if (arm, seed) in done:
                continue
            cfg = RunConfig().replace(**{**BASE, **ARMS[arm], "seed": seed})
            t0 = time.time()
            s = train(cfg, progress=False)
            rec = {"arm": arm, "seed": seed, "overrides": {**BASE, **ARMS[arm]}, "grok_step": s["grok_step"],
                   "memorised_step": s["memorised_step"], "status": s["status"], "final": s["final"],
                   "wall_s": round(time.time() - t0, 1)}
            with out.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
