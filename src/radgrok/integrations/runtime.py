"""radgrok attached to one model for one run, independent of the training framework.

``RadgrokRuntime`` is what the HF and Lightning integrations drive from their own hooks; a plain
loop can drive it by hand (see its example).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle

from radgrok.diagnostics.radial import phi_rad
from radgrok.integrations.options import RadgrokOptions, resolve_sites
from radgrok.methods import step_hook
from radgrok.methods.grokfast import GrokfastEMA, GrokfastMA, make_filter
from radgrok.models.modes import eval_mode
from radgrok.penalty import RadialSuppression

__all__ = ["RadgrokRuntime", "STATE_FILE", "base_optimizer"]

#: The file a checkpoint directory gets for radgrok's own state.
STATE_FILE = "radgrok_state.pt"


def base_optimizer(optimizer: Any) -> Optimizer:
    """The innermost ``torch.optim.Optimizer`` of a wrapper chain (accelerate, Lightning).

    Wrappers such as accelerate's ``AcceleratedOptimizer`` subclass ``Optimizer``
    without running its ``__init__``, so a step hook registered on them never fires;
    hooks must go on the optimizer that actually steps.
    """
    opt = optimizer
    while isinstance(getattr(opt, "optimizer", None), Optimizer):
        opt = opt.optimizer
    if not isinstance(opt, Optimizer):
        raise TypeError(f"expected a torch.optim.Optimizer (or a wrapper of one), got {type(optimizer).__name__}")
    return opt


class RadgrokRuntime:
    """The penalty hooks, gradient methods and diagnostics of one run.

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> rt = RadgrokRuntime(RadgrokOptions(sites=["0"], lam=0.1, grokfast="ema"))
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> rt.attach(model, opt)
    >>> x, y = torch.randn(5, 4), torch.randint(0, 2, (5,))
    >>> loss = nn.functional.cross_entropy(model(x), y) + rt.penalty()
    >>> loss.backward(); opt.step()            # Grokfast filters .grad inside step()
    >>> sorted(rt.diagnostics(model, lambda: nn.functional.cross_entropy(model(x), y)))
    ['radgrok/phi_rad/0', 'radgrok/phi_rad_total/0', 'radgrok/radius/0']
    >>> rt.detach()                            # the model and optimizer are as before
    """

    def __init__(self, options: RadgrokOptions) -> None:
        self.options = options
        self.rs: RadialSuppression | None = None
        self.sites: list[str] = []
        self.grokfast: GrokfastEMA | GrokfastMA | None = None
        self._model: nn.Module | None = None
        self._step_hook: RemovableHandle | None = None
        # state loaded before attach (Lightning restores callbacks after setup, HF before
        # the hooks exist): applied when the filter is built
        self._pending: dict[str, Any] | None = None
        self._penalties: list[torch.Tensor] = []

    # -- lifetime -------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self._model is not None

    def attach(self, model: nn.Module, optimizer: Any | None = None) -> None:
        """Install the forward hooks on ``model``'s sites and build the gradient filter.

        With ``optimizer``, the gradient methods run in a step pre-hook of its base optimizer
        (``methods.step_hook.install``); without it, call ``before_optimizer_step`` yourself.
        """
        if self.attached:
            raise RuntimeError("RadgrokRuntime is already attached; detach() first")
        o = self.options
        self._model = model
        if o.sites:
            self.sites = resolve_sites(model, o.sites)
            self.rs = RadialSuppression(model, self.sites, o.lam, radius=o.radius, radius_scale=o.radius_scale,
                                        mode=o.mode, norm_over=o.norm_over, reduce=o.reduce,
                                        global_batch=o.global_batch)
        self.grokfast = make_filter(model, o.grokfast, o.grokfast_alpha, o.grokfast_lamb, o.grokfast_window)
        if self._pending is not None:
            self._apply(self._pending)
            self._pending = None
        if optimizer is not None:
            self._step_hook = step_hook.install(base_optimizer(optimizer), self.grokfast, o.orthograd)

    def detach(self) -> None:
        """Remove every hook this runtime installed. The filter's state stays for ``state_dict``."""
        if self.rs is not None:
            self.rs.remove()
            self.rs = None
        if self._step_hook is not None:
            self._step_hook.remove()
            self._step_hook = None
        self._model = None
        self._penalties.clear()

    def new_batch(self) -> None:
        """Drop the hooked outputs kept from the previous batch (``RadialSuppression.clear``): a loop
        that calls a sub-module rather than the attached model must call this at each batch's start."""
        if self.rs is not None:
            self.rs.clear()

    # -- loss -----------------------------------------------------------------
    def penalty(self, like: torch.Tensor | None = None) -> torch.Tensor:
        """The term to add to the loss for the latest forward; zero when nothing is hooked.

        ``like`` gives the zero's device and dtype when there is no penalty.
        The value is kept (detached) for logging.
        """
        if self.rs is None or not self.rs.active:
            return like.new_zeros(()) if like is not None else torch.zeros(())
        p = self.rs.penalty()
        self._penalties.append(p.detach())
        return p

    def pop_penalty_mean(self) -> float | None:
        """Mean penalty over the calls since the last pop (one ``.item()`` per logging step)."""
        if not self._penalties:
            return None
        mean = float(torch.stack(self._penalties).mean())
        self._penalties.clear()
        return mean

    # -- gradients ------------------------------------------------------------
    def before_optimizer_step(self, optimizer: Any | None = None) -> None:
        """Grokfast on ``.grad``, then ⊥Grad on the optimizer's groups (those not opting out):
        ``methods.step_hook.before_step``, for trainers that call it themselves (Lightning)."""
        if self.options.orthograd and optimizer is None:
            raise ValueError("orthograd needs the optimizer whose parameter groups to orthogonalise")
        groups = base_optimizer(optimizer).param_groups if optimizer is not None else []
        step_hook.before_step(groups, self.grokfast, self.options.orthograd)

    # -- diagnostics ----------------------------------------------------------
    def radii(self) -> dict[str, float]:
        """``radgrok/radius/<site>``: mean ‖h‖ per site in the latest forward."""
        return {} if self.rs is None else {f"radgrok/radius/{k}": v for k, v in self.rs.radii().items()}

    def diagnostics(self, model: nn.Module, task_loss: Callable[[], torch.Tensor] | None) -> dict[str, float]:
        """Radii of the latest forward, and Φ̃_rad of a replayed batch if ``task_loss`` is given.

        ``task_loss`` runs a forward of ``model`` and returns the task loss (without the
        penalty). It runs in eval mode, so dropout draws no random numbers and a resumed
        run stays on the same random stream; parameter ``.grad`` is not touched.
        ``radgrok/phi_rad/<site>`` is the task gradient's Φ̃_rad (1 = isotropic floor);
        ``radgrok/phi_rad_total/<site>`` adds the penalty's own gradient, for comparison.
        """
        out = self.radii()
        if self.rs is None or task_loss is None or not self.options.phi_rad:
            return out
        try:
            with eval_mode(model):
                phi, _ = phi_rad(model, self.rs, task_loss)
        finally:
            # the replayed outputs hold a graph the next step must not reach into
            self.rs.clear()
        for name, key in (("task", "phi_rad"), ("total", "phi_rad_total")):
            for site, value in phi[name].items():
                out[f"radgrok/{key}/{site}"] = value
        return out

    # -- checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs beyond the model and optimizer: the Grokfast filter."""
        return {"version": 1, "grokfast": None if self.grokfast is None else self.grokfast.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.attached:
            self._apply(state)
        else:
            self._pending = dict(state)

    def _apply(self, state: Mapping[str, Any]) -> None:
        saved = state.get("grokfast")
        if saved is not None and self.grokfast is not None:
            self.grokfast.load_state_dict(saved)

    def save(self, directory: str | os.PathLike[str]) -> str:
        """Write ``state_dict()`` to ``directory/radgrok_state.pt``; returns the path."""
        path = os.path.join(os.fspath(directory), STATE_FILE)
        torch.save(self.state_dict(), path)
        return path

    def load(self, directory: str | os.PathLike[str]) -> bool:
        """Load ``directory/radgrok_state.pt`` if it exists; returns whether it did."""
        path = os.path.join(os.fspath(directory), STATE_FILE)
        if not os.path.isfile(path):
            return False
        # weights_only: a checkpoint directory may come from elsewhere; tensors and plain data suffice
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return True
