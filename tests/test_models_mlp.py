import pytest
import torch

from radgrok.models.mlp import MLP, one_hot_concat
from radgrok.penalty import RadialSuppression


def test_onehot_path_equals_linear_on_one_hot_inputs():
    torch.manual_seed(0)
    m = MLP(11, width=16, depth=2).double()
    x = torch.randint(0, 11, (20, 2))
    lin = m.hidden[0].linear
    want = one_hot_concat(x, 11, torch.float64) @ lin.weight.T + lin.bias
    torch.testing.assert_close(m._first(x), want)


def test_shapes_sites_and_encodings():
    for enc in ("onehot", "embed"):
        m = MLP(7, width=10, depth=3, encoding=enc, embed_dim=4)
        out = m(torch.randint(0, 7, (5, 2)))
        assert out.shape == (5, 7)
        assert m.default_penalty_sites == ["hidden.0.pre", "hidden.1.pre", "hidden.2.pre"]
        names = dict(m.named_modules())
        assert all(s in names for s in m.default_penalty_sites + m.post_activation_sites)


def test_penalty_targets_pre_activations_by_default():
    torch.manual_seed(0)
    m = MLP(7, width=10, depth=2)
    rs = RadialSuppression(m, m.default_penalty_sites, lam=1.0)
    m(torch.randint(0, 7, (5, 2)))
    rs.penalty().backward()
    assert m.hidden[0].linear.weight.grad.abs().sum() > 0
    assert m.hidden[1].linear.weight.grad.abs().sum() > 0
    assert m.out.weight.grad is None


def test_init_scale_multiplies_weights():
    torch.manual_seed(0)
    a = MLP(7, width=10)
    torch.manual_seed(0)
    b = MLP(7, width=10, init_scale=3.0)
    torch.testing.assert_close(b.out.weight, 3 * a.out.weight)


def test_one_hot_concat():
    x = torch.tensor([[0, 2], [3, 1]])
    oh = one_hot_concat(x, 4)
    assert oh.shape == (2, 8)
    assert oh[0].nonzero().flatten().tolist() == [0, 6]
    assert oh[1].nonzero().flatten().tolist() == [3, 5]


def test_one_hot_concat_stays_on_the_input_device():
    # anisotropy's linear_inputs calls it on the probe batch: built on the CPU, it broke GPU runs.
    # The meta device stands in for a GPU here (no data, same device checks).
    x = torch.tensor([[0, 2], [3, 1]], device="meta")
    assert one_hot_concat(x, 4).device == x.device


@pytest.mark.parametrize("encoding", ["onehot", "embed"])
def test_linear_inputs_reproduce_the_pre_activations(encoding):
    torch.manual_seed(0)
    m = MLP(11, width=16, depth=2, encoding=encoding, embed_dim=4).double()
    x = torch.stack([torch.arange(11), (3 * torch.arange(11)) % 11], 1)
    seen = {}
    hooks = [m.hidden[i].pre.register_forward_hook(lambda mod, a, out, i=i: seen.__setitem__(i, out))
             for i in range(2)]
    m(x)
    for hd in hooks:
        hd.remove()
    inputs = m.linear_inputs(x)
    assert list(inputs) == list(m.linear_sites) == ["hidden.0.pre", "hidden.1.pre"]
    assert inputs["hidden.0.pre"].shape == (11, 22 if encoding == "onehot" else 8)
    for i in range(2):
        lin = m.linear_sites[f"hidden.{i}.pre"]
        assert lin is m.hidden[i].linear
        assert torch.allclose(inputs[f"hidden.{i}.pre"] @ lin.weight.T + lin.bias, seen[i], atol=1e-12)
    assert torch.allclose(inputs["hidden.1.pre"], torch.relu(seen[0]))
