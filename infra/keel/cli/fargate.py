"""The task sizes Fargate accepts, so a bad --cpu/--memory fails here and not after RunTask."""

from __future__ import annotations

from .errors import UsageError

# cpu units -> (lowest, highest, step) memory in MiB, from the Fargate task size table.
SIZES = {
    256: (512, 2048, None),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
_SMALLEST_MEMORY = {256: (512, 1024, 2048)}


def memory_choices(cpu: int) -> list[int]:
    if cpu in _SMALLEST_MEMORY:
        return list(_SMALLEST_MEMORY[cpu])
    low, high, step = SIZES[cpu]
    return list(range(low, high + 1, step))


def validate(cpu: int | None, memory: int | None) -> None:
    """Raise a UsageError naming the valid values unless (cpu, memory) is a Fargate task size."""
    if cpu is None and memory is None:
        return
    if cpu is None or memory is None:
        raise UsageError("--cpu and --memory go together", hint="give both, e.g. --cpu 1024 --memory 2048")
    if cpu not in SIZES:
        raise UsageError(
            f"--cpu {cpu} is not a Fargate size", hint=f"use one of {', '.join(str(c) for c in SIZES)}"
        )
    choices = memory_choices(cpu)
    if memory not in choices:
        low, high, _ = SIZES[cpu]
        listed = ", ".join(str(m) for m in choices) if len(choices) <= 8 else f"{low} to {high} in steps of {choices[1] - choices[0]}"
        raise UsageError(f"--memory {memory} does not fit --cpu {cpu} on Fargate", hint=f"with --cpu {cpu} use --memory {listed}")
