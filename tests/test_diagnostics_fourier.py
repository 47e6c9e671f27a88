"""Fourier measures on planted frequencies, and Nanda et al.'s restricted / excluded loss."""

import math

import pytest
import torch

from radgrok.diagnostics import (
    fourier_basis,
    fourier_coherence,
    fourier_power,
    grid_logits,
    key_frequencies,
    max_fourier_magnitude,
    mlp_input_embeddings,
    mlp_neuron_input_weights,
    neuron_frequency_selectivity,
    restricted_and_excluded_loss,
)
from radgrok.models.mlp import MLP

P = 31
K = (P - 1) // 2


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _planted(freqs, n_per, noise=0.1, const=0.0, seed=0):
    """(P, len(freqs) * n_per): each neuron a cosine of its frequency with a random phase."""
    g = _gen(seed)
    a = torch.arange(P, dtype=torch.float64)[:, None]
    cols = []
    for k in freqs:
        phase = torch.rand(1, n_per, generator=g, dtype=torch.float64) * 2 * math.pi
        amp = 1 + torch.rand(1, n_per, generator=g, dtype=torch.float64)
        cols.append(amp * torch.cos(2 * math.pi * k * a / P + phase) + const)
    W = torch.cat(cols, dim=1)
    return W + noise * torch.randn(W.shape, generator=g, dtype=torch.float64)


def test_basis_is_orthonormal_and_power_preserves_energy():
    B = fourier_basis(P)
    torch.testing.assert_close(B @ B.T, torch.eye(P, dtype=torch.float64), rtol=0, atol=1e-12)
    W = torch.randn(P, 9, generator=_gen(1), dtype=torch.float64)
    power = fourier_power(W, P)
    assert power.shape == (K + 1,)
    assert float(power.sum()) == pytest.approx(float(W.square().sum()), rel=1e-12)
    torch.testing.assert_close(fourier_power(W.T, P, axis=1), power)
    with pytest.raises(ValueError):
        fourier_basis(10)


def test_planted_frequency_is_recovered():
    W = _planted([7], 16, noise=0.1)
    assert key_frequencies(W, P, top=1) == [7]
    assert fourier_coherence(W, P, top=1) > 0.9
    # A random embedding is far from coherent; using every frequency explains everything.
    R = torch.randn(P, 16, generator=_gen(2), dtype=torch.float64)
    assert fourier_coherence(R, P, top=1) < 0.3
    assert fourier_coherence(R, P, top=K) == pytest.approx(1.0)


def test_max_fourier_magnitude_matches_fft():
    W = _planted([3, 11], 4, noise=0.3)
    fft = torch.fft.fft(W, dim=0).abs()[1 : K + 1]
    assert max_fourier_magnitude(W, P) == pytest.approx(float(fft.max()), rel=1e-10)


def test_selectivity_rows_bounded_and_peaked_at_planted_frequency():
    freqs = [2, 5, 13]
    W = _planted(freqs, 6, noise=0.05, const=0.4)
    S = neuron_frequency_selectivity(W, P)
    assert S.shape == (18, K)
    assert bool((S >= 0).all()) and bool((S.sum(dim=1) <= 1 + 1e-12).all())
    # The constant offset takes a share, so rows sum to strictly less than 1 here.
    assert bool((S.sum(dim=1) < 0.99).all())
    peaks = S.argmax(dim=1) + 1
    assert peaks.tolist() == [k for k in freqs for _ in range(6)]
    zero = neuron_frequency_selectivity(torch.zeros(P, 2), P)
    assert bool((zero == 0).all())


@pytest.mark.parametrize("encoding", ["onehot", "embed"])
def test_mlp_weights_reproduce_the_first_pre_activation(encoding):
    torch.manual_seed(0)
    model = MLP(P, width=8, depth=1, encoding=encoding, embed_dim=6).double()
    Ea, Eb = mlp_input_embeddings(model)
    assert Ea.shape[0] == Eb.shape[0] == P
    Wa, Wb = mlp_neuron_input_weights(model)
    assert Wa.shape == Wb.shape == (P, 8)
    seen = []
    hd = model.hidden[0].pre.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    x = torch.tensor([[3, 17], [0, 30], [12, 12]])
    model(x)
    hd.remove()
    expected = Wa[x[:, 0]] + Wb[x[:, 1]] + model.hidden[0].linear.bias.detach()
    torch.testing.assert_close(seen[0], expected, rtol=1e-12, atol=1e-12)


def test_grid_logits_order_and_mode_restored():
    torch.manual_seed(0)
    model = MLP(P, width=8, depth=1, dropout=0.5).double()
    model.train()
    L = grid_logits(model, P)
    assert L.shape == (P, P, P) and model.training
    model.eval()
    torch.testing.assert_close(L[4, 9], model(torch.tensor([[4, 9]]))[0])


def _key_table(key, op="add", scale=8.0):
    a = torch.arange(P, dtype=torch.float64)[:, None, None]
    b = torch.arange(P, dtype=torch.float64)[None, :, None]
    c = torch.arange(P, dtype=torch.float64)[None, None, :]
    s = a + b if op == "add" else a - b
    L = sum(scale * torch.cos(2 * math.pi * k * (s - c) / P) for k in key)
    labels = (s[..., 0] % P).long()
    return L, labels


@pytest.mark.parametrize("op", ["add", "sub"])
def test_restricted_and_excluded_loss_on_a_key_frequency_table(op):
    key = [4, 9]
    L, labels = _key_table(key, op)
    out = restricted_and_excluded_loss(L, labels, key, P, op=op)
    assert out["full"] < 0.5
    assert out["restricted"] == pytest.approx(out["full"], abs=1e-9)
    # Removing the key directions leaves constant logits: chance-level loss log P.
    assert out["excluded"] == pytest.approx(math.log(P), abs=1e-9)
    # Other frequencies do not carry this table: dropping them changes nothing, keeping
    # only them leaves nothing.
    other = restricted_and_excluded_loss(L, labels, [1, 2], P, op=op)
    assert other["excluded"] == pytest.approx(out["full"], abs=1e-9)
    assert other["restricted"] == pytest.approx(math.log(P), abs=1e-9)


def test_restricted_loss_drops_memorised_noise_and_idx_selects_pairs():
    key = [4, 9]
    L, labels = _key_table(key)
    noisy = L + 0.5 * torch.randn(L.shape, generator=_gen(3), dtype=torch.float64)
    out = restricted_and_excluded_loss(noisy.reshape(P * P, P), labels.reshape(-1), key, P)
    clean = restricted_and_excluded_loss(L, labels, key, P)
    assert out["restricted"] == pytest.approx(clean["full"], rel=0.05)
    assert out["excluded"] > math.log(P) - 0.5
    idx = torch.arange(0, P * P, 2)
    sub = restricted_and_excluded_loss(noisy, labels, key, P, idx=idx)
    assert sub["full"] != pytest.approx(out["full"], rel=1e-9)
    with pytest.raises(ValueError):
        restricted_and_excluded_loss(L, labels, [K + 1], P)
