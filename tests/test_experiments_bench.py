import json

import pytest
import torch

from radgrok.cli import main
from radgrok.experiments import bench
from radgrok.experiments.presets import get_preset
from radgrok.training.loop import build


def _tiny_configs() -> dict:
    small = dict(p=11, width=16)
    return {"paper": get_preset("paper-mlp").replace(**small, eval_every=10),
            "cpu": get_preset("cpu-mlp").replace(**small, eval_every=5),
            "multiseed": get_preset("cpu-mlp").replace(**small, eval_every=5),
            "grok": get_preset("cpu-mlp-strong-wd").replace(**small, steps=60, eval_every=10, patience=10)}


def test_bench_cli_writes_the_json_schema(tmp_path, monkeypatch, capsys):
    tiny = bench.Sizes(reps=2, steps=1, warmup=1, gemm_passes=1, evals=1, seeds=2, multiseed_steps=5, grok_reps=1,
                        penalty_steps=1)
    monkeypatch.setattr(bench, "QUICK", tiny)
    monkeypatch.setattr(bench, "default_configs", _tiny_configs)
    out = tmp_path / "r.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["machine"]) >= {"hostname", "processor", "cores"}
    assert res["torch"] == torch.__version__ and res["threads"] >= 1 and res["date"]
    for key in bench.TARGETS:
        assert {"median", "min", "max", "reps"} <= set(res[key])
        assert len(res["details"][key]["values"]) == res[key]["reps"]
    for key in ("roofline_fraction", "plain_loop_ratio", "penalty_overhead", "diagnostics_overhead",
                "multiseed_speedup"):
        r = res[key]
        assert r["reps"] == 2 and r["min"] <= r["median"] <= r["max"]
    assert res["roofline_fraction"]["median"] > 0 and res["multiseed_speedup"]["median"] > 0
    # the penalty's figure is its worst reading's median, not a median of per-repetition maxima
    pen = res["details"]["penalty_overhead"]
    per = pen["overhead_per_reading"]
    assert set(per) == set(bench.READINGS) and res["penalty_overhead"]["median"] == per[pen["worst_reading"]]["median"]
    assert per[pen["worst_reading"]]["median"] == max(v["median"] for v in per.values())
    # every reading on both presets, each a spread over the repetitions; no target for the penalty
    assert set(pen["per_preset"]) == {"paper-mlp", "cpu-mlp"}
    for readings in pen["per_preset"].values():
        assert all(readings[r]["reps"] == 2 for r in bench.READINGS)
    assert res["penalty_overhead"]["target"] is None and res["penalty_overhead"]["meets_target"] is None
    assert res["seconds_to_grok"]["reps"] == 1 and "--quick" in res["seconds_to_grok"]["note"]
    table = capsys.readouterr().out
    for key in bench.TARGETS:
        assert key in table
    assert ">= 0.7" in table and "<= 0.03" not in table and str(out) in table
    assert "cpu-mlp activation-l2" in table and "paper-mlp batch" in table


def test_device_checks():
    from radgrok.experiments.bench import run_and_print
    from radgrok.runs.config import ConfigError

    with pytest.raises(ConfigError, match="--device"):
        run_and_print(True, None, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            run_and_print(True, None, device="cuda")


def test_penalty_arms_share_one_model_and_switch_the_reading_it_applies():
    """bench_penalty's arms set rs.lam / norm_over / reduce on one model before each step: the
    hooks must read them at call time, so each arm applies its own reading (or none)."""
    import torch

    from radgrok.penalty import radial_penalty
    from radgrok.runs.config import RunConfig
    from radgrok.training.loop import make_feed

    cfg = RunConfig().replace(p=11, width=16, lam=0.05)
    b = build(cfg)
    x, y = make_feed(b, cfg).train_batch(0)
    for lam, over, red, radius in ((0.0, "example", "mean", None), (0.05, "example", "sum", None),
                                   (0.05, "batch", "mean", None), (0.05, "example", "mean", 0.0)):
        b.rs.lam, b.rs.norm_over, b.rs.reduce, b.rs.radius = lam, over, red, radius
        b.model(x)
        want = sum(radial_penalty(h, radius, over, red) for hs in b.rs.hidden().values() for h in hs) * lam
        assert b.rs.active == (lam > 0)
        torch.testing.assert_close(b.rs.penalty(), torch.as_tensor(want, dtype=torch.float32))


def test_the_penalty_benchmark_script_runs_and_records_every_reading(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_penalty.py"
    out = tmp_path / "p.json"
    subprocess.run([sys.executable, str(script), "--preset", "cpu-mlp", "--reps", "1", "--steps", "1",
                    "--json", str(out)], check=True, capture_output=True, text=True, timeout=300)
    res = json.loads(out.read_text())
    assert set(res["overhead_per_reading"]) == set(bench.READINGS)
    assert res["penalty_overhead"]["reps"] == 1 and res["steps_per_rep"] == 1


def test_the_benchmark_script_is_radgrok_bench():
    """``python benchmarks/bench.py`` is the user command, not a second parser of its own."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert out.startswith("usage: radgrok bench") and "--quick" in out and "--device" in out
