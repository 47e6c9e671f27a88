"""radgrok.integrations.lightning with a real lightning.Trainer on CPU, around a foreign MLP."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from radgrok.integrations import RadgrokOptions
from radgrok.integrations.lightning import RadgrokLightningCallback, radgrok_penalty
from radgrok.penalty import RadialSuppression

READINGS = [("example", "mean"), ("example", "sum"), ("batch", "mean")]
SITES = ["net.1", "net.3"]  # the two ReLU outputs of the foreign MLP


@pytest.fixture(autouse=True)
def private_env(tmp_path, monkeypatch):
    for var, sub in (("HOME", "home"), ("MPLCONFIGDIR", "mpl"), ("XDG_CACHE_HOME", "cache")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))


def foreign_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))


class Classifier(pl.LightningModule):
    """A plain LightningModule; the one radgrok line is ``+ radgrok_penalty(self)``."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.net = foreign_mlp()
        self.lr = lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y) + radgrok_penalty(self)
        self.log("train_loss", loss)
        return loss

    def radgrok_task_loss(self, batch):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def data(n: int = 16) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=g)
    return DataLoader(TensorDataset(x, torch.randint(0, 4, (n,), generator=g)), batch_size=8, shuffle=False)


def first_batch():
    return next(iter(data()))


def fit(module, callbacks, max_steps, tmp_path, ckpt_path=None, n: int = 16) -> pl.Trainer:
    trainer = pl.Trainer(accelerator="cpu", max_steps=max_steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                         default_root_dir=str(tmp_path))
    trainer.callbacks.extend(callbacks)  # after Lightning's own; order among ours is the list's
    trainer.fit(module, data(n), ckpt_path=ckpt_path)
    return trainer


class GradSpy(pl.Callback):
    """The gradients the optimizer is about to use, at the first step."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] | None = None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.grads is None:
            self.grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters()}


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_the_penalty_reaches_the_loss_and_the_hooked_modules(tmp_path, norm_over, reduce):
    grads = {}
    for lam in (0.0, 2.0):
        spy = GradSpy()
        cb = RadgrokLightningCallback(RadgrokOptions(sites=SITES, lam=lam, norm_over=norm_over, reduce=reduce))
        fit(Classifier(), [cb, spy], 1, tmp_path)
        grads[lam] = spy.grads

    net = foreign_mlp()
    with RadialSuppression(net, ["1", "3"], 2.0, norm_over=norm_over, reduce=reduce) as rs:
        net(first_batch()[0])
        names = [n for n, _ in net.named_parameters()]
        alone = torch.autograd.grad(rs.penalty(), list(net.parameters()), allow_unused=True)
    for name, g in zip(names, alone):
        want = torch.zeros_like(grads[2.0][f"net.{name}"]) if g is None else g
        assert torch.allclose(grads[2.0][f"net.{name}"] - grads[0.0][f"net.{name}"], want, atol=1e-6), name
    assert float(alone[0].abs().max()) > 0  # the first layer, upstream of both hooked sites


@pytest.mark.parametrize("norm_over,reduce", READINGS)
def test_penalty_radii_and_phi_rad_are_logged(tmp_path, norm_over, reduce):
    module = Classifier()
    cb = RadgrokLightningCallback(RadgrokOptions(sites=SITES, lam=0.1, norm_over=norm_over, reduce=reduce))
    trainer = fit(module, [cb], 2, tmp_path)
    metrics = trainer.callback_metrics
    assert float(metrics["radgrok/penalty"]) > 0
    for site in SITES:
        assert float(metrics[f"radgrok/radius/{site}"]) > 0
        assert float(metrics[f"radgrok/phi_rad/{site}"]) >= 0
        assert f"radgrok/phi_rad_total/{site}" in metrics
    # the hooks lived for the fit only
    assert not cb.runtime.attached
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())
    assert float(radgrok_penalty(module)) == 0.0  # detached: the module still trains without radgrok


class Failing(Classifier):
    def training_step(self, batch, batch_idx):
        super().training_step(batch, batch_idx)
        raise RuntimeError("boom")


def test_hooks_are_removed_when_the_fit_fails(tmp_path):
    module = Failing()
    cb = RadgrokLightningCallback(RadgrokOptions(sites=SITES, lam=0.1))
    with pytest.raises(RuntimeError, match="boom"):
        fit(module, [cb], 2, tmp_path)
    assert not cb.runtime.attached
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_grokfast_and_orthograd_act_before_the_step(tmp_path):
    plain, filtered = GradSpy(), GradSpy()
    fit(Classifier(), [plain], 1, tmp_path)
    cb = RadgrokLightningCallback(RadgrokOptions(grokfast="ema", grokfast_lamb=2.0))
    fit(Classifier(), [cb, filtered], 1, tmp_path)  # the spy runs after radgrok's hook
    for name, g in plain.grads.items():
        # the EMA starts at the first gradient, so step one sees g + 2 g
        assert torch.allclose(filtered.grads[name], 3 * g, atol=1e-6), name

    ortho = GradSpy()
    module = Classifier()
    weights = {n: p.detach().clone() for n, p in module.named_parameters()}
    fit(module, [RadgrokLightningCallback(RadgrokOptions(orthograd=True)), ortho], 1, tmp_path)
    for name, g in ortho.grads.items():
        cos = torch.dot(g.flatten(), weights[name].flatten()) / (g.norm() * weights[name].norm())
        assert abs(float(cos)) < 1e-5, name


@pytest.mark.parametrize("grokfast", ["ema", "ma"])
def test_resume_from_a_checkpoint_continues_the_same_run(tmp_path, grokfast):
    def callback():
        return RadgrokLightningCallback(RadgrokOptions(sites=SITES, lam=0.2, grokfast=grokfast, grokfast_lamb=3.0,
                                                       grokfast_window=2, orthograd=True))

    # one batch per epoch: every step sees the same batch, so the comparison is about
    # radgrok's state and not about how Lightning replays a plain DataLoader's order
    straight = Classifier()
    cb_straight = callback()
    fit(straight, [cb_straight], 4, tmp_path / "a", n=8)

    first = Classifier()
    trainer = fit(first, [callback()], 2, tmp_path / "b", n=8)
    ckpt = tmp_path / "b" / "two.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed = Classifier()
    cb_resumed = callback()
    fit(resumed, [cb_resumed], 4, tmp_path / "b", ckpt_path=str(ckpt), n=8)

    for (name, a), b in zip(straight.named_parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    sa, sb = cb_straight.state_dict()["grokfast"], cb_resumed.state_dict()["grokfast"]
    key = "ema" if grokfast == "ema" else "history"
    for k in sa[key]:
        for x, y in zip(*(v if isinstance(v, list) else [v] for v in (sa[key][k], sb[key][k]))):
            assert torch.allclose(x, y, atol=1e-6), k

    # without the filter's state the continuation differs: the state is what made it equal
    blank = Classifier()
    forgetful = callback()
    forgetful.load_state_dict = lambda state: None  # drop what the checkpoint holds for radgrok
    fit(blank, [forgetful], 4, tmp_path / "b", ckpt_path=str(ckpt), n=8)
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(straight.parameters(), blank.parameters()))


def test_docstring_examples_run():
    import doctest

    from radgrok.integrations import lightning

    result = doctest.testmod(lightning)
    assert result.attempted > 0 and result.failed == 0
