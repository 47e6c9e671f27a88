"""The preregistered evaluation of the grok-step forecasts (``radgrok.forecast``).

A protocol (JSON, committed before any of its runs is trained: docs/results/forecast/protocol.json)
names the arms, their calibration and test cells, the seeds, the budget, the forecast points and
the metrics. This module trains its runs (``train``: one process, one run at a time, each run
directory written by ``training.loop.train``) and scores them (``score``: pure, from the run
records), in two steps so that the scoring can be rerun on the committed records alone::

    python benchmarks/forecast_eval.py train docs/results/forecast/protocol.json --out runs/forecast-eval
    python benchmarks/forecast_eval.py unpack docs/results/forecast/records --out runs/forecast-eval
    python benchmarks/forecast_eval.py score docs/results/forecast/protocol.json \\
        docs/results/forecast/protocol-batch.json --out runs/forecast-eval --report docs/results/forecast

An addendum (protocol-batch.json: the batch reading's arm) adds arms to the protocol it extends and
shares everything else with it (``load_protocols``); the score step reads the two as one.

Scoring, per arm: every method is calibrated on the arm's calibration runs (its calibration cells,
calibration seeds) and scored on the runs it never saw: the calibration cells' fresh seeds and
the test cells. The score of a forecast is the absolute percentage error of the predicted delay
(grok step minus memorisation step) and whether the actual grok step lies in its interval. A run
that does not grok within its budget is censored: listed apart with what each method predicted,
never scored as an error. A run that never memorises has no forecast.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from radgrok.forecast import METHODS, Calibration, CalRun, fit_calibration, forecast, hyper_of, memorised_index
from radgrok.runs.records import Status

__all__ = ["Trial", "load_protocol", "load_protocols", "trials", "train", "score", "Scored", "unpack", "markdown",
           "law_markdown", "main"]

ROLES = ("calibration", "fresh", "test")


@dataclass(frozen=True)
class Trial:
    arm: str
    role: str  # calibration | fresh | test
    cell: str  # "lr=0.003,weight_decay=1.0"
    seed: int
    overrides: dict

    @property
    def name(self) -> str:
        return f"{self.arm}/{self.cell}-s{self.seed}"


def load_protocol(path: str | Path) -> dict:
    p = Path(path)
    try:
        proto = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"protocol: {p} cannot be read ({type(e).__name__})") from None
    for key in ("preset", "base", "arms"):
        if key not in proto:
            raise SystemExit(f"protocol: {p} has no {key!r}")
    return proto


# What an addendum shares with the protocol it extends (its runs, points and metrics are those of the main one).
SHARED = ("preset", "base", "budget_steps", "forecast_points", "methods")


def load_protocols(paths: list[str | Path]) -> dict:
    """A protocol and its addenda (docs/results/forecast/protocol-batch.json) as one: the first file's
    keys, every file's arms. An addendum adds arms only: it must agree with the first on ``SHARED``
    and may not reuse an arm's name."""
    protos = [load_protocol(p) for p in paths]
    merged = {**protos[0], "arms": list(protos[0]["arms"])}
    for path, extra in zip(paths[1:], protos[1:]):
        for key in SHARED:
            if extra.get(key) != protos[0].get(key):
                raise SystemExit(f"protocol: {path} differs from {paths[0]} in {key!r}; an addendum adds arms only")
        names = {a["name"] for a in merged["arms"]}
        for arm in extra["arms"]:
            if arm["name"] in names:
                raise SystemExit(f"protocol: {path} reuses arm {arm['name']!r}")
            merged["arms"].append(arm)
    return merged


def _cell_name(cell: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cell.items())


def trials(proto: dict, arms: list[str] | None = None) -> list[Trial]:
    """Every run of the protocol, in its execution order: round-robin over the seed index, so a
    run stopped early leaves every cell with the same number of seeds."""
    out: list[Trial] = []
    for arm in proto["arms"]:
        if arms and arm["name"] not in arms:
            continue
        groups = [("calibration", c, arm["calibration_seeds"]) for c in arm["calibration_cells"]]
        groups += [("fresh", c, arm["fresh_seeds"]) for c in arm["calibration_cells"]]
        groups += [("test", c, arm["test_seeds"]) for c in arm["test_cells"]]
        rounds = max(len(seeds) for _, _, seeds in groups)
        for k in range(rounds):
            for role, cell, seeds in groups:
                if k < len(seeds):
                    out.append(Trial(arm["name"], role, _cell_name(cell), seeds[k],
                                     {**arm.get("overrides", {}), **cell, "seed": seeds[k]}))
    return out


def _finished(run_dir: Path) -> bool:
    try:
        status = json.loads((run_dir / "summary.json").read_text())["status"]
        return status in (Status.GROKKED, Status.DNG, Status.DIVERGED)
    except (OSError, ValueError, KeyError):
        return False


def train(proto: dict, out: Path, arms: list[str] | None = None, limit: int | None = None) -> list[str]:
    """Train the protocol's runs not yet finished under ``out``, one at a time; returns their names."""
    from radgrok.experiments.presets import get_preset
    from radgrok.training.loop import train as train_one

    base = get_preset(proto["preset"]).replace(**proto["base"])
    done: list[str] = []
    for t in trials(proto, arms):
        d = out / t.name
        if _finished(d):
            continue
        if limit is not None and len(done) >= limit:
            break
        t0 = time.perf_counter()
        resume = (d / "summary.json").exists()
        s = train_one(base.replace(**t.overrides), out_dir=d, resume=resume, progress=False)
        print(json.dumps({"run": t.name, "role": t.role, "status": s["status"], "memorised": s["memorised_step"],
                          "grok": s["grok_step"], "steps": s["steps_done"],
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        done.append(t.name)
    return done


# -- scoring ------------------------------------------------------------------------------------------
@dataclass
class Run:
    trial: Trial
    cfg: dict
    rows: list[dict]
    summary: dict

    @property
    def grok(self) -> int | None:
        return self.summary.get("grok_step") if self.summary.get("status") == Status.GROKKED else None

    @property
    def memorised(self) -> int | None:
        i = memorised_index(self.rows)
        return None if i is None else int(self.rows[i]["step"])


def _load(out: Path, t: Trial) -> Run | None:
    d = out / t.name
    if not _finished(d):
        return None
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return Run(t, json.loads((d / "config.json").read_text()), rows, json.loads((d / "summary.json").read_text()))


@dataclass
class Scored:
    run: str
    arm: str
    role: str
    cell: str
    seed: int
    point: str
    method: str
    at: int
    memorised: int
    delay: int
    predicted_delay: float
    low: float
    high: float

    @property
    def ape(self) -> float:
        return abs(self.predicted_delay - self.delay) / self.delay

    @property
    def covered(self) -> bool:
        return self.low <= self.memorised + self.delay <= self.high


def _points(proto: dict, run: Run, cal: Calibration) -> Iterator[tuple[str, int]]:
    """(point name, step) of each forecast point of the protocol, outcome-free: memorisation, and
    the first evaluation at or after memorisation + ``frac`` x the baseline's calibrated delay."""
    m = run.memorised
    if m is None:
        return
    h = hyper_of(run.cfg)
    c = cal.methods.get("inverse-decay", {}).get("C")
    for p in proto["forecast_points"]:
        if p["frac"] == 0:
            yield p["name"], m
        elif c is not None and h.decay > 0:
            target = m + p["frac"] * c / h.decay
            # past the last row (a run that stopped before it): the point itself, scored as grokked before it
            yield p["name"], int(next((r["step"] for r in run.rows if r["step"] >= target), math.ceil(target)))


def score(proto: dict, out: Path) -> dict:
    """Fit on each arm's calibration runs, score the rest; a JSON-able dict of everything."""
    result: dict[str, Any] = {"arms": {}}
    for arm in proto["arms"]:
        ts = trials(proto, [arm["name"]])
        runs = [r for t in ts if (r := _load(out, t)) is not None]
        cal_runs = [CalRun(r.rows, hyper_of(r.cfg), r.grok) for r in runs
                    if r.trial.role == "calibration" and r.grok is not None and r.memorised is not None]
        entry: dict[str, Any] = {"planned": len(ts), "finished": len(runs)}
        result["arms"][arm["name"]] = entry
        if not cal_runs:
            entry["note"] = "no grokked calibration run: nothing fitted"
            continue
        cal = fit_calibration(cal_runs, source=f"protocol arm {arm['name']}")
        entry["calibration"] = cal.as_dict()
        cals = {cal.setting: cal}
        scored: list[Scored] = []
        censored, unmemorised, grokked_before = [], [], []
        for r in runs:
            if r.trial.role == "calibration":
                continue
            if r.memorised is None:
                unmemorised.append(r.trial.name)
                continue
            for point, at in _points(proto, r, cal):
                if r.grok is not None and r.grok <= at:
                    grokked_before.append({"run": r.trial.name, "point": point})
                    continue
                for name in METHODS:
                    if name not in cal.methods:
                        continue
                    f = forecast(r.rows, r.cfg, at=at, method=name, calibrations=cals)
                    if f is None:
                        continue
                    if r.grok is None:
                        censored.append({"run": r.trial.name, "status": r.summary.get("status"),
                                         "steps_done": r.summary.get("steps_done"), "point": point, "method": name,
                                         "predicted_step": round(f.step), "high": round(f.high)})
                        continue
                    scored.append(Scored(r.trial.name, arm["name"], r.trial.role, r.trial.cell, r.trial.seed, point,
                                         name, at, r.memorised, r.grok - r.memorised, f.step - r.memorised,
                                         f.low, f.high))
        entry["scored"] = [dict(vars(s), ape=s.ape, covered=s.covered) for s in scored]
        entry["censored"] = censored
        entry["unmemorised"] = unmemorised
        entry["grokked_before_point"] = grokked_before
        entry["table"] = _summaries(scored, [p["name"] for p in proto["forecast_points"]])
        # what the evaluation measured travels with the shipped fit, so that `radgrok forecast` can say it
        first = proto["forecast_points"][0]["name"]
        entry["calibration"]["notes"]["held_out"] = {
            "point": first, "runs": "test",
            **{t["method"]: {"n": t["n"], "median_ape": round(t["median_ape"], 4), "coverage": round(t["coverage"], 4)}
               for t in entry["table"] if (t["point"], t["role"]) == (first, "test")}}
        entry["delays"] = _delays(runs)
        entry["law"] = _law(runs)
    return result


def _summaries(scored: list[Scored], points: list[str]) -> list[dict]:
    out = []
    keys = sorted({(s.point, s.role, s.method) for s in scored},
                  key=lambda k: (points.index(k[0]), ROLES.index(k[1]), list(METHODS).index(k[2])))
    for point, role, method in keys:
        xs = [s for s in scored if (s.point, s.role, s.method) == (point, role, method)]
        apes = [s.ape for s in xs]
        out.append({"point": point, "role": role, "method": method, "n": len(xs),
                    "median_ape": statistics.median(apes), "mean_ape": statistics.fmean(apes),
                    "coverage": sum(s.covered for s in xs) / len(xs)})
    return out


def _delays(runs: list[Run]) -> dict:
    by_cell: dict[str, list] = {}
    for r in runs:
        by_cell.setdefault(f"{r.trial.role}:{r.trial.cell}", []).append(
            None if r.grok is None or r.memorised is None else r.grok - r.memorised)
    return by_cell


def _law(runs: list[Run]) -> list[dict]:
    """What the laws assume, per grokked run (calibration runs included): the effective decay rate
    lr·(weight decay + lam) the laws divide by (``Hyper.decay``), the delay, their product (the
    inverse-decay constant C of this one run), and the parameter norm at memorisation and at the grok
    (the first-passage law needs it to fall between the two)."""
    out = []
    for r in runs:
        m = memorised_index(r.rows)
        if r.grok is None or m is None or r.grok <= r.rows[m]["step"]:
            continue
        g = next((row for row in r.rows if row["step"] >= r.grok), r.rows[-1])
        h = hyper_of(r.cfg)
        delay = r.grok - int(r.rows[m]["step"])
        out.append({"run": r.trial.name, "role": r.trial.role, "cell": r.trial.cell, "decay": h.decay,
                    "delay": delay, "c": delay * h.decay, "norm_mem": r.rows[m].get("weight_norm"),
                    "norm_grok": g.get("weight_norm")})
    return out


def law_markdown(result: dict) -> str:
    """Per arm and cell: the delay, delay × lr·(wd + lam) (constant across cells where the
    inverse-decay law holds with that effective decay rate) and ‖θ‖ at memorisation and at the grok
    (falling between them where the first-passage law can hold), medians over the grokked runs."""
    lines = ["| arm | runs | cell | n | median delay | lr·(wd+λ) | median delay·lr·(wd+λ) | ‖θ‖ at memorisation | "
             "‖θ‖ at the grok | runs with ‖θ‖ falling |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, e in result["arms"].items():
        law = e.get("law", [])
        cells = sorted({(x["role"], x["cell"]) for x in law}, key=lambda rc: (ROLES.index(rc[0]), rc[1]))
        for role, cell in cells:
            xs = [x for x in law if (x["role"], x["cell"]) == (role, cell)]
            norms = [x for x in xs if x["norm_mem"] is not None and x["norm_grok"] is not None]
            falling = sum(x["norm_grok"] < x["norm_mem"] for x in norms)
            med = statistics.median
            lines.append(f"| {arm} | {role} | {cell} | {len(xs)} | {med(x['delay'] for x in xs):,.0f} | "
                         f"{xs[0]['decay']:.3g} | {med(x['c'] for x in xs):.3g} | "
                         + (f"{med(x['norm_mem'] for x in norms):.0f} | {med(x['norm_grok'] for x in norms):.0f} | "
                            f"{falling} of {len(norms)} |" if norms else "– | – | – |"))
    return "\n".join(lines) + "\n"


def markdown(result: dict) -> str:
    """The results tables: per arm, forecast point and role, each method's median and mean absolute
    percentage error of the delay and the interval's coverage; then censored and excluded runs."""
    lines: list[str] = []
    for arm, e in result["arms"].items():
        lines += [f"### Arm `{arm}`: {e['finished']} of {e['planned']} runs finished", ""]
        if "table" not in e:
            lines += [e.get("note", ""), ""]
            continue
        delays = [d for ds in e["delays"].values() for d in ds if d is not None and d > 0]
        early = sum(d is not None and d <= 0 for ds in e["delays"].values() for d in ds)
        if delays:
            lines += [f"Delays (grok − memorisation) of the grokked runs: {min(delays)}–{max(delays)} steps "
                      f"({max(delays) / min(delays):.1f}×)"
                      + (f"; {early} run(s) grokked at or before memorisation" if early else "") + ".", ""]
        unfitted = [m for m in METHODS if m not in e["calibration"]["methods"]]
        if unfitted:
            lines += [f"No fit on the calibration runs (nothing to score): {', '.join(unfitted)}.", ""]
        lines += ["| forecast point | runs scored on | method | n | median APE | mean APE | interval coverage |",
                  "|---|---|---|---|---|---|---|"]
        for row in e["table"]:
            lines.append(f"| {row['point']} | {row['role']} | {row['method']} | {row['n']} | "
                         f"{row['median_ape']:.1%} | {row['mean_ape']:.1%} | {row['coverage']:.0%} |")
        lines.append("")
        cen = sorted({c["run"] for c in e["censored"]})
        lines.append(f"Censored (no grok within the budget; not scored): {len(cen)} run(s)"
                     + (f": {', '.join(cen)}" if cen else "") + ".")
        if e["unmemorised"]:
            lines.append(f"Never memorised (no forecast): {', '.join(e['unmemorised'])}.")
        gb = e["grokked_before_point"]
        if gb:
            per: dict[str, int] = {}
            for g in gb:
                per[g["point"]] = per.get(g["point"], 0) + 1
            lines.append("Grokked before the forecast point (not scored there): "
                         + ", ".join(f"{k}: {v}" for k, v in per.items()) + ".")
        lines.append("")
    return "\n".join(lines)


def per_cell_markdown(result: dict, point: str) -> str:
    """Median APE per test cell and method at one forecast point."""
    lines = []
    for arm, e in result["arms"].items():
        if "scored" not in e:
            continue
        methods = [m for m in METHODS if any(s["method"] == m for s in e["scored"])]
        cells = sorted({(s["role"], s["cell"]) for s in e["scored"] if s["point"] == point},
                       key=lambda rc: (ROLES.index(rc[0]), rc[1]))
        lines += ["| arm | runs | cell | n | median delay | " + " | ".join(methods) + " |",
                  "|---|---|---|---|---|" + "---|" * len(methods)]
        for role, cell in cells:
            xs = [s for s in e["scored"] if s["point"] == point and (s["role"], s["cell"]) == (role, cell)]
            n = len({s["run"] for s in xs})
            d = statistics.median(sorted({s["run"]: s["delay"] for s in xs}.values()))
            vals = []
            for m in methods:
                a = [s["ape"] for s in xs if s["method"] == m]
                vals.append(f"{statistics.median(a):.0%}" if a else "–")
            lines.append(f"| {arm} | {role} | {cell} | {n} | {d:,.0f} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(result: dict, path: Path, point: str) -> Path:
    """Predicted against actual delay at one forecast point, one panel per method, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(METHODS)
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 4), sharex=True, sharey=True)
    markers = {"fresh": "o", "test": "s"}
    for ax, m in zip(axes, methods):
        lo, hi = math.inf, 0.0
        for arm, e in result["arms"].items():
            xs = [s for s in e.get("scored", []) if s["method"] == m and s["point"] == point]
            for role in ("fresh", "test"):
                pts = [s for s in xs if s["role"] == role]
                if not pts:
                    continue
                a = [s["delay"] for s in pts]
                p = [max(s["predicted_delay"], 1.0) for s in pts]
                ax.scatter(a, p, s=14, marker=markers[role], alpha=0.7, label=f"{arm} {role}")
                lo, hi = min(lo, *a, *p), max(hi, *a, *p)
        if hi > 0:
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.fill_between([lo, hi], [lo / 1.15, hi / 1.15], [lo * 1.15, hi * 1.15], color="0.85", lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(m)
        ax.set_xlabel("actual delay (steps)")
    axes[0].set_ylabel(f"predicted delay at {point} (steps)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def unpack(records_dir: Path, out: Path) -> int:
    """Extract every ``part-*.tgz`` of ``records_dir`` (the committed run records) into ``out``;
    returns the number of run directories extracted."""
    import tarfile

    out.mkdir(parents=True, exist_ok=True)
    names = set()
    for part in sorted(records_dir.glob("part-*.tgz")):
        with tarfile.open(part) as tar:
            tar.extractall(out, filter="data")
            names |= {Path(m.name).parent for m in tar.getmembers() if m.name.endswith("summary.json")}
    return len(names)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/forecast_eval.py")
    p.add_argument("step", choices=["train", "score", "list", "unpack"])
    p.add_argument("protocol", nargs="+", help="the protocol JSON, then any addenda to it (read as one: their "
                                               "arms together); unpack: the directory of records/part-*.tgz")
    p.add_argument("--out", required=True, help="directory of the run directories")
    p.add_argument("--arms", nargs="+", default=None)
    p.add_argument("--limit", type=int, default=None, help="train at most this many runs, then stop")
    p.add_argument("--report", default=None, help="score: write results.json, results.md, calibration.json "
                                                  "and predicted_vs_actual.png here")
    ns = p.parse_args(argv)
    out = Path(ns.out)
    if ns.step == "unpack":
        print(f"{sum(unpack(Path(d), out) for d in ns.protocol)} run directories extracted into {out}")
        return 0
    proto = load_protocols(ns.protocol)
    if ns.step == "list":
        for t in trials(proto, ns.arms):
            print(t.role, t.name, "finished" if _finished(out / t.name) else "")
        return 0
    if ns.step == "train":
        train(proto, out, ns.arms, ns.limit)
        return 0
    result = score(proto, out)
    md = markdown(result)
    print(md)
    if ns.report:
        rep = Path(ns.report)
        rep.mkdir(parents=True, exist_ok=True)
        (rep / "results.json").write_text(json.dumps(result) + "\n")
        cell_md = "\n".join(f"#### Median APE per cell at `{pt['name']}`\n\n{per_cell_markdown(result, pt['name'])}"
                            for pt in proto["forecast_points"])
        law_md = ("#### The laws' assumptions per cell (grokked runs; medians)\n\n" + law_markdown(result))
        (rep / "results.md").write_text(md + "\n" + cell_md + "\n" + law_md)
        cals = [e["calibration"] for e in result["arms"].values() if "calibration" in e]
        (rep / "calibration.json").write_text(json.dumps(cals, indent=2) + "\n")
        for pt in proto["forecast_points"]:
            plot(result, rep / f"predicted_vs_actual_{pt['name']}.png", pt["name"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
