import typing

import pytest

from radgrok.runs.config import RunConfig, TaskConfig, to_dict
from radgrok.training.kinds import TASK_KINDS, kind_of

SMALL = {"modular": dict(p=11), "addition": dict(task="addition", arch="gpt", n_digits=2, train_pairs=50,
                                                   test_pairs=20, width=16, n_heads=2, depth=1),
         "text": dict(task="text", arch="gpt", block_size=16, width=16, n_heads=2, depth=1)}


def test_every_task_the_config_allows_is_registered():
    assert set(typing.get_args(typing.get_type_hints(TaskConfig)["task"])) == set(TASK_KINDS) == set(SMALL)
    assert kind_of(None) is TASK_KINDS["modular"]  # records older than the field


@pytest.mark.parametrize("name", sorted(TASK_KINDS))
def test_each_kind_makes_its_data_feed_and_report_line(name):
    import torch

    cfg = RunConfig().replace(**SMALL[name])
    kind = kind_of(cfg.task.task)
    data = kind.data(cfg)
    feed = kind.feed(data, cfg, torch.device("cpu"))
    x, y = feed.train_batch(0)
    assert x.shape[0] == y.shape[0] > 0 and feed.n_train > 0
    assert kind.describe(to_dict(cfg)["task"]).startswith("Task: ")
    assert (kind.gpt_shape is None) == (name == "modular")
    assert kind.held_out_is_validation == (name == "text")


@pytest.mark.parametrize("batch_size", [0, 8, 10**6])
@pytest.mark.parametrize("name", sorted(TASK_KINDS))
def test_rows_per_step_from_the_config_are_what_the_feed_takes(name, batch_size):
    # estimates (reproduce's est_seconds) read kind.rows without building data; the feed must agree
    import torch

    cfg = RunConfig().replace(**SMALL[name], batch_size=batch_size)
    kind = kind_of(cfg.task.task)
    feed = kind.feed(kind.data(cfg), cfg, torch.device("cpu"))
    x, _ = feed.train_batch(0)
    assert kind.rows(cfg) == feed.batch == x.shape[0]
