"""Instruction counts of a whole process under valgrind's callgrind (`Collected : N`).

Wall time on a shared 2-core machine moves with whatever else runs; the number of instructions a
process executes does not (the same total for the same binary, inputs and environment, whatever
the load). Callgrind runs the program about 50x slower and serialises its threads, so counts are
taken once per configuration, and a multi-threaded count includes the threads' overhead.
`perf stat -e instructions` would be faster but is not supported on these virtual machines.
"""

import re
import shutil
import subprocess


def available() -> bool:
    return shutil.which("valgrind") is not None


def count(cmd, env=None, cwd=None) -> int:
    """Instructions executed by `cmd` (all threads, children not followed)."""
    p = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        env=env, cwd=cwd, capture_output=True, text=True,
    )
    if p.returncode != 0:
        raise RuntimeError(f"valgrind failed ({p.returncode}) on {' '.join(cmd)}:\n{p.stderr[-2000:]}")
    m = re.findall(r"Collected\s*:\s*(\d+)", p.stderr)
    if not m:
        raise RuntimeError(f"no 'Collected' line from callgrind on {' '.join(cmd)}")
    return int(m[-1])
