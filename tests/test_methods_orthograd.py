"""⊥Grad: orthogonality and norm, the optimizer wrappers, and composition with the penalty."""

import math

import pytest
import torch
from torch import nn

from radgrok.methods import GrokfastEMA, OrthoGrad, orthogonalize_gradients, orthograd, stablemax_cross_entropy
from radgrok.penalty import RadialSuppression


def _param_with_grad(shape, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    p = nn.Parameter(torch.randn(shape, generator=gen, dtype=dtype))
    # a gradient with a large radial part, so removing it is a real change
    p.grad = 3.0 * p.detach() + torch.randn(shape, generator=gen, dtype=dtype)
    return p


@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
def test_orthogonal_to_weight_and_same_norm(shape):
    p = _param_with_grad(shape)
    g0 = p.grad.clone()
    orthogonalize_gradients([p])
    g, w = p.grad.reshape(-1), p.detach().reshape(-1)
    cos = torch.dot(g, w) / (g.norm() * w.norm())
    assert abs(cos.item()) < 1e-5
    cos0 = torch.dot(g0.reshape(-1), w) / (g0.norm() * w.norm())
    assert abs(cos0.item()) > 0.5  # it was far from orthogonal before
    torch.testing.assert_close(p.grad.norm(), g0.norm())
    # the result is the normalised orthogonal part of g0, computed independently
    perp = g0.reshape(-1) - torch.dot(g0.reshape(-1), w) / torch.dot(w, w) * w
    torch.testing.assert_close(p.grad.reshape(-1), perp * g0.norm() / perp.norm(), rtol=1e-4, atol=1e-5)


def test_skips_none_and_handles_degenerate_cases():
    a = nn.Parameter(torch.randn(3))  # grad None: skipped
    zero_w = nn.Parameter(torch.zeros(4))
    zero_w.grad = torch.tensor([1.0, -2.0, 0.5, 0.0])  # no radial direction: unchanged
    parallel = nn.Parameter(torch.tensor([1.0, 2.0, -2.0]))
    parallel.grad = -0.7 * parallel.detach().clone()  # purely radial: nothing left
    scalar = nn.Parameter(torch.tensor([0.3]))
    scalar.grad = torch.tensor([0.9])  # 1-element: always parallel, must not become noise * |g|
    half = nn.Parameter(torch.zeros(5, dtype=torch.float16))
    half.grad = torch.ones(5, dtype=torch.float16)  # eps underflows in fp16: must not be NaN
    orthogonalize_gradients([a, zero_w, parallel, scalar, half])
    assert a.grad is None
    torch.testing.assert_close(zero_w.grad, torch.tensor([1.0, -2.0, 0.5, 0.0]))
    torch.testing.assert_close(parallel.grad, torch.zeros(3))
    torch.testing.assert_close(scalar.grad, torch.zeros(1))
    assert half.grad.dtype == torch.float16 and torch.equal(half.grad, torch.ones(5, dtype=torch.float16))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def _batch():
    gen = torch.Generator().manual_seed(3)
    return torch.randn(32, 6, generator=gen), torch.randint(0, 4, (32,), generator=gen)


def _train(model, opt, steps=3):
    x, y = _batch()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def test_wrapper_and_factory_step_and_differ_from_adamw():
    plain_m, wrap_m, fact_m, manual_m = _model(), _model(), _model(), _model()
    plain = _train(plain_m, torch.optim.AdamW(plain_m.parameters(), lr=1e-2, weight_decay=0.1))
    wrapped = _train(wrap_m, OrthoGrad(torch.optim.AdamW(wrap_m.parameters(), lr=1e-2, weight_decay=0.1)))
    OrthoAdamW = orthograd(torch.optim.AdamW)
    fact_opt = OrthoAdamW(fact_m.parameters(), lr=1e-2, weight_decay=0.1)
    assert isinstance(fact_opt, torch.optim.AdamW) and orthograd(torch.optim.AdamW) is OrthoAdamW
    factory = _train(fact_m, fact_opt)
    # reference: orthogonalise by hand, then plain AdamW
    ref_opt = torch.optim.AdamW(manual_m.parameters(), lr=1e-2, weight_decay=0.1)
    x, y = _batch()
    for _ in range(3):
        ref_opt.zero_grad()
        nn.functional.cross_entropy(manual_m(x), y).backward()
        orthogonalize_gradients(manual_m.parameters())
        ref_opt.step()
    manual = torch.cat([p.detach().reshape(-1) for p in manual_m.parameters()])
    assert torch.isfinite(wrapped).all()
    assert not torch.allclose(wrapped, plain, atol=1e-4)
    torch.testing.assert_close(wrapped, manual)
    torch.testing.assert_close(factory, manual)


def test_factory_with_closure_scheduler_and_hooks():
    model = _model()
    opt = orthograd(torch.optim.SGD)(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    calls = []
    opt.register_step_post_hook(lambda *a: calls.append(1))
    x, y = _batch()

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert torch.isfinite(loss) and calls == [1]  # hooks ran exactly once
    for p in model.parameters():  # the gradient the step used was orthogonal to the old weight
        g = p.grad.reshape(-1)
        w_old = p.detach().reshape(-1) + 0.1 * g  # plain SGD: w_new = w_old - lr * g
        assert abs(torch.dot(g, w_old).item()) < 1e-5 * g.norm().item() * w_old.norm().item()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_wrapper_passthrough_and_group_opt_out():
    model = _model()
    base = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "orthograd": False}], lr=0.1
    )
    opt = OrthoGrad(base)
    assert opt.param_groups is base.param_groups
    x, y = _batch()
    nn.functional.cross_entropy(model(x), y).backward()
    g_out = model[2].weight.grad.clone()
    w_out = model[2].weight.detach().clone()
    opt.step()
    torch.testing.assert_close(model[2].weight.detach(), w_out - 0.1 * g_out)  # untouched group
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError):
        OrthoGrad(object())


def test_composes_with_radial_suppression_and_grokfast():
    model = _model()
    rs = RadialSuppression(model, ["0"], lam=0.05)
    gf = GrokfastEMA(model, alpha=0.98, lamb=2.0)
    opt = OrthoGrad(torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1.0))
    x, y = _batch()
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = stablemax_cross_entropy(model(x), y) + rs.penalty()
        loss.backward()
        gf.step()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert rs.penalty().item() > 0 and losses[-1] != losses[0]
    assert set(gf.ema) == {n for n, _ in model.named_parameters()}
    rs.remove()
