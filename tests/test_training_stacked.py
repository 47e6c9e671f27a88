import pytest
import torch

from radgrok.training.config import RunConfig

TINY = dict(p=11, train_frac=0.6, width=16, depth=2, steps=60, eval_every=10)


@pytest.mark.parametrize("variant", [dict(), dict(mode="project", site="post"), dict(encoding="embed", embed_dim=8)])
def test_functional_forward_is_the_hooked_mlp(variant):
    from radgrok.training.loop import build
    from radgrok.training.stacked import make_forward

    cfg = RunConfig().replace(**{**TINY, "lam": 0.1, "depth": 3, **variant})
    b = build(cfg)
    forward, _ = make_forward(cfg)
    x = b.data.x_train
    logits, seen = forward(dict(b.model.named_parameters()), x, [])
    assert torch.equal(logits, b.model(x))
    hooked = b.rs.hidden()
    assert len(seen) == 3 and all(torch.equal(h, hooked[k][0]) for h, k in zip(seen, b.rs.names))


def test_stacked_first_layer_is_each_seeds_onehot_linear_and_its_gradient():
    from radgrok.models.mlp import onehot_linear
    from radgrok.training.stacked import stacked_onehot_first

    g = torch.Generator().manual_seed(0)
    s, p, n, width = 3, 7, 20, 5
    w = torch.randn(s, width, 2 * p, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(s, width, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randint(0, p, (s, n, 2), generator=g)
    z = stacked_onehot_first(w, b, x, p)
    up = torch.randn(z.shape, generator=g, dtype=torch.float64)
    (z * up).sum().backward()
    for k in range(s):
        wk, bk = w.detach()[k].clone().requires_grad_(), b.detach()[k].clone().requires_grad_()
        zk = onehot_linear(wk, bk, x[k], p)
        assert torch.equal(z[k], zk)
        (zk * up[k]).sum().backward()
        assert torch.equal(w.grad[k], wk.grad) and torch.equal(b.grad[k], bk.grad)
