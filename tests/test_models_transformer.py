"""The modular-arithmetic transformer: hook points, penalty gradients, LN variants, torch.func."""

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from radgrok.models.mlp import HookPoint
from radgrok.models.transformer import Transformer
from radgrok.penalty import RadialSuppression

P = 11


def small(seed: int = 0, **kw) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(P, **{"n_layers": 2, "n_heads": 4, "d_model": 32, **kw})


def pairs(n: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, P, (n, 2), generator=torch.Generator().manual_seed(seed))


def test_forward_shapes_and_sequence():
    m = small()
    x = pairs()
    seq = m.make_sequence(x)
    assert seq.shape == (16, 4)
    assert torch.equal(seq[:, 0], x[:, 0]) and torch.equal(seq[:, 2], x[:, 1])
    assert (seq[:, 1] == P).all() and (seq[:, 3] == P + 1).all()
    out = m(x)
    assert out.shape == (16, P)
    assert torch.equal(out, m(seq))
    with pytest.raises(ValueError):
        m(torch.zeros(3, 3, dtype=torch.long))


def test_paper_defaults():
    m = Transformer(97)
    assert len(m.blocks) == 2 and m.blocks[0].attn.n_heads == 4
    assert m.tok_emb.weight.shape == (99, 128)
    assert m.blocks[0].mlp.fc_in.weight.shape == (512, 128)


def test_two_hook_points_per_layer():
    for n_layers in (1, 3):
        m = small(n_layers=n_layers)
        hooks = [n for n, mod in m.named_modules() if isinstance(mod, HookPoint)]
        assert len(hooks) == 2 * n_layers
        assert m.default_penalty_sites == [
            f"blocks.{i}.{k}" for i in range(n_layers) for k in ("hook_attn_out", "hook_mlp_out")
        ]
        assert sorted(hooks) == sorted(m.default_penalty_sites)


def test_hooks_see_sublayer_output_before_residual_add():
    m = small(n_layers=1)
    x = pairs(4)
    rs = RadialSuppression(m, m.default_penalty_sites, lam=1.0)
    m(x)
    seen = rs.hidden()
    blk = m.blocks[0]
    with torch.no_grad():
        h0 = m.tok_emb(m.make_sequence(x)) + m.pos_emb.weight
        attn_out = blk.attn(blk.ln_attn(h0))
        mlp_out = blk.mlp(blk.ln_mlp(h0 + attn_out))
    # Every token position is one h: shape (N, 4, d_model).
    assert seen["blocks.0.hook_attn_out"][0].shape == (4, 4, 32)
    torch.testing.assert_close(seen["blocks.0.hook_attn_out"][0], attn_out)
    torch.testing.assert_close(seen["blocks.0.hook_mlp_out"][0], mlp_out)
    rs.remove()


@pytest.mark.parametrize("ln", ["affine", "nonaffine", "none"])
def test_penalty_gradient_reaches_attention_and_mlp(ln):
    m = small(ln=ln, act="gelu")
    rs = RadialSuppression(m, m.default_penalty_sites, lam=1.0)
    m(pairs())
    pen = rs.penalty()
    assert pen.item() > 0
    pen.backward()  # the penalty alone, no task loss
    for i in range(2):
        for name in ("attn.q", "attn.k", "attn.v", "attn.out", "mlp.fc_in", "mlp.fc_out"):
            g = m.get_submodule(f"blocks.{i}.{name}").weight.grad
            assert g is not None and g.abs().sum() > 0, (ln, i, name)
    assert m.tok_emb.weight.grad.abs().sum() > 0
    # The unembedding is downstream of every hook point: the penalty cannot touch it.
    assert m.unembed.weight.grad is None or m.unembed.weight.grad.abs().sum() == 0
    rs.remove()


def test_layernorm_variants():
    def norms(m):
        return [mod for mod in m.modules() if isinstance(mod, nn.LayerNorm)]

    affine, nonaffine, none = small(ln="affine"), small(ln="nonaffine"), small(ln="none")
    assert len(norms(affine)) == 5 and all(n.weight is not None for n in norms(affine))
    assert len(norms(nonaffine)) == 5
    assert not any("ln" in n for n, _ in nonaffine.named_parameters())
    assert norms(none) == []
    n_affine = sum(p.numel() for p in affine.parameters())
    assert n_affine - sum(p.numel() for p in nonaffine.parameters()) == 5 * 2 * 32
    for m in (affine, nonaffine, none):
        out = m(pairs())
        assert out.shape == (16, P) and torch.isfinite(out).all()
    with pytest.raises(ValueError):
        small(ln="rms")


def test_causal_attention_ignores_later_tokens():
    # Position 1 (the operator) must not see b: its residual stream is unchanged
    # when b changes, while the readout at '=' does change.
    m = small()
    seen = []
    m.blocks[1].hook_mlp_out.register_forward_hook(lambda mod, a, out: seen.append(out))
    x = torch.tensor([[3, 4]])
    x2 = torch.tensor([[3, 9]])
    o1, o2 = m(x), m(x2)
    torch.testing.assert_close(seen[0][:, :2], seen[1][:, :2])
    assert not torch.allclose(o1, o2)


def test_vmap_over_stacked_model_copies():
    models = [small(seed=0), small(seed=1)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def run(p, b, x):
        return functional_call(base, (p, b), (x,))

    x = pairs()
    out = vmap(run, in_dims=(0, 0, None))(params, buffers, x)
    assert out.shape == (2, 16, P)
    for i, m in enumerate(models):
        torch.testing.assert_close(out[i], m(x))
    assert not torch.allclose(out[0], out[1])


def test_vmap_over_examples_matches_batch():
    m = small()
    params = dict(m.named_parameters())
    buffers = dict(m.named_buffers())

    def one(xi):  # xi: (2,), the batch dimension hidden by vmap
        return functional_call(m, (params, buffers), (xi.unsqueeze(0),)).squeeze(0)

    x = pairs()
    torch.testing.assert_close(vmap(one)(x), m(x))


def test_hessian_vector_product_double_backward():
    torch.manual_seed(0)
    m = Transformer(P, n_layers=1, n_heads=2, d_model=16, act="gelu").double()
    x, y = pairs(12), torch.randint(0, P, (12,), generator=torch.Generator().manual_seed(2))
    params = [p for p in m.parameters()]
    v = [torch.randn_like(p) for p in params]

    def grads(create_graph: bool):
        loss = F.cross_entropy(m(x), y)
        return torch.autograd.grad(loss, params, create_graph=create_graph)

    g = grads(True)
    hv = torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), params)
    # Central finite difference of the gradient along v agrees with Hv.
    eps = 1e-5
    with torch.no_grad():
        for p, vi in zip(params, v):
            p.add_(eps * vi)
    g_plus = grads(False)
    with torch.no_grad():
        for p, vi in zip(params, v):
            p.sub_(2 * eps * vi)
    g_minus = grads(False)
    fd = [(a - b) / (2 * eps) for a, b in zip(g_plus, g_minus)]
    flat_hv = torch.cat([h.flatten() for h in hv])
    flat_fd = torch.cat([f.flatten() for f in fd])
    assert flat_hv.abs().sum() > 0
    torch.testing.assert_close(flat_hv, flat_fd, rtol=1e-4, atol=1e-6)
