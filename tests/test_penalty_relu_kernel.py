"""radgrok.penalty.relu_kernel: the compiled ReLU-and-penalty backward equals torch's two passes
bit for bit, in place or not; without a compiler the torch fallback gives the same numbers."""

import pytest
import torch

from radgrok.penalty import relu_kernel


def reference(grad, z, coef):
    c = coef.unsqueeze(-1) if coef.dim() else coef
    return torch.ops.aten.threshold_backward(grad, z, 0).addcmul_(z, c)


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """relu_kernel as if never loaded, with its cache in tmp_path."""
    monkeypatch.setenv("RADGROK_CACHE", str(tmp_path))
    monkeypatch.setattr(relu_kernel, "_tried", False)
    monkeypatch.setattr(relu_kernel, "_lib", None)
    return tmp_path


def test_the_kernel_is_built_and_used_here(fresh):
    # CI and this project's machine have a C compiler: the fast path must not silently fall back
    assert relu_kernel.status().startswith("compiled kernel"), relu_kernel.status()
    assert len(list(fresh.glob("relu_gate-*.so"))) == 1
    assert not [p for p in fresh.iterdir() if not p.name.startswith("relu_gate-")]  # no temp file left


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(37, 64), (5, 3, 17), (1, 8)])
@pytest.mark.parametrize("per_row", [True, False])
@pytest.mark.parametrize("in_place", [True, False])
def test_kernel_equals_threshold_backward_then_addcmul_bit_for_bit(dtype, shape, per_row, in_place):
    torch.manual_seed(0)
    z, grad = torch.randn(shape, dtype=dtype), torch.randn(shape, dtype=dtype)
    z.view(-1)[:5] = 0.0  # the ReLU's kink: no gradient through it, as threshold_backward
    coef = torch.randn(shape[:-1], dtype=dtype) if per_row else torch.tensor(0.37, dtype=dtype)
    want = reference(grad, z, coef)
    out = grad if in_place else torch.empty_like(grad)
    got = relu_kernel.relu_gate(grad, z, coef, out)
    assert got is out
    assert torch.equal(got, want)


def test_inputs_the_kernel_does_not_take_go_through_torch_with_the_same_values():
    torch.manual_seed(1)
    z, grad = torch.randn(16, 12).t(), torch.randn(12, 16)  # z not contiguous
    coef = torch.randn(12)
    torch.testing.assert_close(relu_kernel.relu_gate(grad, z, coef, torch.empty(12, 16)), reference(grad, z, coef),
                               rtol=0, atol=0)
    half = torch.randn(4, 8, dtype=torch.bfloat16)  # a dtype without a kernel
    c = torch.tensor(0.5, dtype=torch.bfloat16)
    assert torch.equal(relu_kernel.relu_gate(half, half, c, torch.empty_like(half)), reference(half, half, c))


@pytest.mark.parametrize("env,why", [({"RADGROK_RELU_KERNEL": "0"}, "disabled by RADGROK_RELU_KERNEL=0"),
                                     ({"CC": "/nonexistent/cc"}, "cannot build with '/nonexistent/cc'")])
def test_without_the_kernel_the_fallback_gives_the_same_numbers(fresh, monkeypatch, env, why):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert relu_kernel.status().startswith(why), relu_kernel.status()
    torch.manual_seed(2)
    z, grad, coef = torch.randn(9, 33), torch.randn(9, 33), torch.randn(9)
    want = reference(grad, z, coef)
    assert torch.equal(relu_kernel.relu_gate(grad, z, coef, grad), want)
    assert not list(fresh.glob("*.so"))
