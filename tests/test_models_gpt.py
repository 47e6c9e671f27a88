"""The nanoGPT-style GPT: causality, weight tying, sizes, hooks (generation and the loss: test_tasks_lm)."""

import pytest
import torch
from torch import nn

from radgrok.models.gpt import GPT, GPTConfig
from radgrok.models.mlp import HookPoint
from radgrok.penalty import RadialSuppression

V, BLOCK = 15, 16


def tiny(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig.tiny(V, BLOCK, **kw)).eval()


def tokens(b: int = 3, t: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (b, t), generator=torch.Generator().manual_seed(seed))


def test_forward_shape_and_block_size():
    m = tiny()
    assert m(tokens()).shape == (3, 12, V)
    assert m(tokens(t=BLOCK)).shape == (3, BLOCK, V)
    with pytest.raises(ValueError):
        m(tokens(t=BLOCK + 1))


def test_causal():
    m = tiny()
    idx = tokens(t=BLOCK)
    base = m(idx)
    for t in (1, 7, BLOCK - 1):
        changed = idx.clone()
        changed[:, t:] = (changed[:, t:] + 1 + torch.arange(BLOCK - t)) % V
        out = m(changed)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=1e-6)
        assert not torch.allclose(out[:, t:], base[:, t:])  # the change is visible later on


def test_weight_tying():
    m = tiny()
    assert m.lm_head.weight is m.tok_emb.weight
    with torch.no_grad():
        m.tok_emb.weight[3].zero_()
    assert (m.lm_head.weight[3] == 0).all()
    # Counted once: the distinct parameters are fewer than a naive per-module sum.
    naive = sum(p.numel() for mod in m.modules() for p in mod.parameters(recurse=False))
    assert naive - m.num_params() == V * 64


def test_parameter_counts():
    paper = GPT(vocab_size=V, block_size=BLOCK)  # defaults: 6 layers, 6 heads, 384 wide
    assert (paper.config.n_layer, paper.config.n_head, paper.config.n_embd) == (6, 6, 384)
    assert 10.0e6 < paper.num_params() < 11.0e6
    m = tiny()
    assert 0.08e6 < m.num_params() < 0.13e6
    assert m.num_params() - m.num_params(include_position=False) == BLOCK * 64
    no_bias = GPT(GPTConfig.tiny(V, BLOCK, bias=False))
    assert no_bias.num_params() < m.num_params()
    assert all(mod.bias is None for mod in no_bias.modules() if isinstance(mod, (nn.Linear, nn.LayerNorm)))


def test_hook_points_and_penalty_gradient():
    m = tiny(n_layer=3)
    hooks = [n for n, mod in m.named_modules() if isinstance(mod, HookPoint)]
    assert sorted(hooks) == sorted(m.default_penalty_sites) and len(hooks) == 6
    rs = RadialSuppression(m, m.default_penalty_sites, lam=0.01)
    m(tokens())
    assert all(h[0].shape == (3, 12, 64) for h in rs.hidden().values())
    rs.penalty().backward()
    for i in range(3):
        for name in ("attn.q", "attn.k", "attn.v", "attn.out", "mlp.fc_in", "mlp.fc_out"):
            g = m.get_submodule(f"blocks.{i}.{name}").weight.grad
            assert g is not None and g.abs().sum() > 0, (i, name)
    rs.remove()


def test_dropout_only_in_train_mode():
    m = tiny(dropout=0.5)
    idx = tokens()
    torch.testing.assert_close(m(idx), m(idx))  # eval: deterministic
    m.train()
    assert not torch.allclose(m(idx), m(idx))
