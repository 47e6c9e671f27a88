"""radgrok.penalty.gate: the fused backward is exact (to second order) and never writes a gradient
someone else holds."""

import math

import pytest
import torch

from penalty_cases import READINGS, Residual, grads, mlp
from radgrok.penalty import RadialSuppression, radial_penalty


def test_fused_gates_give_exactly_the_plain_autograd_gradient():
    m = mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    with RadialSuppression(m, ["0", "2"], lam=0.3) as rs:
        out = m(x)
        fused = rs.penalty()
        g_fused = grads(m, out.square().mean() + fused)
        with rs.unfused():
            out = m(x)
            plain = rs.penalty()
            g_plain = grads(m, out.square().mean() + plain)
    torch.testing.assert_close(fused, plain)
    for a, b in zip(g_fused, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # and both equal the pure function on explicitly computed activations
    h0 = m[0](x)
    h2 = m[2](m[1](h0))
    g_pure = grads(m, m[4](m[3](h2)).square().mean() + 0.3 * (radial_penalty(h0) + radial_penalty(h2)))
    for a, b in zip(g_fused, g_pure):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_penalty_left_out_of_the_loss_adds_nothing_and_twice_adds_twice():
    m = mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    with RadialSuppression(m, ["0"], lam=0.3) as rs:
        out = m(x)
        rs.penalty()  # computed (e.g. for logging) but not backpropagated
        g_without = grads(m, out.square().mean())
        out = m(x)
        g_twice = grads(m, out.square().mean() + rs.penalty() + rs.penalty())
    g_ref = grads(m, m(x).square().mean())
    for a, b in zip(g_without, g_ref):
        torch.testing.assert_close(a, b)
    h0 = m[0](x)
    g_pure = grads(m, m[4](m[3](m[2](m[1](h0)))).square().mean() + 0.6 * radial_penalty(h0))
    for a, b in zip(g_twice, g_pure):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_second_derivatives_through_the_fused_path_are_exact():
    m = mlp()
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


@pytest.mark.parametrize("norm_over,reduce", READINGS)
@pytest.mark.parametrize("radius_scale", [1.0, 0.0])
def test_hooks_fused_and_plain_match_the_pure_function_for_every_reading(norm_over, reduce, radius_scale):
    m = mlp()
    x = torch.randn(9, 5, dtype=torch.float64)
    kw = dict(lam=0.3, radius_scale=radius_scale, norm_over=norm_over, reduce=reduce)
    with RadialSuppression(m, ["0", "2"], **kw) as rs:
        out = m(x)
        fused = rs.penalty()
        g_fused = grads(m, out.square().mean() + fused)
        with rs.unfused():
            out = m(x)
            plain = rs.penalty()
            g_plain = grads(m, out.square().mean() + plain)
    h0 = m[0](x)
    h2 = m[2](m[1](h0))
    pure = 0.3 * (radial_penalty(h0, radius_scale * math.sqrt(7), norm_over, reduce)
                  + radial_penalty(h2, radius_scale * math.sqrt(6), norm_over, reduce))
    g_pure = grads(m, m[4](m[3](h2)).square().mean() + pure)
    torch.testing.assert_close(fused, pure.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(plain, pure, rtol=1e-12, atol=1e-14)
    for a, b, c in zip(g_fused, g_plain, g_pure):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_second_derivatives_are_exact_for_every_reading(norm_over, reduce):
    m = mlp()
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


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_gate_adds_in_place_only_when_it_alone_holds_the_gradient(norm_over, reduce):
    kw = dict(norm_over=norm_over, reduce=reduce)
    m = mlp()  # every gated output feeds one layer: its gradient is the gate's alone, written in place
    with RadialSuppression(m, ["0", "2"], lam=0.3, **kw) as rs:
        x = torch.randn(9, 5, dtype=torch.float64)
        g_fused = grads(m, m(x).square().mean() + rs.penalty())
        assert rs._scratch == {}  # no buffer of its own was needed
        h0 = m[0](x)
        h2 = m[2](m[1](h0))
        pure = 0.3 * (radial_penalty(h0, None, norm_over, reduce) + radial_penalty(h2, None, norm_over, reduce))
        for a, b in zip(g_fused, grads(m, m[4](m[3](h2)).square().mean() + pure)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    r = Residual().double()  # block's gradient is shared with h's branch: it must not be written
    with RadialSuppression(r, ["block", "inp"], lam=0.3, **kw) as rs:
        ptrs = []
        for _ in range(4):
            x = torch.randn(9, 5, dtype=torch.float64)
            g_fused = grads(r, r(x).square().mean() + rs.penalty())
            ptrs.append({k: b.data_ptr() for k, b in rs._scratch.items()})
            h = r.inp(x)
            b_out = r.block(h)
            pure = 0.3 * (radial_penalty(h, None, norm_over, reduce) + radial_penalty(b_out, None, norm_over, reduce))
            for a, b in zip(g_fused, grads(r, r.out(h + b_out).square().mean() + pure)):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # the shared one went into its site's buffer, reused from step to step; h's (accumulated) in place
    assert set(ptrs[0]) == {("block", 1)} and ptrs[1:] == ptrs[:-1]
    assert rs._scratch == {}  # remove() frees the buffers


def test_a_hook_that_keeps_the_incoming_gradient_never_sees_the_penalty_added_to_it():
    m = mlp()
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
    m = mlp()
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


class _Relu(torch.nn.Module):
    """A ReLU the hooks do not recognise: the output goes through RadialGate and torch's own ReLU."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_a_site_feeding_an_nn_relu_fuses_with_it_and_gives_the_same_gradients_bit_for_bit(norm_over, reduce):
    from radgrok.models.mlp import MLP

    torch.manual_seed(3)
    fused_model = MLP(13, width=48, depth=2)
    plain_model = MLP(13, width=48, depth=2)
    plain_model.load_state_dict(fused_model.state_dict())
    for layer in plain_model.hidden:
        layer.act = _Relu()
    x, y = torch.randint(0, 13, (80, 2)), torch.randint(0, 13, (80,))
    got = []
    for model in (fused_model, plain_model):
        with RadialSuppression(model, model.pre_activation_sites, 0.05, norm_over=norm_over, reduce=reduce) as rs:
            for _ in range(2):  # the second step reuses what the first left (buffers, the in-place path)
                loss = torch.nn.functional.cross_entropy(model(x), y) + rs.penalty()
                kinds = {type(g.grad_fn).__name__ for _, g in rs._gated}
                g = grads(model, loss)
            got.append((kinds, g))
    assert got[0][0] == {"ReluGateBackward"} and got[1][0] == {"RadialGateBackward"}
    for a, b in zip(got[0][1], got[1][1]):
        assert torch.equal(a, b)


def test_a_site_feeding_a_relu_and_another_branch_is_penalised_once():
    class TwoUses(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(4)
            self.lin, self.act, self.a, self.b = (torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2),
                                                  torch.nn.Linear(6, 2))

        def forward(self, x):
            z = self.lin(x)
            return self.a(self.act(z)) + self.b(z) + self.a(self.act(z))  # the second ReLU of z is not fused

    m = TwoUses().double()
    x = torch.randn(7, 5, dtype=torch.float64)
    with RadialSuppression(m, ["lin"], lam=0.3) as rs:
        g_fused = grads(m, m(x).square().mean() + rs.penalty())
        assert [type(g.grad_fn).__name__ for _, g in rs._gated] == ["ReluGateBackward"]
    z = m.lin(x)
    pure = (m.a(torch.relu(z)) * 2 + m.b(z)).square().mean() + 0.3 * radial_penalty(z)
    for a, b in zip(g_fused, grads(m, pure)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
