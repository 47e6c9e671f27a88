import math

import pytest
import torch
from torch import nn

from radgrok.penalty import RadialSuppression, radial_penalty


def closed_form(h: torch.Tensor, r: float | None = None):
    d = h.shape[-1]
    r = math.sqrt(d) if r is None else r
    flat = h.reshape(-1, d)
    norms = flat.norm(dim=-1)
    value = ((norms - r) ** 2).mean() / d
    m = flat.shape[0]
    grad = (2.0 / d) * ((norms - r) / norms)[:, None] * flat / m
    return value, grad.reshape(h.shape)


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)])
@pytest.mark.parametrize("radius", [None, 0.7])
def test_value_and_gradient_match_closed_form(shape, radius):
    g = torch.Generator().manual_seed(0)
    h = (3 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    val = radial_penalty(h, radius)
    val.backward()
    want_val, want_grad = closed_form(h.detach(), radius)
    assert val.dtype == torch.float64
    torch.testing.assert_close(val.detach(), want_val, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(h.grad, want_grad, rtol=1e-10, atol=1e-14)


def test_gradient_is_radial_and_zero_on_the_sphere():
    h = torch.randn(10, 8, dtype=torch.float64)
    h = h / h.norm(dim=-1, keepdim=True) * math.sqrt(8)
    h.requires_grad_()
    radial_penalty(h).backward()
    assert h.grad.abs().max() < 1e-12
    h2 = torch.randn(10, 8, dtype=torch.float64, requires_grad=True)
    radial_penalty(h2).backward()
    cos = torch.nn.functional.cosine_similarity(h2.grad, h2.detach(), dim=-1).abs()
    torch.testing.assert_close(cos, torch.ones(10, dtype=torch.float64))


def test_dtype_preserved_float32():
    assert radial_penalty(torch.randn(4, 3)).dtype == torch.float32


class Foreign(nn.Module):
    """A model radgrok did not define, with a tuple-returning sub-module."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        z = self.enc(x)
        a, _ = self.attn(z, z, z)
        return self.head(a).mean(1)


def test_hooks_on_foreign_model_with_tuple_output():
    torch.manual_seed(0)
    m = Foreign()
    x = torch.randn(2, 5, 6)
    ref = m(x)
    with RadialSuppression(m, ["enc", "attn"], lam=0.5) as rs:
        out = m(x)
        torch.testing.assert_close(out, ref)  # soft mode never changes the forward
        z = m.enc(x)
        a, _ = m.attn(z, z, z)
        want = 0.5 * (radial_penalty(z) + radial_penalty(a))
        m(x)
        torch.testing.assert_close(rs.penalty(), want)
        rs.penalty().backward()
        assert m.enc.weight.grad.abs().sum() > 0
        assert m.attn.in_proj_weight.grad.abs().sum() > 0
        assert m.head.weight.grad is None  # the penalty sits upstream of the head
        radii = rs.radii()
        assert set(radii) == {"enc", "attn"}
        assert radii["enc"] == pytest.approx(z.norm(dim=-1).mean().item(), rel=1e-5)
    # removed on exit: no hooks, nothing stored
    assert not m._forward_pre_hooks and not m.enc._forward_hooks and not m.attn._forward_hooks


def test_unknown_module_name_is_named_in_error():
    with pytest.raises(ValueError, match="nosuch"):
        RadialSuppression(Foreign(), ["enc", "nosuch"], lam=0.1)


@pytest.mark.parametrize("kwargs", [dict(lam=-1.0), dict(lam=1.0, mode="hard"), dict(lam=1.0, radius=-1.0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RadialSuppression(Foreign(), ["enc"], **kwargs)


def test_project_mode_puts_outputs_on_sphere_and_radius_scale():
    m = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 2))
    with RadialSuppression(m, ["0"], lam=1.0, mode="project", radius_scale=2.0) as rs:
        h = m[0](torch.randn(5, 4))
        # calling the sub-module directly also passes its hook
        torch.testing.assert_close(h.norm(dim=-1), torch.full((5,), 2.0 * 3.0))
        m(torch.randn(5, 4))
        assert rs.penalty().item() == 0.0
    with RadialSuppression(m, ["0"], lam=1.0, radius=1.5, mode="project"):
        h = m[0](torch.randn(5, 4))
        torch.testing.assert_close(h.norm(dim=-1), torch.full((5,), 1.5))


def test_no_grad_keeps_no_graph_and_nothing_leaks_across_forwards():
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    rs = RadialSuppression(m, ["0"], lam=0.1)
    with torch.no_grad():
        m(torch.randn(3, 4))
    assert all(h.grad_fn is None for h in rs.hidden()["0"])
    m(torch.randn(3, 4))
    m(torch.randn(6, 4))
    hs = rs.hidden()["0"]
    assert len(hs) == 1 and hs[0].shape[0] == 6  # only the latest forward is kept
    rs.remove()
    assert rs.hidden()["0"] == []


def test_module_called_twice_is_penalised_twice():
    lin = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(self.lin(x))

    m = Twice()
    x = torch.randn(3, 4)
    want = radial_penalty(lin(x)) + radial_penalty(lin(lin(x)))
    with RadialSuppression(m, ["lin"], lam=1.0) as rs:
        m(x)
        torch.testing.assert_close(rs.penalty(), want)


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() if p.grad is not None else None for p in model.parameters()]


def _mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)).double()


def test_fused_gates_give_exactly_the_plain_autograd_gradient():
    m = _mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    with RadialSuppression(m, ["0", "2"], lam=0.3) as rs:
        out = m(x)
        fused = rs.penalty()
        g_fused = _grads(m, out.square().mean() + fused)
        with rs.unfused():
            out = m(x)
            plain = rs.penalty()
            g_plain = _grads(m, out.square().mean() + plain)
    torch.testing.assert_close(fused, plain)
    for a, b in zip(g_fused, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # and both equal the pure function on explicitly computed activations
    h0 = m[0](x)
    h2 = m[2](m[1](h0))
    g_pure = _grads(m, m[4](m[3](h2)).square().mean() + 0.3 * (radial_penalty(h0) + radial_penalty(h2)))
    for a, b in zip(g_fused, g_pure):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_penalty_left_out_of_the_loss_adds_nothing_and_twice_adds_twice():
    m = _mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    with RadialSuppression(m, ["0"], lam=0.3) as rs:
        out = m(x)
        rs.penalty()  # computed (e.g. for logging) but not backpropagated
        g_without = _grads(m, out.square().mean())
        out = m(x)
        g_twice = _grads(m, out.square().mean() + rs.penalty() + rs.penalty())
    g_ref = _grads(m, m(x).square().mean())
    for a, b in zip(g_without, g_ref):
        torch.testing.assert_close(a, b)
    h0 = m[0](x)
    g_pure = _grads(m, m[4](m[3](m[2](m[1](h0)))).square().mean() + 0.6 * radial_penalty(h0))
    for a, b in zip(g_twice, g_pure):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_second_derivatives_through_the_fused_path_are_exact():
    m = _mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    params = list(m.parameters())
    v = [torch.randn_like(p) for p in params]

    def hvp(loss_fn):
        g = torch.autograd.grad(loss_fn(), params, create_graph=True)
        return torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, v)), params)

    with RadialSuppression(m, ["0", "2"], lam=0.3) as rs:
        fused = hvp(lambda: m(x).square().mean() + rs.penalty())
        with rs.unfused():
            plain = hvp(lambda: m(x).square().mean() + rs.penalty())
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# -- the readings of ||h|| ------------------------------------------------------------------------

READINGS = [("example", "mean"), ("example", "sum"), ("batch", "mean")]


def closed_form_reading(h: torch.Tensor, r: float, norm_over: str, reduce: str):
    """Value and gradient of (1/d)(||h|| - r)^2 under one reading, written out by hand."""
    d = h.shape[-1]
    flat = h.reshape(-1, d)
    if norm_over == "batch":
        n = flat.norm()
        return (n - r) ** 2 / d, ((2.0 / d) * (n - r) / n * h)
    n = flat.norm(dim=-1)
    m = flat.shape[0] if reduce == "mean" else 1
    grad = (2.0 / (d * m)) * ((n - r) / n)[:, None] * flat
    return ((n - r) ** 2).sum() / (d * m), grad.reshape(h.shape)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)])
@pytest.mark.parametrize("radius", [None, 0.7, 0.0])
def test_every_reading_matches_its_closed_form(norm_over, reduce, shape, radius):
    g = torch.Generator().manual_seed(1)
    h = (3 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    val = radial_penalty(h, radius, norm_over, reduce)
    val.backward()
    r = math.sqrt(shape[-1]) if radius is None else radius
    want_val, want_grad = closed_form_reading(h.detach(), r, norm_over, reduce)
    torch.testing.assert_close(val.detach(), want_val, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(h.grad, want_grad, rtol=1e-10, atol=1e-14)


def test_readings_differ_by_the_batch_size_and_radius_zero_is_activation_l2():
    h = torch.randn(40, 8, dtype=torch.float64)
    torch.testing.assert_close(radial_penalty(h, reduce="sum"), 40 * radial_penalty(h))
    # at radius 0 every reading is ||h||^2 / d: mean, sum, and the Frobenius norm = the sum
    l2 = h.square().sum(-1) / 8
    torch.testing.assert_close(radial_penalty(h, 0.0), l2.mean())
    torch.testing.assert_close(radial_penalty(h, 0.0, reduce="sum"), l2.sum())
    torch.testing.assert_close(radial_penalty(h, 0.0, "batch"), l2.sum())


def test_batch_reading_rests_rows_near_r_over_sqrt_m():
    """Minimising the batch reading alone leaves every row near r / sqrt(M), not r."""
    torch.manual_seed(0)
    h = (5 * torch.randn(64, 16, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.SGD([h], lr=2.0)
    for _ in range(300):
        opt.zero_grad()
        radial_penalty(h, norm_over="batch").backward()
        opt.step()
    assert float(h.detach().norm()) == pytest.approx(4.0, rel=1e-6)  # ||H||_F = sqrt(16)
    assert float(h.detach().norm(dim=-1).square().mean().sqrt()) == pytest.approx(4.0 / 8.0, rel=1e-6)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
@pytest.mark.parametrize("radius_scale", [1.0, 0.0])
def test_hooks_fused_and_plain_match_the_pure_function_for_every_reading(norm_over, reduce, radius_scale):
    m = _mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    kw = dict(lam=0.3, radius_scale=radius_scale, norm_over=norm_over, reduce=reduce)
    with RadialSuppression(m, ["0", "2"], **kw) as rs:
        out = m(x)
        fused = rs.penalty()
        g_fused = _grads(m, out.square().mean() + fused)
        with rs.unfused():
            out = m(x)
            plain = rs.penalty()
            g_plain = _grads(m, out.square().mean() + plain)
    h0 = m[0](x)
    h2 = m[2](m[1](h0))
    pure = 0.3 * (radial_penalty(h0, radius_scale * math.sqrt(7), norm_over, reduce)
                  + radial_penalty(h2, radius_scale * math.sqrt(6), norm_over, reduce))
    g_pure = _grads(m, m[4](m[3](h2)).square().mean() + pure)
    torch.testing.assert_close(fused, pure.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(plain, pure, rtol=1e-12, atol=1e-14)
    for a, b, c in zip(g_fused, g_plain, g_pure):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_second_derivatives_are_exact_for_every_reading(norm_over, reduce):
    m = _mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    params = list(m.parameters())
    v = [torch.randn_like(p) for p in params]

    def hvp(loss_fn):
        g = torch.autograd.grad(loss_fn(), params, create_graph=True)
        return torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, v)), params)

    with RadialSuppression(m, ["0", "2"], lam=0.3, norm_over=norm_over, reduce=reduce) as rs:
        fused = hvp(lambda: m(x).square().mean() + rs.penalty())
        with rs.unfused():
            plain = hvp(lambda: m(x).square().mean() + rs.penalty())
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_project_under_the_batch_reading_scales_the_whole_output():
    m = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 2))
    with RadialSuppression(m, ["0"], lam=1.0, mode="project", norm_over="batch"):
        h = m[0](torch.randn(5, 4))
        torch.testing.assert_close(h.norm(), torch.tensor(3.0))


@pytest.mark.parametrize("kwargs,match", [
    (dict(norm_over="token"), "norm_over must be one of"),
    (dict(reduce="max"), "reduce must be one of"),
    (dict(norm_over="batch", reduce="sum"), "reduce must be 'mean' when norm_over is 'batch'"),
    (dict(mode="project", radius_scale=0.0), "radius must be > 0 in project mode"),
])
def test_bad_readings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RadialSuppression(Foreign(), ["enc"], lam=1.0, **kwargs)
    if "mode" not in kwargs:
        with pytest.raises(ValueError, match=match):
            radial_penalty(torch.randn(3, 4), **kwargs)


class _Residual(nn.Module):
    """``out(h + block(h))``: autograd hands block's output and h one and the same gradient."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.inp, self.block, self.out = nn.Linear(5, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.block(h))


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_gate_adds_in_place_only_when_it_alone_holds_the_gradient(norm_over, reduce):
    kw = dict(norm_over=norm_over, reduce=reduce)
    m = _mlp()  # every gated output feeds one layer: its gradient is the gate's alone, written in place
    with RadialSuppression(m, ["0", "2"], lam=0.3, **kw) as rs:
        x = torch.randn(9, 5, dtype=torch.float64)
        g_fused = _grads(m, m(x).square().mean() + rs.penalty())
        assert rs._scratch == {}  # no buffer of its own was needed
        h0 = m[0](x)
        h2 = m[2](m[1](h0))
        pure = 0.3 * (radial_penalty(h0, None, norm_over, reduce) + radial_penalty(h2, None, norm_over, reduce))
        for a, b in zip(g_fused, _grads(m, m[4](m[3](h2)).square().mean() + pure)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    r = _Residual().double()  # block's gradient is shared with h's branch: it must not be written
    with RadialSuppression(r, ["block", "inp"], lam=0.3, **kw) as rs:
        ptrs = []
        for _ in range(4):
            x = torch.randn(9, 5, dtype=torch.float64)
            g_fused = _grads(r, r(x).square().mean() + rs.penalty())
            ptrs.append({k: b.data_ptr() for k, b in rs._scratch.items()})
            h = r.inp(x)
            b_out = r.block(h)
            pure = 0.3 * (radial_penalty(h, None, norm_over, reduce) + radial_penalty(b_out, None, norm_over, reduce))
            for a, b in zip(g_fused, _grads(r, r.out(h + b_out).square().mean() + pure)):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # the shared one went into its site's buffer, reused from step to step; h's (accumulated) in place
    assert set(ptrs[0]) == {("block", 1)} and ptrs[1:] == ptrs[:-1]
    assert rs._scratch == {}  # remove() frees the buffers


def test_a_hook_that_keeps_the_incoming_gradient_never_sees_the_penalty_added_to_it():
    m = _mlp()
    kept: list[torch.Tensor] = []
    with RadialSuppression(m, ["2"], lam=0.3) as rs:
        # registered after the penalty's hook: sees the gated output, whose gradient enters the gate
        m[2].register_forward_hook(lambda mod, args, out: out.register_hook(kept.append) and None)
        x = torch.randn(9, 5, dtype=torch.float64)
        (m(x).square().mean() + rs.penalty()).backward()
        h2 = m[2](m[1](m[0](x))).detach().requires_grad_()
        (task_grad,) = torch.autograd.grad(m[4](m[3](h2)).square().mean(), h2)
    torch.testing.assert_close(kept[0], task_grad, rtol=0, atol=0)


def test_a_hook_that_keeps_gradients_never_sees_them_overwritten():
    m = _mlp()
    kept: list[torch.Tensor] = []
    # registered before the penalty's hook: sees module 2's raw output, which the gate's gradient reaches
    m[2].register_forward_hook(lambda mod, args, out: out.register_hook(kept.append) and None)
    with RadialSuppression(m, ["2"], lam=0.3) as rs:
        copies = []
        for _ in range(3):
            x = torch.randn(9, 5, dtype=torch.float64)
            (m(x).square().mean() + rs.penalty()).backward()
            copies.append(kept[-1].clone())
    for k, c in zip(kept, copies):
        torch.testing.assert_close(k, c, rtol=0, atol=0)
    assert len({k.data_ptr() for k in kept}) == 3  # each step got a buffer of its own
