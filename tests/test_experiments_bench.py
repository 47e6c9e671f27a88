import json

import pytest
import torch

from radgrok.cli import main
from radgrok.experiments import bench
from radgrok.experiments.presets import get_preset
from radgrok.runs.config import ConfigError
from radgrok.training.loop import build

TINY = bench.Sizes(reps=2, warmup=1, penalty_steps=1)


def test_bench_cli_times_every_reading_on_every_preset_and_writes_the_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", TINY)
    monkeypatch.setattr(bench, "get_preset", lambda name: get_preset(name).replace(p=11, width=16))
    out = tmp_path / "r.json"
    assert main(["bench", "--quick", "--preset", "cpu-mlp", "--preset", "paper-mlp", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["benchmark"] == "radgrok bench --quick" and res["sizes"] == {"reps": 2, "warmup": 1, "penalty_steps": 1}
    assert set(res["machine"]) >= {"hostname", "processor", "cores"}
    assert res["torch"] == torch.__version__ and res["threads"] >= 1 and res["date"]
    o, pen = res["penalty_overhead"], res["details"]["penalty_overhead"]
    assert o["reps"] == 2 and o["min"] <= o["median"] <= o["max"] and o["target"] is None
    # the key is the first preset's worst reading: its median, not a median of per-repetition maxima
    per = pen["overhead_per_reading"]
    assert pen["preset"] == "cpu-mlp" and set(per) == set(bench.READINGS)
    assert o["median"] == per[pen["worst_reading"]]["median"] == max(v["median"] for v in per.values())
    assert list(pen["per_preset"]) == ["cpu-mlp", "paper-mlp"]
    for readings in pen["per_preset"].values():
        assert all(readings[r]["reps"] == 2 for r in bench.READINGS)
    table = capsys.readouterr().out
    assert "cpu-mlp activation-l2" in table and "paper-mlp batch" in table and str(out) in table


@pytest.mark.parametrize("argv, match", [(["--device", "tpu"], "--device must be cpu or cuda"),
                                         (["--preset", "nope"], "preset must be one of")])
def test_bad_arguments_are_refused_before_anything_is_timed(monkeypatch, argv, match):
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: pytest.fail("timed"))
    with pytest.raises(ConfigError, match=match):
        bench.run_and_print(True, None, **({"device": argv[1]} if argv[0] == "--device" else {"presets": [argv[1]]}))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            bench.run_and_print(True, None, device="cuda")


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


def test_timer_times_the_call():
    assert 0.0 <= bench.timer("cpu")(lambda: sum(range(1000))) < 5.0


def test_alternate_interleaves_the_arms_and_reverses_the_order_every_other_call():
    calls: list[str] = []
    arms = {k: ((lambda k=k: calls.append(k)), 2) for k in "ab"}
    out = bench.alternate(arms, reps=2, log=lambda msg: None, key="x")
    assert calls == ["a", "b", "b", "a", "b", "a", "a", "b"]  # A B B A per repetition, the next starting B
    assert {k: len(v) for k, v in out.items()} == {"a": 2, "b": 2} and all(x >= 0 for v in out.values() for x in v)
