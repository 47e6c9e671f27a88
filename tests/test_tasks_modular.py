import pytest
import torch

from radgrok.tasks.modular import OPERATIONS, make_modular

P = 7


def reference(op, a, b, p):
    if op == "div":
        return next(c for c in range(p) if (c * b) % p == a)
    return {
        "add": (a + b) % p, "sub": (a - b) % p, "mul": (a * b) % p,
        "x2+y2": (a * a + b * b) % p, "x2+xy+y2": (a * a + a * b + b * b) % p,
        "x3+xy": (a ** 3 + a * b) % p,
    }[op]


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_every_pair_labelled_correctly(op):
    d = make_modular(op, P, 0.5, split_seed=3)
    n_expected = P * (P - 1) if op == "div" else P * P
    assert d.x.shape == (n_expected, 2)
    for (a, b), y in zip(d.x.tolist(), d.y.tolist()):
        assert y == reference(op, a, b, P)
    if op == "div":
        assert (d.x[:, 1] != 0).all()


def test_split_is_a_seeded_partition():
    d1 = make_modular("add", 11, 0.3, split_seed=5)
    d2 = make_modular("add", 11, 0.3, split_seed=5)
    d3 = make_modular("add", 11, 0.3, split_seed=6)
    assert torch.equal(d1.train_idx, d2.train_idx)
    assert not torch.equal(d1.train_idx, d3.train_idx)
    all_idx = torch.cat([d1.train_idx, d1.test_idx]).sort().values
    assert torch.equal(all_idx, torch.arange(121))
    assert d1.train_idx.numel() == round(0.3 * 121)
    rec = d1.split_record()
    assert rec["n_train"] + rec["n_test"] == 121 and rec["train_idx"] == d1.train_idx.tolist()


@pytest.mark.parametrize("kwargs,match", [
    (dict(op="div", p=91), "prime"),
    (dict(op="pow", p=7), "op must be one of"),
    (dict(op="add", p=7, train_frac=1.0), "train_frac"),
    (dict(op="add", p=1), "p must be"),
])
def test_bad_input(kwargs, match):
    args = dict(train_frac=0.5, split_seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        make_modular(**args)


def test_validation_split_is_carved_from_training_pairs_only():
    base = make_modular("add", 13, 0.5, split_seed=2)
    d = make_modular("add", 13, 0.5, split_seed=2, val_frac=0.25)
    assert torch.equal(d.test_idx, base.test_idx)  # the test set does not move
    assert set(d.val_idx.tolist()) | set(d.train_idx.tolist()) == set(base.train_idx.tolist())
    assert not set(d.val_idx.tolist()) & set(d.train_idx.tolist())
    assert d.val_idx.numel() == round(0.25 * base.train_idx.numel())
    assert base.val_idx is None and base.x_val is None
