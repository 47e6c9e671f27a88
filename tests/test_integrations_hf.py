"""radgrok.integrations.hf on a real (tiny, randomly initialised) GPT-2 and transformers.Trainer."""

from __future__ import annotations

import os

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from radgrok.integrations import STATE_FILE, RadgrokOptions
from radgrok.integrations.hf import RadgrokCallback, RadgrokTrainer
from radgrok.penalty import RadialSuppression

READINGS = [("example", "mean"), ("example", "sum"), ("batch", "mean")]
SITES = ["transformer.h.*"]
HOOKED = ["transformer.h.0", "transformer.h.1"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Nothing downloaded, nothing written outside tmp_path."""
    for var, sub in (("HOME", "home"), ("MPLCONFIGDIR", "mpl"), ("HF_HOME", "hf"), ("XDG_CACHE_HOME", "cache")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("WANDB_DISABLED", "true")


def tiny_gpt2(dropout: float = 0.0) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=32,
                     resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)
    return GPT2LMHeadModel(cfg)


def dataset(n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": x, "labels": x} for x in torch.randint(0, 64, (n, 16), generator=g)]


def batch_of(data: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([d[k] for d in data]) for k in data[0]}


def arguments(out, **kw) -> TrainingArguments:
    base = dict(output_dir=str(out), per_device_train_batch_size=4, logging_steps=1, report_to="none",
                use_cpu=True, save_strategy="no", disable_tqdm=True, remove_unused_columns=False,
                learning_rate=1e-2, seed=0, dataloader_num_workers=0)
    base.update(kw)
    return TrainingArguments(**base)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_logged_loss_is_the_task_loss_plus_the_penalty(tmp_path, norm_over, reduce):
    data = dataset(4)  # one batch: the first logged loss is of exactly this batch, at the initial weights
    logged = {}
    for lam in (0.0, 0.5):
        opts = RadgrokOptions(sites=SITES, lam=lam, norm_over=norm_over, reduce=reduce)
        trainer = RadgrokTrainer(model=tiny_gpt2(), args=arguments(tmp_path / str(lam), max_steps=1),
                                 train_dataset=data, radgrok=opts)
        trainer.train()
        logged[lam] = trainer.state.log_history[0]

    reference = tiny_gpt2()
    with RadialSuppression(reference, HOOKED, 0.5, norm_over=norm_over, reduce=reduce) as rs, torch.no_grad():
        reference(**batch_of(data))
        penalty = float(rs.penalty())
    assert penalty > 0
    assert "radgrok/penalty" not in logged[0.0]  # lam = 0: nothing added, nothing logged
    assert logged[0.5]["radgrok/penalty"] == pytest.approx(penalty, rel=1e-5)
    # the Trainer's own task loss (the mean its loss kwargs give) plus the penalty, in the one logged loss
    assert logged[0.5]["loss"] == pytest.approx(logged[0.0]["loss"] + penalty, rel=1e-5)
    assert {k for k in logged[0.5] if k.startswith("radgrok/radius/")} == {f"radgrok/radius/{s}" for s in HOOKED}
    assert all(logged[0.5][f"radgrok/phi_rad/{s}"] >= 0 for s in HOOKED)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_under_gradient_accumulation_the_penalty_is_one_mean_per_micro_batch(tmp_path, reduce):
    data = dataset(8)  # two micro-batches of 4, one optimizer step
    logged = {}
    for lam in (0.0, 0.5):
        opts = RadgrokOptions(sites=SITES, lam=lam, reduce=reduce, diagnostics_every=0)
        trainer = RadgrokTrainer(model=tiny_gpt2(), args=arguments(tmp_path / str(lam), max_steps=1,
                                                                   gradient_accumulation_steps=2),
                                 train_dataset=data, radgrok=opts)
        trainer.train()
        logged[lam] = trainer.state.log_history[0]["loss"]

    reference = tiny_gpt2()
    with RadialSuppression(reference, HOOKED, 0.5, reduce=reduce) as rs, torch.no_grad():
        reference(**batch_of(data))
        whole = float(rs.penalty())
    # per example, both micro-batches at the initial weights: the mean of the two halves' penalties
    per_micro_batch = whole if reduce == "mean" else whole / 2
    assert logged[0.5] == pytest.approx(logged[0.0] + per_micro_batch, rel=1e-5)


class GradsBeforeStep(TrainerCallback):
    """Copies the gradients the optimizer is about to use."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
        self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_the_penalty_gradient_reaches_the_hooked_modules(tmp_path, norm_over, reduce):
    data = dataset(4)
    grads = {}
    for lam in (0.0, 2.0):
        model = tiny_gpt2()
        spy = GradsBeforeStep()
        opts = RadgrokOptions(sites=SITES, lam=lam, norm_over=norm_over, reduce=reduce, diagnostics_every=0)
        trainer = RadgrokTrainer(model=model, args=arguments(tmp_path / str(lam), max_steps=1, max_grad_norm=0),
                                 train_dataset=data, radgrok=opts, callbacks=[spy])
        trainer.train()
        grads[lam] = spy.grads

    # the gradient of the penalty alone, at the same initial weights
    reference = tiny_gpt2()
    with RadialSuppression(reference, HOOKED, 2.0, norm_over=norm_over, reduce=reduce) as rs:
        reference(**batch_of(data))
        params = dict(reference.named_parameters())
        names = [n for n in params if n.startswith("transformer.h.")]
        alone = torch.autograd.grad(rs.penalty(), [params[n] for n in names])
    for name, g in zip(names, alone):
        assert torch.allclose(grads[2.0][name] - grads[0.0][name], g, atol=1e-6), name
    assert any(float(g.abs().max()) > 0 for g in alone)
    # the hooked blocks' own weights get a share of it
    assert float(grads[2.0]["transformer.h.1.mlp.c_fc.weight"].sub(grads[0.0]["transformer.h.1.mlp.c_fc.weight"])
                 .abs().max()) > 0


def test_hooks_exist_only_while_training(tmp_path):
    model = tiny_gpt2()
    trainer = RadgrokTrainer(model=model, args=arguments(tmp_path, max_steps=2), train_dataset=dataset(8),
                             radgrok=RadgrokOptions(sites=SITES, lam=0.1, grokfast="ema", orthograd=True))
    assert trainer.callback_handler.callbacks[0] is trainer.radgrok_callback
    trainer.train()
    assert not trainer.radgrok.attached
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    opt = trainer.optimizer.optimizer  # accelerate's wrapper around the AdamW that steps
    assert not opt._optimizer_step_pre_hooks
    # evaluation-time loss is the model's own: no penalty outside training
    batch = batch_of(dataset(4))
    with torch.no_grad():
        assert float(trainer.compute_loss(model.eval(), batch)) == pytest.approx(float(model(**batch).loss))


class Boom(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        raise KeyboardInterrupt("stop here")


def test_hooks_are_removed_when_training_fails(tmp_path):
    model = tiny_gpt2()
    trainer = RadgrokTrainer(model=model, args=arguments(tmp_path, max_steps=3), train_dataset=dataset(8),
                             radgrok=RadgrokOptions(sites=SITES, lam=0.1, orthograd=True), callbacks=[Boom()])
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert not trainer.radgrok.attached
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not trainer.optimizer.optimizer._optimizer_step_pre_hooks


@pytest.mark.parametrize("grokfast", ["ema", "ma"])
def test_resume_from_a_checkpoint_continues_the_same_run(tmp_path, grokfast):
    data = dataset(16)
    opts = dict(sites=SITES, lam=0.3, norm_over="example", reduce="mean", grokfast=grokfast, grokfast_lamb=3.0,
                grokfast_window=2, orthograd=True)

    def run(out, resume=None, **kw):
        model = tiny_gpt2(dropout=0.1)  # dropout: the resumed run must also restore the random stream
        trainer = RadgrokTrainer(model=model, args=arguments(out, max_steps=4, **kw), train_dataset=data,
                                 radgrok=RadgrokOptions(**opts))
        trainer.train(resume_from_checkpoint=resume)
        return model, trainer

    straight, t_straight = run(tmp_path / "straight")
    run(tmp_path / "saved", save_strategy="steps", save_steps=2)
    checkpoint = tmp_path / "saved" / "checkpoint-2"
    assert (checkpoint / STATE_FILE).is_file()
    resumed, t_resumed = run(tmp_path / "saved", resume=str(checkpoint))

    for (name, a), b in zip(straight.named_parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    losses = [r["loss"] for r in t_straight.state.log_history if "loss" in r]
    resumed_losses = [r["loss"] for r in t_resumed.state.log_history if "loss" in r]
    assert resumed_losses[-2:] == pytest.approx(losses[-2:], rel=1e-6)
    fa, fb = t_straight.radgrok.grokfast.state_dict(), t_resumed.radgrok.grokfast.state_dict()
    key = "ema" if grokfast == "ema" else "history"
    assert fa[key].keys() == fb[key].keys()
    for k in fa[key]:
        for x, y in zip(*(v if isinstance(v, list) else [v] for v in (fa[key][k], fb[key][k]))):
            assert torch.allclose(x, y, atol=1e-6)

    # the saved filter state matters: without it the resumed run takes different steps
    os.remove(checkpoint / STATE_FILE)
    forgetful, _ = run(tmp_path / "saved", resume=str(checkpoint))
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(straight.parameters(), forgetful.parameters()))


class Reporter(TrainerCallback):
    """Stands for TensorBoard/W&B: a callback that receives the logs dict."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kw):
        self.seen.append(dict(logs))


def test_reporters_receive_the_radgrok_entries(tmp_path):
    reporter = Reporter()
    trainer = RadgrokTrainer(model=tiny_gpt2(), args=arguments(tmp_path, max_steps=4, logging_steps=1),
                             train_dataset=dataset(16), callbacks=[reporter],
                             radgrok=RadgrokOptions(sites=SITES, lam=0.1, diagnostics_every=2))
    trainer.train()
    steps = [r for r in reporter.seen if "loss" in r]
    assert len(steps) == 4 and all("radgrok/penalty" in r for r in steps)
    with_radii = [i for i, r in enumerate(steps) if f"radgrok/radius/{HOOKED[0]}" in r]
    assert with_radii == [0, 2]  # every 2nd logging step


def test_callback_alone_on_a_plain_trainer(tmp_path):
    """Gradient methods and diagnostics without the mixin; first in the list, as the docs say."""
    model = tiny_gpt2()
    cb = RadgrokCallback(RadgrokOptions(sites=SITES, grokfast="ema"))
    trainer = Trainer(model=model, args=arguments(tmp_path, max_steps=2), train_dataset=dataset(8))
    trainer.callback_handler.callbacks.insert(0, cb)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert f"radgrok/radius/{HOOKED[0]}" in logged and "radgrok/penalty" not in logged
    assert cb.runtime.grokfast is not None and cb.runtime.grokfast.ema  # the filter ran in the optimizer step


def test_docstring_examples_run():
    import doctest

    import radgrok.integrations as package
    from radgrok.integrations import hf, options, runtime

    for module in (package, options, runtime, hf):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
