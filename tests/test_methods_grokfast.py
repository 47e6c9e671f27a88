"""Grokfast filters: closed forms for EMA and MA, skipping, and exact resume."""

import copy

import pytest
import torch
from torch import nn

from radgrok.methods import GrokfastEMA, GrokfastMA, gradfilter_ema, gradfilter_ma, scaled_lr


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2).double()


def _grad_sequence(k: int, shape) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(k)]


def test_ema_matches_closed_form_and_modified_grad():
    alpha, lamb, k = 0.9, 2.0, 6
    model = _model()
    gs = _grad_sequence(k, model.weight.shape)
    gf = GrokfastEMA(model, alpha=alpha, lamb=lamb)
    for g in gs:
        model.weight.grad = g.clone()
        model.bias.grad = None
        gf.step()
    # Initialised with g_1, then e_t = a e_{t-1} + (1-a) g_t, which unrolls to
    # e_k = a^(k-1) g_1 + (1-a) sum_{i=2..k} a^(k-i) g_i.
    expected = alpha ** (k - 1) * gs[0]
    for i in range(2, k + 1):
        expected = expected + (1 - alpha) * alpha ** (k - i) * gs[i - 1]
    torch.testing.assert_close(gf.ema["weight"], expected)
    torch.testing.assert_close(model.weight.grad, gs[-1] + lamb * expected)
    # bias never had a gradient: no state, and still no gradient.
    assert "bias" not in gf.ema and model.bias.grad is None


def test_ema_first_step_doubles_gradient():
    model = _model()
    g = torch.ones_like(model.weight)
    model.weight.grad = g.clone()
    gradfilter_ema(model, None, alpha=0.98, lamb=2.0)
    torch.testing.assert_close(model.weight.grad, 3.0 * g)


def test_skips_frozen_and_none_grad_parameters():
    model = _model()
    model.bias.requires_grad_(False)
    model.bias.grad = torch.ones_like(model.bias)  # stale grad on a frozen param: untouched
    model.weight.grad = torch.ones_like(model.weight)
    ema = gradfilter_ema(model, None, alpha=0.5, lamb=1.0)
    assert set(ema) == {"weight"}
    torch.testing.assert_close(model.bias.grad, torch.ones_like(model.bias))
    # a later step where weight has no gradient leaves its EMA untouched (not decayed)
    before = ema["weight"].clone()
    model.weight.grad = None
    gradfilter_ema(model, ema, alpha=0.5, lamb=1.0)
    torch.testing.assert_close(ema["weight"], before)
    hist = gradfilter_ma(model, None, window=3, lamb=1.0)
    assert hist == {}


@pytest.mark.parametrize("amplify_before_full", [False, True])
def test_ma_is_mean_of_last_window(amplify_before_full):
    window, lamb, k = 3, 5.0, 7
    model = _model()
    gs = _grad_sequence(k, model.weight.shape)
    ma = GrokfastMA(model, window=window, lamb=lamb, amplify_before_full=amplify_before_full)
    for t, g in enumerate(gs, start=1):
        model.weight.grad = g.clone()
        ma.step()
        stored = list(ma.history["weight"])
        recent = gs[max(0, t - window) : t]
        assert len(stored) == len(recent)
        for a, b in zip(stored, recent):
            torch.testing.assert_close(a, b)  # raw gradients, not the amplified ones
        mean = torch.stack(recent).mean(0)
        if t < window and not amplify_before_full:
            expected = g  # reference behaviour: no change until the window is full
        else:
            expected = g + lamb * mean
        torch.testing.assert_close(model.weight.grad, expected)


def _run(filt, model, grads):
    out = []
    for g in grads:
        model.weight.grad = g.clone()
        model.bias.grad = g[:, 0].clone()
        filt.step()
        out.append(model.weight.grad.clone())
    return out


@pytest.mark.parametrize("kind", ["ema", "ma"])
def test_state_dict_round_trip_gives_identical_next_step(kind, tmp_path):
    make = (lambda m: GrokfastEMA(m, alpha=0.8, lamb=3.0)) if kind == "ema" else (
        lambda m: GrokfastMA(m, window=4, lamb=2.0)
    )
    gs = _grad_sequence(8, (2, 3))
    model = _model()
    filt = make(model)
    _run(filt, model, gs[:5])
    path = tmp_path / "gf.pt"
    torch.save(filt.state_dict(), path)
    reference = _run(filt, model, gs[5:])

    model2 = _model()
    # different hyper-parameters on purpose: the checkpoint must restore them
    filt2 = GrokfastEMA(model2, alpha=0.1, lamb=0.0) if kind == "ema" else GrokfastMA(model2, window=9, lamb=0.0)
    filt2.load_state_dict(torch.load(path))
    resumed = _run(filt2, model2, gs[5:])
    for a, b in zip(reference, resumed):
        assert torch.equal(a, b)


def test_state_dict_does_not_alias_live_state():
    model = _model()
    filt = GrokfastEMA(model, alpha=0.5, lamb=1.0)
    model.weight.grad = torch.ones_like(model.weight)
    filt.step()
    sd = copy.deepcopy(filt.state_dict())
    snap = filt.state_dict()
    model.weight.grad = torch.zeros_like(model.weight)
    filt.step()
    torch.testing.assert_close(snap["ema"]["weight"], sd["ema"]["weight"])


def test_scaled_lr_and_validation():
    assert scaled_lr(1e-3, 2.0) == pytest.approx(1e-3 / 3)
    with pytest.raises(ValueError):
        scaled_lr(1e-3, -1.0)
    with pytest.raises(ValueError):
        GrokfastEMA(_model(), alpha=1.0)
    with pytest.raises(ValueError):
        GrokfastMA(_model(), window=0)
