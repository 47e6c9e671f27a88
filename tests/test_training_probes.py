import math

import torch

from radgrok.diagnostics import radial_energy
from radgrok.runs.config import RunConfig
from radgrok.training.loop import build, train
from radgrok.training.probes import cheap_diagnostics

TINY = dict(p=11, train_frac=0.6, width=16, steps=40, eval_every=10, lam=0.05, early_stop=False, probe_size=32)


def rows_of(**kw):
    rows = []
    train(RunConfig().replace(**{**TINY, **kw}), None, progress=False, on_eval=rows.append)
    return rows


def test_diagnostics_do_not_change_the_run():
    on, off = rows_of(diagnostics=True, expensive_every=2), rows_of(diagnostics=False)
    assert len(on) == len(off) == 5
    for a, b in zip(on, off):
        assert {k: a[k] for k in b} == b
        assert set(a) - set(b)  # the diagnostics added keys


def test_logged_keys_and_schedule():
    rows = rows_of(expensive_every=2)
    for site in ("hidden.0.pre", "hidden.1.pre"):
        for key in ("phi_task", "phi_total", "stable_rank", "eff_rank", "sigma_max"):
            assert rows[-1][f"{key}/{site}"] is not None
    assert 0.0 <= rows[-1]["softmax_collapse"] <= 1.0
    have_hessian = [r["step"] for r in rows if "hessian_trace" in r]
    assert have_hessian == [0, 20, 40]
    assert rows[0]["eos_line"] == 2.0 / 1e-3 and len(rows[0]["key_freqs"]) == 5


def test_phi_task_matches_direct_computation():
    b = build(RunConfig().replace(**TINY, dtype="float64"))
    x, y = b.data.x_train[:32], b.data.y_train[:32]
    got = cheap_diagnostics(b.model, b.rs, x, y)
    # by hand: retain the pre-activation, differentiate the task loss w.r.t. it
    h = b.model.hidden[0].linear.weight.t()[x[:, 0]] + b.model.hidden[0].linear.weight.t()[11 + x[:, 1]] \
        + b.model.hidden[0].linear.bias
    h = h.detach().requires_grad_()
    z = torch.relu(h)
    h1 = b.model.hidden[1].linear(z)
    loss = torch.nn.functional.cross_entropy(b.model.out(torch.relu(h1)), y)
    (g,) = torch.autograd.grad(loss, h)
    assert math.isclose(got["phi_task/hidden.0.pre"], radial_energy(h.detach(), g), rel_tol=1e-9)
    # the penalty's own gradient is radial: the total-loss energy is pulled towards d
    assert got["phi_total/hidden.0.pre"] != got["phi_task/hidden.0.pre"]


def test_anisotropy_and_fourier_power_are_logged():
    rows = rows_of(expensive_every=2)
    last = rows[-1]
    for site in ("hidden.0.pre", "hidden.1.pre"):
        assert last[f"aniso_pred/{site}"] > 0 and last[f"penalty_site/{site}"] >= 0
        assert last[f"aniso_top/{site}"] >= 1.0 >= last[f"aniso_bottom/{site}"] > 0
    power = rows[0]["fourier_power"]
    assert isinstance(power, list) and len(power) == (11 - 1) // 2
    assert "fourier_power" not in rows[1]  # expensive evaluations only


def test_logged_penalty_site_matches_the_penalty():
    b = build(RunConfig().replace(**TINY, dtype="float64"))
    x, y = b.data.x_train[:32], b.data.y_train[:32]
    got = cheap_diagnostics(b.model, b.rs, x, y)
    with torch.no_grad():
        b.model(x)
        want = float(b.rs.penalty_sum())
    assert math.isclose(got["penalty_site/hidden.0.pre"] + got["penalty_site/hidden.1.pre"], want, rel_tol=1e-9)
