import pytest

from radgrok.experiments.presets import get_preset
from radgrok.runs import config
from radgrok.runs.config import ConfigError, min_bytes, validate


def test_min_bytes_counts_weights_adam_state_data_and_activations():
    cfg = get_preset("paper-mlp")  # 2x512, P 97, full batch of 4,704 pairs
    params = 2 * 97 * 512 + 512 * 512 + 512 * 97
    assert min_bytes(cfg) == 16 * params + 24 * 97 * 97 + 4 * 4704 * 512 * 2
    assert min_bytes(cfg.replace(batch_size=256)) < min_bytes(cfg)
    assert min_bytes(get_preset("cpu-transformer")) > 0 and min_bytes(get_preset("cpu-charlm")) > 0


def test_sizes_beyond_the_free_memory_are_one_line_naming_the_sizes(monkeypatch):
    monkeypatch.setattr(config, "_available_bytes", lambda: 2**30)
    cfg = get_preset("cpu-mlp")
    validate(cfg)  # a few MB: fine
    with pytest.raises(ConfigError, match=r"p 97, width 20000, depth 2: the run needs at least 6.7 GiB .* 1.0 GiB"):
        validate(cfg.replace(width=20000))
    monkeypatch.setattr(config, "_available_bytes", lambda: None)  # no /proc/meminfo: nothing checked
    validate(cfg.replace(width=20000))
    # a GPU's memory is not this machine's: not checked here
    monkeypatch.setattr(config, "_available_bytes", lambda: 2**30)
    validate(cfg.replace(width=20000, device="cuda"))


def test_threads_are_bounded():
    cfg = get_preset("cpu-mlp")
    validate(cfg.replace(threads=config.MAX_THREADS))
    with pytest.raises(ConfigError, match=r"threads must be in \[0, 1024\]"):
        validate(cfg.replace(threads=config.MAX_THREADS + 1))


def test_batch_rows_is_full_batch_at_zero_or_beyond_the_data():
    from radgrok.runs.config import batch_rows

    assert [batch_rows(b, 100) for b in (0, 1, 64, 99, 100, 512)] == [100, 1, 64, 99, 100, 100]
