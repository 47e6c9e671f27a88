"""``radgrok`` command line. Flags for ``train`` are generated from the config dataclasses.

Every bad value is reported as one line (``radgrok: error: <field> must be ...``)
with exit code 2, before any training starts and before any run directory exists.
Torch is imported only by the sub-commands that train, so ``radgrok --help`` is fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from pathlib import Path
from typing import Literal, get_args, get_origin

from .runs.config import SECTIONS, ConfigError, RunConfig, to_dict, validate
from .runs.records import Status, atomic_write_text, read_config, run_name

__all__ = ["main", "build_parser", "config_from_args"]


class _Parser(argparse.ArgumentParser):
    """argparse prints usage plus the message; we print the message alone, on one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # "--p" must never silently mean "--preset"
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        # "argument --seed: --seed must be ..." -> "--seed must be ..."
        raise ConfigError(re.sub(r"^argument [^:]+: (?=--)", "", message))


def _converter(name: str, hint):
    """A string -> value function whose failure message names the field and the allowed values."""
    flag = "--" + name.replace("_", "-")
    args = [a for a in get_args(hint) if a is not type(None)]
    optional = type(None) in get_args(hint)
    base = args[0] if optional and len(args) == 1 else hint
    kinds = {int: "an integer", float: "a number", str: "a string"}

    def convert(text: str):
        if optional and text.lower() == "none":
            return None
        if get_origin(base) is Literal:
            if text not in get_args(base):
                raise argparse.ArgumentTypeError(f"{flag} must be one of {list(get_args(base))}, got {text!r}")
            return text
        if base is bool:  # bool("false") is True: spell the two values out
            if text.lower() not in ("true", "false"):
                raise argparse.ArgumentTypeError(f"{flag} must be true or false, got {text!r}")
            return text.lower() == "true"
        try:
            return base(text)
        except ValueError:
            extra = " or none" if optional else ""
            raise argparse.ArgumentTypeError(
                f"{flag} must be {kinds.get(base, base.__name__)}{extra}, got {text!r}") from None

    return convert


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    defaults = RunConfig()
    for sec, cls in SECTIONS.items():
        group = p.add_argument_group(sec)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = getattr(getattr(defaults, sec), f.name)
            text = f"{f.metadata.get('help', '')} (default {default!r}; presets may change it)"
            if hints[f.name] is bool:
                group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                   default=None, help=text)
            else:
                lit = get_origin(hints[f.name]) is Literal
                metavar = "{" + ",".join(get_args(hints[f.name])) + "}" if lit else f.name.upper()
                group.add_argument(flag, dest=f.name, type=_converter(f.name, hints[f.name]),
                                   default=None, metavar=metavar, help=text)


TRAIN_PRESET = "cpu-mlp"  # what `radgrok train` starts from when no --preset is given

_BATCH_HELP = ("stack trials that differ only in seed/lam/lr/wd into one vmapped step (train_many): "
               "auto = on CUDA only, where it is faster")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="radgrok", description="Radial suppression and grokking experiments.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train one run from a preset plus overrides")
    t.add_argument("--preset", default=None,
                   help="preset name (see `radgrok presets`; default cpu-mlp, or under --resume the config the "
                        "run in --out recorded)")
    t.add_argument("--out", default=None, help="run directory (default runs/<preset>-s<seed>)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with its recorded config (flags "
                        "such as --steps still apply)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--tracker", default="none",
                   help="none, tensorboard or wandb (extras; wandb honours WANDB_MODE=offline)")
    _add_config_flags(t)

    sub.add_parser("presets", help="list presets with a one-line description")

    d = sub.add_parser("demo", help="the penalty's readings beside weight decay on the CPU preset, 2 seeds each")
    d.add_argument("--out", default="demo-out", help="output directory (runs, PNG, report.md)")
    d.add_argument("--seeds", type=_converter("seeds", int), default=2, help="seeds per arm")
    d.add_argument("--workers", type=_converter("workers", int), default=2, help="parallel processes")

    w = sub.add_parser("sweep", help="a grid of config fields x seeds on a preset, locally or on Ray")
    w.add_argument("--preset", default="cpu-mlp", help="preset the grid starts from")
    w.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a config field and its values (repeatable), e.g. --grid lam=0,0.05")
    w.add_argument("--seeds", type=_converter("seeds", int), nargs="+", default=[0], help="seeds")
    w.add_argument("--backend", choices=["local", "ray"], default="local", help="where trials run")
    w.add_argument("--workers", type=_converter("workers", int), default=None, help="parallel trials")
    w.add_argument("--out", default="runs/sweep", help="sweep directory (one run directory per trial)")
    w.add_argument("--device", default="", help="torch device for every trial, e.g. cuda (default: the preset's)")
    w.add_argument("--batch", choices=["auto", "on", "off"], default="auto", help=_BATCH_HELP)

    c = sub.add_parser("compare", help="strong WD, penalty, Grokfast, OrthoGrad, penalty+Grokfast at "
                                       "matched budget and seeds, optionally tuned on a validation split")
    c.add_argument("--preset", default="cpu-mlp-strong-wd", help="base preset every arm starts from")
    c.add_argument("--arms", nargs="+", default=None, help="subset of arms (default: all)")
    c.add_argument("--seeds", type=_converter("seeds", int), nargs="+", default=[0, 1, 2], help="final seeds")
    c.add_argument("--tune", action="append", default=[], metavar="FIELD=V1,V2",
                   help="per-arm search over a config field, scored on validation (repeatable)")
    c.add_argument("--tune-seeds", type=_converter("tune_seeds", int), nargs="+", default=[0])
    c.add_argument("--val-frac", type=_converter("val_frac", float), default=0.1,
                   help="fraction of the training pairs used for validation while tuning")
    c.add_argument("--workers", type=_converter("workers", int), default=None, help="parallel runs")
    c.add_argument("--out", default="runs/compare", help="output directory")

    q = sub.add_parser("reproduce", help="run one paper table/figure and report ours beside the paper's numbers")
    q.add_argument("target", help="table1 table2 table3 table6 table7 table9 table10 fig1 fig3 fig4 fig5 choices "
                                  "mechanism")
    q.add_argument("--scale", default="cpu", help="cpu (calibrated CPU twins, < 60 min each) or paper (GPU)")
    q.add_argument("--seeds", type=_converter("seeds", int), default=None, help="seeds per arm (default per target)")
    q.add_argument("--out", default=None, help="output directory (default runs/reproduce/TARGET-SCALE)")
    q.add_argument("--workers", type=_converter("workers", int), default=2, help="parallel trial processes")
    q.add_argument("--backend", default="local", help="local or ray")
    q.add_argument("--dry-run", action="store_true", help="list the trials and their estimated cost; train nothing")
    q.add_argument("--device", default="", help="torch device for every trial, e.g. cuda (default: the preset's, cpu)")
    q.add_argument("--batch", choices=["auto", "on", "off"], default="auto", help=_BATCH_HELP)
    q.add_argument("--report-only", action="store_true", help="train nothing; report the runs finished under --out")
    q.add_argument("--only", nargs="+", default=None, metavar="PATTERN",
                   help="train only the trials whose names match these shell patterns (e.g. 'penalty@batch-s*'); "
                        "the report covers every arm")
    q.add_argument("--steps", type=_converter("steps", int), default=None,
                   help="cap every trial's budget at this many steps (CPU time); runs stopped by the cap are "
                        "reported as bounds against the arm's own budget")

    r = sub.add_parser("report", help="table and accuracy plot for every run under a directory")
    r.add_argument("path", help="a run directory or a directory of runs")

    pl = sub.add_parser("plot", help="diagnostic figures of one run: Φ̃_rad, radius, anisotropy, Fourier "
                                     "chronology, neuron × frequency selectivity")
    pl.add_argument("run_dir", help="a run directory (config.json, metrics.jsonl)")
    pl.add_argument("--out", default=None, help="output directory (default: the run directory)")

    e = sub.add_parser("early-warning", help="score the grokking early-warning rules (weight-norm drop, Φ̃_rad "
                                             "rise) against the grok steps of finished runs")
    e.add_argument("dirs", nargs="+", help="run directories or directories of runs")
    e.add_argument("--horizon", type=_converter("horizon", int), default=20,
                   help="evaluations within which an alarm must be followed by a grok to count as a hit")
    e.add_argument("--out", default=None, metavar="FILE", help="also write the markdown table here")

    fc = sub.add_parser("forecast", help="forecast the grok step of memorised runs from their training-side records "
                                          "(calibrated laws; see docs/results/forecast)")
    fc.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (config.json, metrics.jsonl)")
    fc.add_argument("--at", type=_converter("at", int), default=None, metavar="STEP",
                    help="forecast from the rows logged up to this step (default: all rows)")
    fc.add_argument("--method", default="all", help="a method (inverse-decay, first-passage, norm-rate, radius-rate) "
                                                    "or all")
    fc.add_argument("--calibration", default=None, metavar="FILE",
                    help="a calibration JSON (radgrok.forecast.save_calibrations); default: radgrok's own")

    b = sub.add_parser("bench", help="what the penalty costs a training step on this machine, per reading of ||h||")
    b.add_argument("--quick", action="store_true", help="fewer steps per repetition (about a minute per preset)")
    b.add_argument("--preset", action="append", default=None, metavar="NAME",
                   help="a preset to time (repeatable; default paper-mlp and cpu-mlp)")
    b.add_argument("--json", default=None, metavar="FILE",
                   help="output file (default benchmarks/results/<hostname>-<YYYY-MM-DD>.json)")
    b.add_argument("--device", default="cpu", help="cpu or cuda[:N]; on CUDA every time is taken with CUDA events")
    return p


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    """Preset first (under ``--resume`` without ``--preset``: the config the run in ``--out``
    recorded), then every flag the user gave; validated."""
    from .experiments.presets import get_preset

    cfg = _recorded_config(ns) or get_preset(ns.preset or TRAIN_PRESET)
    names = {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(ns).items() if k in names and v is not None}
    return validate(cfg.replace(**given))


def _recorded_config(ns: argparse.Namespace) -> RunConfig | None:
    """The config a resumed run recorded, when the user names no preset. None where there is
    nothing readable to take it from: train's own checks then name the missing or damaged file."""
    if not getattr(ns, "resume", False) or ns.preset is not None or not ns.out:
        return None
    try:
        return read_config(ns.out)
    except Exception:  # any unreadable record: train reports it in one line
        return None


def _cmd_train(ns: argparse.Namespace) -> int:
    cfg = config_from_args(ns)
    from .runs.steps import run_step
    from .training.loop import train
    from .training.trackers import make_tracker

    out = ns.out or f"runs/{run_name(ns.preset or TRAIN_PRESET, cfg.train.seed)}"

    on_eval, close = make_tracker(ns.tracker, out, to_dict(cfg))
    try:
        s = train(cfg, out_dir=out, resume=ns.resume, progress=None if not ns.quiet else False, on_eval=on_eval)
    finally:
        close()
    print(f"{out}: status {s['status']}, grok step {run_step(s)}, memorised {s['memorised_step']}, "
          f"final test acc {s['final']['test_acc']:.4f}, {s['steps_done']} steps in {s['wall_seconds']:.1f} s")
    if s["status"] == Status.DIVERGED:
        print(f"radgrok: {s['message']}", file=sys.stderr)
        return 1
    return 0


def _cmd_presets(ns: argparse.Namespace) -> int:
    from .experiments.presets import PRESETS

    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.description}")
    return 0


MAX_SEEDS = 1000  # per arm: demo and reproduce list range(seeds) trials up front, so a huge count would exhaust memory


def _check_seeds(seeds: int | None) -> None:
    if seeds is not None and not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be in [1, {MAX_SEEDS}], got {seeds}")


def _cmd_demo(ns: argparse.Namespace) -> int:
    _check_seeds(ns.seeds)
    if ns.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {ns.workers}")
    from .experiments.demo import run_demo

    run_demo(ns.out, seeds=ns.seeds, workers=ns.workers)
    return 0


def _parse_grid(items: list[str], flag: str = "--grid") -> dict[str, list]:
    """``["lam=0,0.05", "weight_decay=1"]`` -> typed values, checked against the config fields."""
    hints = {f.name: typing.get_type_hints(cls)[f.name] for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    out = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not values:
            raise ConfigError(f"{flag} must look like FIELD=V1,V2, got {item!r}")
        if name not in hints:
            raise ConfigError(f"{flag} field must be a config field (see radgrok train --help), got {name!r}")
        conv = _converter(name, hints[name])
        try:
            out[name] = [conv(v.strip()) for v in values.split(",")]
        except argparse.ArgumentTypeError as e:
            raise ConfigError(f"{flag} {name}: {e}") from None
    return out


def _cmd_sweep(ns: argparse.Namespace) -> int:
    from .experiments.sweep import grid, run_sweep

    trials = grid(ns.preset, _parse_grid(ns.grid), seeds=ns.seeds, device=ns.device)
    print(f"radgrok sweep: {len(trials)} trial(s) on {ns.backend} -> {ns.out}")
    results = run_sweep(trials, ns.out, backend=ns.backend, workers=ns.workers, batch=ns.batch)
    failed = sum(r.get("status") == Status.FAILED for r in results)
    print(f"{len(trials) - failed} finished, {failed} failed; table: {ns.out}/results.csv")
    return 1 if failed else 0


def _cmd_compare(ns: argparse.Namespace) -> int:
    from .experiments.compare import METHOD_ARMS, compare

    names = ns.arms or list(METHOD_ARMS)
    unknown = [a for a in names if a not in METHOD_ARMS]
    if unknown:
        raise ConfigError(f"--arms must be among {list(METHOD_ARMS)}, got {unknown}")
    if not 0.0 < ns.val_frac < 1.0:
        raise ConfigError(f"--val-frac must be in (0, 1), got {ns.val_frac}")
    md = compare(ns.out, ns.preset, {a: METHOD_ARMS[a] for a in names}, ns.seeds,
                 _parse_grid(ns.tune, "--tune") or None, ns.tune_seeds, ns.val_frac, ns.workers)
    print(md)
    return 0


def _cmd_report(ns: argparse.Namespace) -> int:
    if not Path(ns.path).exists():
        raise ConfigError(f"path: {ns.path} does not exist")
    from .report.report import report_dir

    print(report_dir(ns.path))
    return 0


def _cmd_plot(ns: argparse.Namespace) -> int:
    if not (Path(ns.run_dir) / "metrics.jsonl").exists() or not (Path(ns.run_dir) / "config.json").exists():
        raise ConfigError(f"run_dir: {ns.run_dir} is not a run directory (no metrics.jsonl and config.json)")
    from .report.diagnostic_plots import plot_run

    print("\n".join(plot_run(ns.run_dir, ns.out)))  # one line per figure: written, or skipped and why
    return 0


def _cmd_reproduce(ns: argparse.Namespace) -> int:
    from .experiments.reproduce import reproduce

    _check_seeds(ns.seeds)
    cmd = "radgrok reproduce " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["reproduce"] else ""
    print(reproduce(ns.target, ns.scale, ns.seeds, ns.out, ns.workers, ns.backend, ns.dry_run, command=cmd,
                    device=ns.device, batch=ns.batch, report_only=ns.report_only, only=ns.only, steps=ns.steps))
    return 0


def _cmd_early_warning(ns: argparse.Namespace) -> int:
    for d in ns.dirs:
        if not Path(d).is_dir():
            raise ConfigError(f"dirs: {d} is not a directory")
    if ns.horizon < 1:
        raise ConfigError(f"--horizon must be an integer >= 1, got {ns.horizon}")
    if ns.out and not Path(ns.out).parent.is_dir():
        raise ConfigError(f"--out: the directory of {ns.out} does not exist")
    from .report.early_warning import early_warning_table, evaluate_dirs

    try:
        recs = evaluate_dirs(ns.dirs, horizon=ns.horizon)
    except (OSError, ValueError, KeyError, TypeError) as e:  # a damaged record: name it, never a traceback
        raise ConfigError(f"dirs: a run record under {' '.join(ns.dirs)} could not be read "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not recs:
        raise ConfigError(f"dirs: no finished run (summary.json) under {' '.join(ns.dirs)}")
    table = early_warning_table(recs)
    print(table)
    if ns.out:
        atomic_write_text(Path(ns.out), table + "\n")
    return 0


def _cmd_forecast(ns: argparse.Namespace) -> int:
    from .report.forecast import forecast_lines

    print("\n".join(forecast_lines(ns.run_dirs, ns.at, ns.method, ns.calibration)))  # never empty: a run has lines
    return 0


def _cmd_bench(ns: argparse.Namespace) -> int:
    from .experiments.bench import run_and_print

    return run_and_print(ns.quick, ns.json, ns.device, ns.preset)


def _one_line(text: str) -> str:
    """``text`` with every unprintable character escaped: a message quoting a value as given (a path,
    a target) must not be broken into lines by a newline, or U+0085 and the like, inside the value."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: list[str] | None = None) -> int:
    try:
        ns = build_parser().parse_args(argv)
        return {"train": _cmd_train, "presets": _cmd_presets, "demo": _cmd_demo, "sweep": _cmd_sweep,
                "compare": _cmd_compare, "report": _cmd_report, "reproduce": _cmd_reproduce, "bench": _cmd_bench,
                "plot": _cmd_plot, "early-warning": _cmd_early_warning,
                "forecast": _cmd_forecast}[ns.command](ns)
    except ConfigError as e:
        print(f"radgrok: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("radgrok: interrupted; rerun with --resume to continue from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
