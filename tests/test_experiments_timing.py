import pytest
import torch

from radgrok.experiments import timing
from radgrok.experiments.presets import get_preset
from radgrok.runs import records
from radgrok.training.loop import build, train


def test_paper_mlp_flops_match_a_hand_count():
    # paper-mlp: N = 4704 train pairs, p = 97, two hidden layers of 512, one-hot input.
    n, w, p = 4704, 512, 97
    assert get_preset("paper-mlp").task.train_frac * 97 * 97 == pytest.approx(n, abs=0.5)
    # hidden.1 (512 -> 512) and out (512 -> 97): forward 2*N*in*out each, backward dX and dW as much again
    hand = 3 * (2 * n * w * w + 2 * n * w * p)
    assert hand == 8_800_468_992  # 3 * (2,466,250,752 + 467,238,912)
    f = timing.step_flops(n, p, w, 2)
    assert f["gemm"] == hand
    assert f["first_layer_adds"] == 4 * n * w  # the gathers: no GEMM
    names = [s[0] for s in timing.gemm_shapes(n, p, w, 2)]
    assert names == ["hidden.1 fwd", "hidden.1 dX", "hidden.1 dW", "out fwd", "out dX", "out dW"]
    # an embedding input makes the first layer a GEMM too; a third hidden layer adds 3 * 2*N*w*w
    assert timing.step_flops(n, p, w, 2, "embed", 8)["gemm"] == hand + 3 * 2 * n * 16 * w
    assert timing.step_flops(n, p, w, 3)["gemm"] == hand + 3 * 2 * n * w * w


def test_gemm_pass_runs_the_step_layouts():
    shapes = timing.gemm_shapes(10, 5, 8, 2)
    timing.gemm_pass(shapes, torch.float32)()  # shapes must be mm-compatible
    assert [(m, k, c) for _, m, k, c, _ in shapes][:3] == [(10, 8, 8), (10, 8, 8), (8, 10, 8)]


@pytest.mark.parametrize("batch_size", [0, 7])
def test_loop_stepper_is_the_training_loop_step(tmp_path, batch_size):
    cfg = get_preset("cpu-mlp").replace(p=11, width=16, steps=6, eval_every=6, checkpoint_every=6,
                                        batch_size=batch_size, diagnostics=False, lam=0.05)
    train(cfg, tmp_path / "run", progress=False)
    want = records.load_checkpoint(tmp_path / "run" / records.CHECKPOINT)["model"]
    b = build(cfg)
    step = timing.loop_stepper(b, cfg)
    for _ in range(6):
        step()
    got = b.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # bit for bit


def test_plain_stepper_trains():
    step = timing.plain_stepper(get_preset("paper-mlp").replace(p=11, width=16))
    step()
    step()


def test_timer_times_the_call():
    assert 0.0 <= timing.timer("cpu")(lambda: sum(range(1000))) < 5.0


def test_alternate_interleaves_the_arms_and_reverses_the_order_every_other_call():
    calls: list[str] = []
    arms = {k: ((lambda k=k: calls.append(k)), 2) for k in "ab"}
    out = timing.alternate(arms, reps=2, log=lambda msg: None, key="x")
    assert calls == ["a", "b", "b", "a", "b", "a", "a", "b"]  # A B B A per repetition, the next starting B
    assert {k: len(v) for k, v in out.items()} == {"a": 2, "b": 2} and all(x >= 0 for v in out.values() for x in v)
