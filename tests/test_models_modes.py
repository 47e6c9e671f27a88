import doctest

import pytest
from torch import nn

from radgrok.models import modes
from radgrok.models.modes import eval_mode


def test_doctest():
    assert doctest.testmod(modes).failed == 0


@pytest.mark.parametrize("training", [True, False])
def test_the_mode_comes_back_also_when_the_block_raises(training):
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)).train(training)
    with pytest.raises(RuntimeError), eval_mode(m):
        assert not m.training and not m[1].training
        raise RuntimeError("an evaluation that fails")
    assert m.training is training and m[1].training is training
