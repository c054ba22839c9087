"""The package as installed: the example script runs, stubs ship, torch stays optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fedrecon

HERE = Path(__file__).resolve().parent


def test_example_ct_projector_fbp_cgls_runs():
    p = subprocess.run(
        [sys.executable, str(HERE.parent / "examples" / "ct_projector_fbp_cgls.py"), "--size", "64",
         "--angles", "90", "--iters", "15"],
        capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "cgls x15 (library)" in p.stdout and "PSNR" in p.stdout


def test_typing_files_ship_with_the_package():
    pkg = Path(fedrecon.__file__).parent
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "_native.pyi").read_text()
    for name in ("class CtProjector", "def ct_recon", "class Nufft", "class Sense", "def mri_recon",
                 "def read_fastmri", "def write_cfl"):
        assert name in stub, name


def test_import_fedrecon_does_not_import_torch():
    code = "import sys, fedrecon; fedrecon.ct, fedrecon.mri, fedrecon.io; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
