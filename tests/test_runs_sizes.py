import doctest

import pytest

from radgrok.runs import sizes
from radgrok.runs.sizes import is_prime, pair_count, train_count, trained_count, val_count
from radgrok.tasks.modular import OPERATIONS, make_modular


@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("p,frac", [(97, 0.5), (97, 0.3), (11, 0.37), (5, 0.01), (5, 0.99), (59, 0.6)])
def test_counts_are_the_split_make_modular_draws(op, p, frac):
    data = make_modular(op, p, frac, split_seed=0)
    assert pair_count(op, p) == data.x.shape[0]
    assert train_count(op, p, frac) == data.train_idx.numel()


@pytest.mark.parametrize("val_frac", [0.0, 0.1, 0.33])
def test_trained_count_is_the_rows_a_run_trains_on(val_frac):
    for op, p, frac in (("add", 97, 0.5), ("div", 13, 0.37)):
        data = make_modular(op, p, frac, split_seed=1, val_frac=val_frac)
        assert trained_count(op, p, frac, val_frac) == data.train_idx.numel()
        assert val_count(train_count(op, p, frac), val_frac) == (0 if data.val_idx is None else data.val_idx.numel())


def test_is_prime_against_trial_division():
    assert [n for n in range(60) if is_prime(n)] == [n for n in range(2, 60) if all(n % k for k in range(2, n))]


def test_the_examples_in_the_docstrings_hold():
    assert doctest.testmod(sizes).failed == 0


def test_sizes_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, radgrok.runs.sizes; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
