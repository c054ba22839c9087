#!/usr/bin/env python3
"""Copies a finished benches/fed/run.sh output into benches/fed/results/ (the tables, JSON and
figures the README quotes): <bench>.md (mean ± sd table), <bench>.json, <bench>.png (compare.png)
and claims.md. Usage: benches/fed/publish.py OUT"""
import shutil
import subprocess
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench")
dest = Path(__file__).resolve().parent / "results"
dest.mkdir(exist_ok=True)
for name in ["demo", "hetero-kernels", "hetero-physics", "hetero-anatomy"]:
    if not (out / name / "compare.md").exists():
        continue
    shutil.copyfile(out / name / "compare.md", dest / f"{name}.md")
    shutil.copyfile(out / f"{name}.json", dest / f"{name}.json")
    shutil.copyfile(out / name / "compare.png", dest / f"{name}.png")
claims = subprocess.run([sys.executable, str(Path(__file__).with_name("claims.py")), str(out)],
                        check=True, capture_output=True, text=True).stdout
(dest / "claims.md").write_text(claims)
print(f"published to {dest}")
