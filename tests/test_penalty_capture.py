"""radgrok.penalty.capture: what a Capture keeps, what it replaces, and how long its hooks live."""

import pytest
import torch
from torch import nn

from radgrok.penalty import Capture


def model(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=inplace), nn.Linear(4, 2))


def hooks(m: nn.Module) -> int:
    return sum(len(x._forward_hooks) + len(x._forward_pre_hooks) for x in m.modules())


def test_keeps_every_call_and_removes_its_hooks_at_the_end_of_the_block():
    m, x = model(), torch.randn(5, 3)
    with Capture(m, ["0", "2"]) as cap:
        m(x)
        m(x)  # without per_forward both forwards are kept
        assert hooks(m) == 2
    assert hooks(m) == 0
    assert [len(cap.seen[s]) for s in ("0", "2")] == [2, 2]
    torch.testing.assert_close(cap.seen["0"][0], m[0](x))


def test_a_copy_survives_an_in_place_op_after_the_site_and_the_output_itself_does_not():
    m, x = model(inplace=True), torch.randn(64, 3)
    z = m[0](x).detach()
    assert (z < 0).any()
    for copy, want_negative in ((True, True), (False, False)):
        with Capture(m, ["0"], copy=copy) as cap:
            m(x)
        assert bool((cap.seen["0"][0] < 0).any()) == want_negative  # ReLU(inplace) rewrote the output


def test_replace_changes_what_the_network_sees_and_keeps_the_raw_output():
    m, x = model(), torch.randn(5, 3)
    with Capture(m, ["0"], replace=lambda h: torch.zeros_like(h)) as cap:
        out = m(x)
    torch.testing.assert_close(out, m[2](torch.zeros(5, 4)))
    torch.testing.assert_close(cap.seen["0"][0], m[0](x))


def test_per_forward_keeps_the_latest_forward_and_seal_stops_keeping_until_it():
    m = model()
    cap = Capture(m, ["0"], per_forward=True)
    m(torch.randn(5, 3))
    m(torch.randn(7, 3))
    assert [h.shape[0] for h in cap.seen["0"]] == [7]
    cap.seal()
    m[0](torch.randn(2, 3))  # a sub-module call after seal(): not kept
    assert [h.shape[0] for h in cap.seen["0"]] == [7]
    m(torch.randn(3, 3))  # the next forward of the model clears and keeps again
    assert [h.shape[0] for h in cap.seen["0"]] == [3]
    cap.remove()
    assert hooks(m) == 0 and cap.tensors() == []


def test_unknown_sites_are_named():
    with pytest.raises(ValueError, match="nosuch"):
        Capture(model(), ["0", "nosuch"])
    with pytest.raises(ValueError, match="at least one"):
        Capture(model(), [])
