import sys
import types

import pytest

from radgrok.cli import main
from radgrok.runs.config import ConfigError
from radgrok.training.trackers import make_tracker

TINY = ["--p", "11", "--width", "16", "--steps", "20", "--eval-every", "10", "--quiet"]


def test_none_and_bad_kind(tmp_path):
    on_eval, close = make_tracker("none", tmp_path, {})
    assert on_eval is None and close() is None
    with pytest.raises(ConfigError, match=r"--tracker must be one of \['none', 'tensorboard', 'wandb'\]"):
        make_tracker("mlflow", tmp_path, {})


@pytest.mark.parametrize("kind, module", [("wandb", "wandb"), ("tensorboard", "torch.utils.tensorboard")])
def test_missing_extra_is_one_line_exit_2_before_training(tmp_path, capsys, monkeypatch, kind, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail like a missing extra
    out = tmp_path / "run"
    assert main(["train", *TINY, "--tracker", kind, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"radgrok: error: --tracker {kind} needs") and "\n" not in err
    assert not out.exists()


def test_wandb_gets_every_evaluation(tmp_path, monkeypatch):
    logged, finished = [], []

    class Run:
        def log(self, row, step):
            logged.append((step, row))

        def finish(self):
            finished.append(True)

    fake = types.SimpleNamespace(init=lambda **kw: Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main(["train", *TINY, "--tracker", "wandb", "--out", str(tmp_path / "run")]) == 0
    assert [s for s, _ in logged] == [0, 10, 20] and finished == [True]
    assert "test_acc" in logged[-1][1] and all(isinstance(v, float) for v in logged[-1][1].values())
