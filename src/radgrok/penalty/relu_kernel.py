"""The one compiled piece of radgrok: a ReLU's backward and the radial penalty's gradient in one pass.

When a penalised output z goes straight into an ``nn.ReLU``, the gradient at z is
``relu'(z) * g + coef * z``. In torch that is two passes over (M, d) tensors (threshold_backward,
then addcmul), and the second pass is the whole of the penalty's cost on a bandwidth-bound CPU
step (``benchmarks/profile_penalty.py``). ``relu_gate.c`` does both in the pass the ReLU's backward
makes anyway. It is built on first use with the system C compiler (``$CC``, else ``cc``) into a
cache keyed by the source's hash, and loaded with ctypes: no torch headers, so the build takes
about a second. Without a compiler, or with ``RADGROK_RELU_KERNEL=0``, the same sum is computed
with torch ops (two passes, same values up to rounding); ``status()`` says which is in use and why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import torch

__all__ = ["relu_gate", "status", "cache_dir"]

_SOURCE = Path(__file__).with_name("relu_gate.c")
_FUNCS = {torch.float32: "relu_gate_f32", torch.float64: "relu_gate_f64"}
_lib: ctypes.CDLL | None = None
_why = "not built yet"
_tried = False


def cache_dir() -> Path:
    """Where built kernels live: ``$RADGROK_CACHE``, else ``$XDG_CACHE_HOME/radgrok``, else ``~/.cache/radgrok``."""
    if os.environ.get("RADGROK_CACHE"):
        return Path(os.environ["RADGROK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "radgrok"


def _cpu() -> str:
    """What the build is specific to: -march=native code must not run on another CPU sharing the cache."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), platform.processor())
    except OSError:
        return platform.machine() + platform.processor()


# -march=native and FMA contraction: torch's own CPU kernels are dispatched to the CPU at hand and
# contract a * b + c into one fused multiply-add where it has one, so this sum then rounds exactly
# as threshold_backward followed by addcmul does (tests compare the two bit for bit)
_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-shared", "-fPIC"]


def _build() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get("RADGROK_RELU_KERNEL", "1") == "0":
        return None, "disabled by RADGROK_RELU_KERNEL=0"
    try:
        src = _SOURCE.read_bytes()
    except OSError as e:
        return None, f"cannot read {_SOURCE}: {e.strerror or e}"
    cc = os.environ.get("CC", "cc")
    key = hashlib.sha256(b"\0".join([src, cc.encode(), " ".join(_FLAGS).encode(), _cpu().encode()])).hexdigest()[:16]
    lib = cache_dir() / f"relu_gate-{key}.so"
    if not lib.exists():
        tmp = None
        try:
            lib.parent.mkdir(parents=True, exist_ok=True)
            # build beside the target and rename: two processes building at once never load half a file
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib.parent)
            os.close(fd)
            # with OpenMP where the compiler has it; a serial loop otherwise
            for extra in (["-fopenmp"], []):
                done = subprocess.run([cc, *extra, *_FLAGS, str(_SOURCE), "-o", tmp], capture_output=True, text=True)
                if done.returncode == 0:
                    break
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or ["no message"])[0]
                return None, f"{cc} failed: {first}"
            os.replace(tmp, lib)
            tmp = None
        except OSError as e:  # no compiler, or the cache is not writable
            return None, f"cannot build with {cc!r} in {lib.parent}: {e.strerror or e}"
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    try:
        handle = ctypes.CDLL(str(lib))
    except OSError as e:
        return None, f"cannot load {lib}: {e}"
    for name in _FUNCS.values():
        fn = getattr(handle, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                               ctypes.c_int]
    return handle, f"compiled kernel {lib}"


def _kernel() -> ctypes.CDLL | None:
    global _lib, _why, _tried
    if not _tried:
        _tried = True
        _lib, _why = _build()
    return _lib


def status() -> str:
    """Which path ``relu_gate`` takes: the compiled kernel (and its file) or the torch fallback, and why."""
    _kernel()
    return _why


def relu_gate(grad: torch.Tensor, z: torch.Tensor, coef: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out = relu'(z) * grad + coef * z``, returned; ``coef`` has one value per row of z
    (shape ``z.shape[:-1]``, or that with a trailing 1 as ``gate.coefficient`` gives it) or is 0-d.

    ``out`` may be ``grad`` itself. The compiled kernel takes contiguous CPU float32/float64
    tensors; anything else goes through torch ops.
    """
    lib = _kernel()
    fn = None if lib is None else _FUNCS.get(z.dtype)
    rows = z.numel() // z.shape[-1] if z.numel() else 0
    if (fn is None or z.device.type != "cpu" or not (grad.is_contiguous() and z.is_contiguous()
            and out.is_contiguous() and coef.is_contiguous()) or grad.dtype != z.dtype
            or out.dtype != z.dtype or coef.dtype != z.dtype or coef.numel() not in (1, rows)
            or grad.shape != z.shape or out.shape != z.shape or rows == 0):
        # two passes, both into out (which may be grad: each is elementwise)
        torch.ops.aten.threshold_backward.grad_input(grad, z, 0, grad_input=out)
        return out.addcmul_(z, coef.reshape(z.shape[:-1] + (1,)) if coef.dim() else coef)
    assert lib is not None
    getattr(lib, fn)(grad.data_ptr(), z.data_ptr(), coef.data_ptr(), 0 if coef.numel() == 1 else 1,
                     out.data_ptr(), rows, z.shape[-1], torch.get_num_threads())
    return out
