"""radgrok.penalty.hooks: RadialSuppression's hooks, arguments, projection and lifetime."""


import pytest
import torch
from torch import nn

from penalty_cases import Foreign
from radgrok.penalty import RadialSuppression, radial_penalty


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


def test_project_under_the_batch_reading_scales_the_whole_output():
    m = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 2))
    with RadialSuppression(m, ["0"], lam=1.0, mode="project", norm_over="batch"):
        h = m[0](torch.randn(5, 4))
        torch.testing.assert_close(h.norm(), torch.tensor(3.0))


def test_radii_keep_the_models_precision():
    """A float64 run logs float64 radii (a float32 mean would move them in the 8th digit)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2)).double()
    x = torch.randn(33, 4, dtype=torch.float64) * 10
    with RadialSuppression(m, ["0"], lam=0.1) as rs:
        m(x)
        assert rs.radii()["0"] == pytest.approx(float(m[0](x).detach().norm(dim=-1).mean()), rel=1e-14)
