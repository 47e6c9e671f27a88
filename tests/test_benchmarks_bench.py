"""benchmarks/sb.py: the project's speed benchmark (developer tooling, outside the package)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from radgrok.experiments.presets import get_preset
from radgrok.runs import records
from radgrok.training.loop import build, train

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
_SPEC = importlib.util.spec_from_file_location("radgrok_speed_bench", _PATH)
sb = sys.modules["radgrok_speed_bench"] = importlib.util.module_from_spec(_SPEC)  # dataclasses look it up
_SPEC.loader.exec_module(sb)


def _tiny_configs() -> dict:
    small = dict(p=11, width=16)
    return {"paper": get_preset("paper-mlp").replace(**small, eval_every=10),
            "cpu": get_preset("cpu-mlp").replace(**small, eval_every=5),
            "multiseed": get_preset("cpu-mlp").replace(**small, eval_every=5),
            "grok": get_preset("cpu-mlp-strong-wd").replace(**small, steps=60, eval_every=10, patience=10)}


def test_the_benchmark_writes_every_key(tmp_path, monkeypatch, capsys):
    tiny = sb.Sizes(reps=2, steps=1, warmup=1, gemm_passes=1, evals=1, seeds=2, multiseed_steps=5, grok_reps=1,
                    penalty_steps=1)
    monkeypatch.setattr(sb, "QUICK", tiny)
    monkeypatch.setattr(sb, "default_configs", _tiny_configs)
    out = tmp_path / "r.json"
    assert sb.main(["--quick", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["machine"]) >= {"hostname", "processor", "cores"}
    assert res["torch"] == torch.__version__ and res["threads"] >= 1 and res["date"]
    for key in sb.TARGETS:
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
    assert set(per) == set(sb.bench.READINGS)
    assert res["penalty_overhead"]["median"] == per[pen["worst_reading"]]["median"]
    assert per[pen["worst_reading"]]["median"] == max(v["median"] for v in per.values())
    # every reading on both presets, each a spread over the repetitions; no target for the penalty
    assert set(pen["per_preset"]) == {"paper-mlp", "cpu-mlp"}
    for readings in pen["per_preset"].values():
        assert all(readings[r]["reps"] == 2 for r in sb.bench.READINGS)
    assert res["penalty_overhead"]["target"] is None and res["penalty_overhead"]["meets_target"] is None
    assert res["benchmark"] == "benchmarks/bench.py --quick"
    assert res["seconds_to_grok"]["reps"] == 1 and "--quick" in res["seconds_to_grok"]["note"]
    table = capsys.readouterr().out
    for key in sb.TARGETS:
        assert key in table
    assert ">= 0.7" in table and "<= 0.03" not in table and str(out) in table
    assert "cpu-mlp activation-l2" in table and "paper-mlp batch" in table


def test_paper_mlp_flops_match_a_hand_count():
    # paper-mlp: N = 4704 train pairs, p = 97, two hidden layers of 512, one-hot input.
    n, w, p = 4704, 512, 97
    assert get_preset("paper-mlp").task.train_frac * 97 * 97 == pytest.approx(n, abs=0.5)
    # hidden.1 (512 -> 512) and out (512 -> 97): forward 2*N*in*out each, backward dX and dW as much again
    hand = 3 * (2 * n * w * w + 2 * n * w * p)
    assert hand == 8_800_468_992  # 3 * (2,466,250,752 + 467,238,912)
    f = sb.step_flops(n, p, w, 2)
    assert f["gemm"] == hand
    assert f["first_layer_adds"] == 4 * n * w  # the gathers: no GEMM
    names = [s[0] for s in sb.gemm_shapes(n, p, w, 2)]
    assert names == ["hidden.1 fwd", "hidden.1 dX", "hidden.1 dW", "out fwd", "out dX", "out dW"]
    # an embedding input makes the first layer a GEMM too; a third hidden layer adds 3 * 2*N*w*w
    assert sb.step_flops(n, p, w, 2, "embed", 8)["gemm"] == hand + 3 * 2 * n * 16 * w
    assert sb.step_flops(n, p, w, 3)["gemm"] == hand + 3 * 2 * n * w * w


def test_gemm_pass_runs_the_step_layouts():
    shapes = sb.gemm_shapes(10, 5, 8, 2)
    sb.gemm_pass(shapes, torch.float32)()  # shapes must be mm-compatible
    assert [(m, k, c) for _, m, k, c, _ in shapes][:3] == [(10, 8, 8), (10, 8, 8), (8, 10, 8)]


@pytest.mark.parametrize("batch_size", [0, 7])
def test_loop_stepper_is_the_training_loop_step(tmp_path, batch_size):
    cfg = get_preset("cpu-mlp").replace(p=11, width=16, steps=6, eval_every=6, checkpoint_every=6,
                                        batch_size=batch_size, diagnostics=False, lam=0.05)
    train(cfg, tmp_path / "run", progress=False)
    want = records.load_checkpoint(tmp_path / "run" / records.CHECKPOINT)["model"]
    b = build(cfg)
    step = sb.loop_stepper(b, cfg)
    for _ in range(6):
        step()
    got = b.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # bit for bit


def test_plain_stepper_trains():
    step = sb.plain_stepper(get_preset("paper-mlp").replace(p=11, width=16))
    step()
    step()




@pytest.mark.parametrize("device", ["tpu", "cuda:0"])
def test_a_bad_device_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, device):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a CUDA device is available here: cuda:0 is a good device")
    monkeypatch.chdir(tmp_path)  # nothing may be written: the check comes before any timing
    assert sb.main(["--quick", "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())
