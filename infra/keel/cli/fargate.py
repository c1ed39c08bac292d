"""Checks --cpu/--memory against the Fargate task sizes, so a bad pair fails before RunTask."""

from __future__ import annotations

from keel.stack_config import FARGATE_MEMORY

from .errors import UsageError


def validate(cpu: int | None, memory: int | None) -> None:
    """Raise a UsageError naming the valid values unless (cpu, memory) is a Fargate task size."""
    if cpu is None and memory is None:
        return
    if cpu is None or memory is None:
        raise UsageError("--cpu and --memory go together", hint="give both, e.g. --cpu 1024 --memory 2048")
    if cpu not in FARGATE_MEMORY:
        raise UsageError(
            f"--cpu {cpu} is not a Fargate size", hint=f"use one of {', '.join(str(c) for c in FARGATE_MEMORY)}"
        )
    choices = FARGATE_MEMORY[cpu]
    if memory not in choices:
        listed = (", ".join(str(m) for m in choices) if len(choices) <= 8
                  else f"{choices[0]} to {choices[-1]} in steps of {choices[1] - choices[0]}")
        raise UsageError(f"--memory {memory} does not fit --cpu {cpu} on Fargate", hint=f"with --cpu {cpu} use --memory {listed}")
