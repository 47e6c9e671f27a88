import math
import re

import pytest
import torch

from radgrok.runs import records
from radgrok.runs.config import ConfigError, RunConfig
from radgrok.runs.records import Status
from radgrok.training.loop import train

TINY = dict(p=11, train_frac=0.6, width=16, depth=2, steps=60, eval_every=10, checkpoint_every=10,
            weight_decay=0.1, lam=0.05, early_stop=False)


def tiny(**kw) -> RunConfig:
    return RunConfig().replace(**{**TINY, **kw})


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    a = train(tiny(), tmp_path / "a", progress=False)
    b = train(tiny(), tmp_path / "b", progress=False)
    ma = records.read_jsonl(tmp_path / "a" / records.METRICS)
    mb = records.read_jsonl(tmp_path / "b" / records.METRICS)
    assert ma == mb and len(ma) == 7
    assert a["grok_step"] == b["grok_step"]
    c = train(tiny(seed=1), None, progress=False)
    assert c["final"] != a["final"]


def test_run_record_contents(tmp_path):
    s = train(tiny(), tmp_path / "r", progress=False)
    cfg = records.read_json(tmp_path / "r" / records.CONFIG)
    assert cfg["config"]["penalty"]["lam"] == 0.05 and "torch" in cfg
    rows = records.read_jsonl(tmp_path / "r" / records.METRICS)
    assert [r["step"] for r in rows] == list(range(0, 61, 10))
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "penalty", "penalty_raw", "weight_norm",
                "radius/hidden.0.pre", "radius/hidden.1.pre"):
        assert key in rows[-1]
    assert rows[-1]["penalty"] == pytest.approx(0.05 * rows[-1]["penalty_raw"])
    split = records.read_json(tmp_path / "r" / records.SPLIT)
    assert split["n_train"] == round(0.6 * 121)
    summary = records.read_json(tmp_path / "r" / records.SUMMARY)
    assert summary == s and s["status"] in ("grokked", "dng")
    assert s["seed"] == 0 and s["weight_decay"] == 0.1 and s["eval_every"] == 10
    assert not list((tmp_path / "r").glob(".*tmp"))  # no temp files left behind


@pytest.mark.parametrize("batch_size,methods", [
    (0, {}),
    (16, {}),
    (0, dict(grokfast="ema")),
    (16, dict(grokfast="ma", grokfast_window=5, orthograd=True, loss="stablemax")),
    (16, dict(arch="transformer", depth=1, n_heads=2, ln="nonaffine")),
])
def test_interrupted_run_resumes_to_identical_metrics(tmp_path, batch_size, methods):
    cfg = tiny(batch_size=batch_size, dropout=0.1, checkpoint_every=20, **methods)
    train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "cut", progress=False, stop_after_steps=30)
    assert part["status"] == Status.RUNNING  # as its summary.json says: stopped from outside
    # a kill between checkpoints leaves metrics past the checkpoint; resume must redo them
    assert records.load_checkpoint(tmp_path / "cut" / records.CHECKPOINT)["step"] == 20
    assert records.read_jsonl(tmp_path / "cut" / records.METRICS)[-1]["step"] == 30
    train(cfg, tmp_path / "cut", resume=True, progress=False)
    full = records.read_jsonl(tmp_path / "full" / records.METRICS)
    cut = records.read_jsonl(tmp_path / "cut" / records.METRICS)
    assert cut == full


def test_existing_run_directory_is_not_overwritten(tmp_path):
    train(tiny(steps=10), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="already exists"):
        train(tiny(steps=10), tmp_path / "r", progress=False)


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    s = train(tiny(lr=1e15, lam=0.0, weight_decay=0.0), tmp_path / "r", progress=False)
    assert s["status"] == "diverged" and "non-finite" in s["message"]
    ck = records.load_checkpoint(tmp_path / "r" / records.CHECKPOINT)
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert ck["step"] < s["steps_done"]


def test_early_stop_after_grok_plus_patience(monkeypatch):
    # Script the test accuracy so the rule is tested exactly: above 90% from step 30 on.
    from radgrok.training import feeds

    real = feeds.evaluate  # the modular task's evaluation, which ModularFeed calls

    def scripted(b, *args):
        row = real(b, *args)
        step = b.sched.last_epoch  # optimizer steps taken so far
        row["test_acc"] = 0.95 if step >= 30 else 0.2 if step != 10 else 0.93
        return row

    monkeypatch.setattr(feeds, "evaluate", scripted)
    s = train(tiny(steps=200, early_stop=True, patience=40), None, progress=False)
    assert s["status"] == "grokked" and s["grok_step"] == 30
    assert s["steps_done"] == 70
    s = train(tiny(steps=60, early_stop=False), None, progress=False)
    assert s["steps_done"] == 60 and s["grok_step"] == 30


def test_float64_and_mini_batch_epochs(tmp_path):
    s = train(tiny(dtype="float64", batch_size=16, steps=20), tmp_path / "r", progress=False)
    rows = records.read_jsonl(tmp_path / "r" / records.METRICS)
    n_train = s["n_train"]
    assert rows[-1]["epoch"] == pytest.approx(20 * 16 / n_train)
    assert math.isfinite(rows[-1]["train_loss"])


def test_methods_change_the_run():
    base = train(tiny(), None, progress=False)["final"]
    for methods in (dict(grokfast="ema"), dict(orthograd=True), dict(loss="stablemax")):
        assert train(tiny(**methods), None, progress=False)["final"] != base, methods


def test_identical_weights_with_two_threads(tmp_path):
    """torch's default here is 2 threads: the run must not depend on thread scheduling."""
    before = torch.get_num_threads()
    try:
        # paper-mlp shapes: large enough that torch really splits the first layer's backward
        cfg = RunConfig().replace(threads=2, steps=3, eval_every=3, diagnostics=False, lam=0.05)
        train(cfg, tmp_path / "a", progress=False)
        train(cfg, tmp_path / "b", progress=False)
    finally:
        torch.set_num_threads(before)
    wa = records.load_checkpoint(tmp_path / "a" / records.CHECKPOINT)["model"]
    wb = records.load_checkpoint(tmp_path / "b" / records.CHECKPOINT)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_grokfast_scale_lr_divides_the_learning_rate():
    from radgrok.training.loop import build

    b = build(tiny(grokfast="ema", grokfast_lamb=2.0, grokfast_scale_lr=True, lr=3e-3))
    assert b.opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert build(tiny(grokfast="ema", lr=3e-3)).opt.param_groups[0]["lr"] == 3e-3


def test_resume_from_checkpoint_0_logs_each_row_once(tmp_path):
    """A kill before the first periodic checkpoint leaves checkpoint 0 and rows past it;
    the resume must not log the step-0 row a second time."""
    cfg = tiny(steps=40, checkpoint_every=1000)
    train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "cut", progress=False, stop_after_steps=20)  # the state a kill at step 20 leaves
    assert records.load_checkpoint(tmp_path / "cut" / records.CHECKPOINT)["step"] == 0
    train(cfg, tmp_path / "cut", resume=True, progress=False)
    full = records.read_jsonl(tmp_path / "full" / records.METRICS)
    assert [r["step"] for r in full] == [0, 10, 20, 30, 40]
    assert records.read_jsonl(tmp_path / "cut" / records.METRICS) == full


def test_out_that_cannot_be_created_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create run directory .*Not a directory"):
        train(tiny(), blocker / "a" / "run", progress=False)
    assert blocker.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_run_directory_is_locked_while_training(tmp_path):
    import os

    out = tmp_path / "r"
    seen = []
    train(tiny(steps=20), out, progress=False, on_eval=lambda row: seen.append((out / records.LOCK).read_text()))
    assert seen and set(seen) == {f"{os.getpid()}\n"}
    assert not (out / records.LOCK).exists()  # released on return

    def boom(row: dict) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(tiny(steps=20), tmp_path / "s", progress=False, on_eval=boom)
    assert not (tmp_path / "s" / records.LOCK).exists()  # released on raise
    # a live process holding the directory keeps every other writer out, before anything is read or written
    (out / records.LOCK).write_text(f"{os.getppid()}\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError, match=f"run directory {re.escape(str(out))} is in use by process {os.getppid()}"):
        train(tiny(steps=40), out, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


class _Killed(BaseException):
    """A kill, as far as the records go: nothing after it is written (BaseException: no handler catches it)."""


@pytest.mark.parametrize("early_stop", [False, True])
def test_kill_between_the_final_checkpoint_and_the_final_summary(tmp_path, monkeypatch, early_stop):
    """The final checkpoint is written before the final summary, so a finished summary always comes with
    the checkpoint of its last step; a resume from that checkpoint adds nothing, not even after an
    early stop (it used to train one more evaluation interval past the stop)."""
    from radgrok.training import feeds
    from radgrok.training.loop import load_final_model

    real = feeds.evaluate

    def scripted(b, *args):  # grokked from step 30 on (as in test_early_stop_after_grok_plus_patience)
        row = real(b, *args)
        row["test_acc"] = 0.95 if b.sched.last_epoch >= 30 else 0.2
        return row

    monkeypatch.setattr(feeds, "evaluate", scripted)
    # early stop at 30 + 25 -> the first evaluation at 60; no early stop: the budget, 70. Neither is on the
    # checkpoint grid (0, 40), so the final checkpoint is one of its own.
    cfg = tiny(steps=70, checkpoint_every=40, early_stop=early_stop, patience=25)
    want = train(cfg, tmp_path / "full", progress=False)
    assert want["steps_done"] == (60 if early_stop else 70) and want["grok_step"] == 30
    write_json = records.write_json

    def killed_at_the_final_summary(path, obj, *a, **kw):
        if path.name == records.SUMMARY and obj["status"] != "running":
            raise _Killed
        write_json(path, obj, *a, **kw)

    monkeypatch.setattr(records, "write_json", killed_at_the_final_summary)
    with pytest.raises(_Killed):
        train(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(records, "write_json", write_json)
    cut = tmp_path / "cut"
    assert records.load_checkpoint(cut / records.CHECKPOINT)["step"] == want["steps_done"]
    assert records.read_json(cut / records.SUMMARY)["status"] == "running"
    got = train(cfg, cut, resume=True, progress=False)
    assert records.read_jsonl(cut / records.METRICS) == records.read_jsonl(tmp_path / "full" / records.METRICS)
    assert {**got, "wall_seconds": 0} == {**want, "wall_seconds": 0}
    w, g = load_final_model(tmp_path / "full").state_dict(), load_final_model(cut).state_dict()
    assert all(torch.equal(g[k], w[k]) for k in w)


# -- train() against a loop written out by hand ----------------------------------------------------
def _hand_written(cfg: RunConfig) -> dict[str, torch.Tensor]:
    """The run written out: CE (or StableMax CE) + lam * radial_penalty at the model's sites,
    torch's AdamW with the config's lr, betas and weight decay, linear warmup, and Grokfast-EMA /
    ⊥Grad spelled out. Only the initial weights and the data come from radgrok (``build``)."""
    import torch.nn.functional as F

    from radgrok.penalty import radial_penalty
    from radgrok.training.loop import build

    b = build(cfg)
    sites = list(b.rs.names)
    b.rs.remove()  # the reference keeps its own copies of the sites' outputs
    model, o, mt = b.model, cfg.optim, cfg.methods
    mods = dict(model.named_modules())
    kept: list[torch.Tensor] = []
    for s in sites:
        mods[s].register_forward_hook(lambda m, a, out: kept.append(out.clone()))
    x, y = b.data.x_train, b.data.y_train
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    ema: dict[str, torch.Tensor] = {}
    for k in range(cfg.train.steps):
        for g in opt.param_groups:  # warmup: lr * min(1, (k + 1) / warmup) at the k-th step
            g["lr"] = o.lr * (min(1.0, (k + 1) / o.warmup_steps) if o.warmup_steps else 1.0)
        kept.clear()
        logits = model(x)
        if mt.loss == "stablemax":  # s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0); -log(s_y / sum s)
            s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits.clamp(max=0)))
            loss = -(s.gather(1, y[:, None]).squeeze(1) / s.sum(1)).log().mean()
        else:
            loss = F.cross_entropy(logits, y)
        loss = loss + cfg.penalty.lam * sum(radial_penalty(h, None, cfg.penalty.norm_over, cfg.penalty.reduce)
                                            for h in kept)
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if mt.grokfast == "ema":  # the EMA starts at the first gradient, then g += lamb * ema
                    ema[name] = (p.grad.clone() if name not in ema
                                 else mt.grokfast_alpha * ema[name] + (1 - mt.grokfast_alpha) * p.grad)
                    p.grad += mt.grokfast_lamb * ema[name]
                if mt.orthograd:  # g - (g.w / (w.w + 1e-30)) w, rescaled to |g|; no direction left (a
                    g, w = p.grad.flatten(), p.flatten()  # zero or rounding-noise gradient): no step
                    perp = g - (g @ w) / (w @ w + 1e-30) * w
                    keep = perp.norm() > 32 * torch.finfo(g.dtype).eps * g.norm()
                    p.grad.copy_((perp * g.norm() / perp.norm()).view_as(p) if keep else torch.zeros_like(p))
        opt.step()
    return {k: v.detach() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", ["mlp", "transformer"])
@pytest.mark.parametrize("method", [{}, dict(grokfast="ema"), dict(orthograd=True), dict(loss="stablemax"),
                                    dict(norm_over="batch")])
def test_train_equals_a_hand_written_loop(tmp_path, arch, method):
    shape = dict(width=16, depth=1, n_heads=2) if arch == "transformer" else dict(width=16, depth=2)
    cfg = tiny(arch=arch, dtype="float64", lam=0.3, lr=3e-2, weight_decay=0.5, beta1=0.8, beta2=0.95,
               warmup_steps=3, steps=8, eval_every=8, diagnostics=False, early_stop=False, **shape, **method)
    train(cfg, tmp_path / "run", progress=False)
    got = records.load_checkpoint(tmp_path / "run" / records.CHECKPOINT)["model"]
    want = _hand_written(cfg)
    assert list(got) == list(want)
    for k in want:
        if k.endswith("attn.k.bias"):
            # softmax is invariant to a key bias: its gradient is 0 up to rounding, and AdamW turns that
            # rounding noise into full-size steps, so its value depends on the order of float operations
            continue
        torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=1e-12, msg=k)
    assert any(not torch.equal(got[k], _initial(cfg)[k]) for k in want)  # the steps moved the weights


def _initial(cfg: RunConfig) -> dict[str, torch.Tensor]:
    from radgrok.training.loop import build

    return build(cfg).model.state_dict()


def test_the_forecast_callback_sees_the_rows_so_far_and_its_columns_are_logged(monkeypatch):
    from radgrok.training import loop

    seen = []

    def fake(rows, cfg):
        seen.append([r["step"] for r in rows])
        return {"forecast_step": 1000 + rows[-1]["step"]} if len(rows) > 2 else {}

    monkeypatch.setattr(loop, "forecast_row", fake)
    rows: list[dict] = []
    train(tiny(steps=40, diagnostics=False), None, progress=False, on_eval=rows.append)
    assert seen == [[0], [0, 10], [0, 10, 20], [0, 10, 20, 30], [0, 10, 20, 30, 40]]
    assert [r.get("forecast_step") for r in rows] == [None, None, 1020, 1030, 1040]
