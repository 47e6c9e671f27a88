import math

import pytest
import torch

from radgrok.diagnostics import (
    anisotropy_ratios,
    layer_anisotropy,
    measured_penalty,
    mlp_anisotropy,
    predicted_penalty,
    second_moment,
    second_moment_eigenvalues,
)
from radgrok.models.mlp import MLP


def _spd(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A @ A.T / n + 0.1 * torch.eye(n, dtype=torch.float64)


def test_prediction_matches_expected_sq_norm_for_gaussian_inputs():
    d, d_in = 24, 16
    sigma = _spd(d_in, 0)
    W = torch.randn(d, d_in, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # ground truth by Monte Carlo: x ~ N(0, Sigma), (1/d) E||W x||^2
    L = torch.linalg.cholesky(sigma)
    x = torch.randn(200_000, d_in, generator=torch.Generator().manual_seed(2), dtype=torch.float64) @ L.T
    mc = float((x @ W.T).square().sum(-1).mean() / d)
    assert predicted_penalty(W, sigma) == pytest.approx(mc, rel=0.01)
    # on the sample itself the identity Tr(W S W^T) = mean ||W x||^2 is exact
    assert predicted_penalty(W, second_moment(x)) == pytest.approx(mc, rel=1e-9)
    assert layer_anisotropy(W, x)["pred"] == pytest.approx(mc, rel=1e-9)


def test_prediction_tracks_measured_penalty_only_far_outside_the_sphere():
    d, d_in = 64, 32
    x = torch.randn(4096, d_in, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    W = torch.randn(d, d_in, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    far = layer_anisotropy(30 * W, x, x @ (30 * W).T)  # ||h|| ~ 30 sqrt(d_in) >> sqrt(d)
    assert far["penalty"] / far["pred"] == pytest.approx(1.0, abs=0.1)
    # on the sphere the penalty vanishes while the prediction stays ~ ||h||^2 / d = 1
    h = x @ W.T
    h = h / h.norm(dim=-1, keepdim=True) * math.sqrt(d)
    assert measured_penalty(h) < 1e-12
    assert measured_penalty(h, radius=0.5 * math.sqrt(d)) == pytest.approx(0.25)


def test_isotropic_input_gives_unit_ratios():
    r = anisotropy_ratios(3.0 * torch.eye(10, dtype=torch.float64))
    assert r == pytest.approx({"top": 1.0, "bottom": 1.0, "null": 0.0})


def test_ratios_of_a_known_spectrum_and_null_space():
    ev = torch.tensor([0.0, 0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    r = anisotropy_ratios(Q @ torch.diag(ev) @ Q.T)
    mean = 55 / 12
    assert r["top"] == pytest.approx(10 / mean)
    assert r["bottom"] == pytest.approx(1 / mean)  # bottom decile of the 10 non-zero = the smallest one
    assert r["null"] == pytest.approx(2 / 12)
    r = anisotropy_ratios(Q @ torch.diag(ev) @ Q.T, bottom_frac=0.5)
    assert r["bottom"] == pytest.approx(3 / mean)  # mean of 1..5
    with pytest.raises(ValueError):
        anisotropy_ratios(torch.eye(3), bottom_frac=0)


def test_gram_path_equals_direct_eigenvalues_when_rows_are_few():
    x = torch.randn(7, 20, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    fast = second_moment_eigenvalues(x)
    direct = torch.linalg.eigvalsh(second_moment(x)).clamp_min(0)
    assert fast.shape == (20,)
    assert torch.allclose(fast, direct, atol=1e-10)
    assert layer_anisotropy(torch.ones(3, 20), x)["null"] == pytest.approx(13 / 20)


def test_onehot_first_layer_has_the_closed_form_spectrum():
    # all P^2 pairs: Sigma = [[I/P, J/P^2], [J/P^2, I/P]] -> eigenvalues 2/P, 1/P (x 2P-2), 0
    p = 7
    m = MLP(p, width=8, depth=1)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x = torch.stack([a.flatten(), b.flatten()], 1)
    row = mlp_anisotropy(m, x, ["hidden.0.pre", "hidden.0.post"])
    assert set(row) == {f"{k}/hidden.0.pre" for k in ("aniso_pred", "penalty_site", "aniso_top",
                                                       "aniso_bottom", "aniso_null")}
    mean = (2 / p + (2 * p - 2) / p) / (2 * p)
    assert row["aniso_top/hidden.0.pre"] == pytest.approx((2 / p) / mean)
    assert row["aniso_bottom/hidden.0.pre"] == pytest.approx((1 / p) / mean)
    assert row["aniso_null/hidden.0.pre"] == pytest.approx(1 / (2 * p))
    W = m.hidden[0].linear.weight.detach().double()
    sigma = second_moment(m.linear_inputs(x)["hidden.0.pre"])
    assert row["aniso_pred/hidden.0.pre"] == pytest.approx(predicted_penalty(W, sigma), rel=1e-6)
    assert mlp_anisotropy(m, x, ["hidden.0.post"]) == {}
