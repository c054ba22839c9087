"""fedrecon.torch: operators as autograd functions whose backward is the exact adjoint.

Skipped, with the reason, where PyTorch is not installed; in CI ``.ci/python-tests`` installs it
(``FEDRECON_INSTALL_TORCH=1``) and sets ``FEDRECON_REQUIRE_TORCH=1``, which turns the skip into a
failure.

Tolerances (float32): the finite-difference checks use ``torch.autograd.gradcheck`` with
``eps = 1e-2``, ``atol = 1e-2``, ``rtol = 1e-2``; for a linear map the central difference is exact
up to rounding, so the error is ≈ 1e-7·‖Ax‖/eps ≈ 1e-4 here and a wrong adjoint (e.g. the
transpose of another geometry) fails by O(1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("FEDRECON_REQUIRE_TORCH") == "1":
    import torch  # CI installs it: a missing torch is a failure there, not a skip
else:
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed; the fedrecon.torch tests need it"
    )

import fedrecon.torch as ft  # noqa: E402
from fedrecon import ct, mri  # noqa: E402

GRADCHECK = dict(eps=1e-2, atol=1e-2, rtol=1e-2, nondet_tol=0.0)
# gradcheck warns about float32 inputs; the tolerances above are chosen for float32
pytestmark = pytest.mark.filterwarnings("ignore:Input #0 requires gradient and is not a double")


def test_projector_gradcheck_and_adjoint_mode():
    op = ct.Projector(size=6, angles=5, detectors=9)
    x = torch.rand(6, 6, dtype=torch.float32, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ft.apply(op, t), (x,), **GRADCHECK)
    y = torch.rand(5, 9, dtype=torch.float32, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ft.apply(op, t, adjoint=True), (y,), **GRADCHECK)


def test_gradcheck_fails_for_a_wrong_adjoint():
    op = ct.Projector(size=6, angles=5, detectors=9)
    other = ct.Projector(size=6, angles=5, detectors=9, detector_offset=1.0)

    class Wrong:
        dtype = op.dtype
        forward = staticmethod(op.forward)
        adjoint = staticmethod(other.adjoint)

    x = torch.rand(6, 6, dtype=torch.float32, requires_grad=True)
    from torch.autograd.gradcheck import GradcheckError

    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(lambda t: ft.apply(Wrong(), t), (x,), **GRADCHECK)


def test_least_squares_gradient_is_a_transpose_of_the_residual():
    op = ct.Projector(size=16, beam="fan", angles=12, sod=40.0, sdd=80.0)
    rng = np.random.default_rng(0)
    x0 = rng.random((2,) + op.shape_in, dtype=np.float32)
    y = rng.random((2,) + op.shape_out, dtype=np.float32)
    x = torch.from_numpy(x0.copy()).requires_grad_()
    loss = 0.5 * ((ft.apply(op, x) - torch.from_numpy(y)) ** 2).sum()
    loss.backward()
    want = op.adjoint(op.forward(x0) - y)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_nufft_complex_and_real_views():
    rng = np.random.default_rng(1)
    k = (rng.random((30, 2)) - 0.5).astype(np.float32)
    op = mri.Nufft(k, size=6)
    z = torch.randn(6, 6, dtype=torch.complex64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ft.apply(op, t), (z,), **GRADCHECK)
    # ∇ of ½‖Ax − y‖² is Aᴴ(Ax − y) (PyTorch's conjugate-Wirtinger convention)
    y = (rng.standard_normal(30) + 1j * rng.standard_normal(30)).astype(np.complex64)
    x0 = (rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))).astype(np.complex64)
    x = torch.from_numpy(x0.copy()).requires_grad_()
    (0.5 * (ft.apply(op, x) - torch.from_numpy(y)).abs().pow(2).sum()).backward()
    want = op.adjoint(op.forward(x0) - y)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    # a float32 real view (..., 2) in gives a real view out, with the same gradient
    xr = torch.view_as_real(torch.from_numpy(x0.copy())).clone().requires_grad_()
    out = ft.apply(op, xr)
    assert out.dtype == torch.float32 and out.shape == (30, 2)
    (0.5 * (out - torch.view_as_real(torch.from_numpy(y))).pow(2).sum()).backward()
    np.testing.assert_allclose(torch.view_as_complex(xr.grad).numpy(), want, rtol=1e-5,
                               atol=1e-5 * np.abs(want).max())


def test_sense_batch_gradient():
    rng = np.random.default_rng(2)
    maps = (rng.standard_normal((2, 8, 8)) + 1j * rng.standard_normal((2, 8, 8))).astype(np.complex64)
    op = mri.Sense(maps, mask=rng.random(8) < 0.5)
    x = torch.randn(3, 8, 8, dtype=torch.complex64, requires_grad=True)
    out = ft.apply(op, x)
    assert out.shape == (3, 2, 8, 8)
    g = torch.randn_like(out)
    out.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), op.adjoint(g.numpy()), rtol=1e-6, atol=1e-6)


def test_errors():
    op = ct.Projector(size=6, angles=5)
    with pytest.raises(ValueError, match="real"):
        ft.apply(op, torch.zeros(6, 6, dtype=torch.complex64))
    with pytest.raises(ValueError, match="Tensor"):
        ft.apply(op, np.zeros((6, 6), np.float32))
    nufft = mri.Nufft(np.zeros((4, 2), np.float32), size=6)
    with pytest.raises(ValueError, match="real views"):
        ft.apply(nufft, torch.zeros(6, 6))
