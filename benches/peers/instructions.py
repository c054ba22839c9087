"""Instruction counts of a whole process under valgrind's callgrind (`Collected : N`).

Wall time on a shared 2-core machine moves with whatever else runs; the number of instructions a
process executes does not (the same total for the same binary, inputs and environment, whatever
the load). Callgrind runs the program about 50x slower and serialises its threads, so counts are
taken once per configuration, and a multi-threaded count includes the threads' overhead.
`perf stat -e instructions` would be faster but is not supported on these virtual machines.
"""

import re
import subprocess


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


def marginal(make_cmd, env=None, k0: int = 1, k1: int = 2) -> float:
    """Instructions of one repetition of an operation, without the process's set-up:
    `(count(make_cmd(k1)) − count(make_cmd(k0))) / (k1 − k0)` for a command that runs the
    operation `k` times (`--repeat k` of our CLI, or a peer's loop in a Python snippet)."""
    return (count(make_cmd(k1), env) - count(make_cmd(k0), env)) / (k1 - k0)


def python_loop(python: str, setup: str, op: str):
    """`make_cmd` for `marginal`: a Python process that runs `setup`, then `op` k times."""
    def make(k: int):
        return [python, "-c", f"{setup}\nfor _ in range({k}):\n    {op}\n"]
    return make
