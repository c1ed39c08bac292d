"""8. Stack: evaluation time and resource count per stack; a model of one rolling deploy of web.

The model follows the ECS sequence for replacing a task behind an ALB (deployment 100/200):
new tasks start (provisioning and image pull: an assumed constant, the same in both columns),
the app boots (our measured cold start), the first health check after boot passes (a newly
registered target needs one), then the old task is deregistered and ECS waits the
deregistration delay before SIGTERM, after which gunicorn exits (our measured exit time).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

from bench import harness, targets

STACKS = ("dev", "staging", "prod")
PROVISION_S = 30.0  # assumed Fargate task start plus image pull; the same in both models
AWS_DEFAULTS = {
    "health_check_path": "/", "interval_s": 30, "timeout_s": 5, "healthy_threshold": 5,
    "unhealthy_threshold": 2, "deregistration_delay_s": 300, "grace_period_s": 0,
    "min_healthy_percent": 100, "max_percent": 200, "stop_timeout_s": 30,
}


def probe(stack: str) -> dict:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "bench.stack_probe", stack], cwd=harness.REPO,
                         env=targets.base_env() | {"PYTHONPATH": str(harness.REPO)},
                         capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - started
    if out.returncode:
        lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
        return {"stack": stack, "error": lines[-1] if lines else f"exit {out.returncode}", "wall_s": wall}
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"wall_s": wall}


def deploy_model(settings: dict, boot_s: float, exit_s: float) -> dict:
    """Seconds for each phase of one rolling deploy of web, and the total."""
    interval = float(settings.get("interval_s") or AWS_DEFAULTS["interval_s"])
    unhealthy = int(settings.get("unhealthy_threshold") or AWS_DEFAULTS["unhealthy_threshold"])
    grace = float(settings.get("grace_period_s") or 0)
    dereg = float(settings["deregistration_delay_s"] if settings.get("deregistration_delay_s") is not None
                  else AWS_DEFAULTS["deregistration_delay_s"])
    # Checks start when the task is registered (as it starts); the first one after boot passes.
    healthy_after = math.ceil(boot_s / interval) * interval if boot_s > 0 else interval
    serving = PROVISION_S + healthy_after
    return {
        "provision_s": PROVISION_S,
        "boot_s": boot_s,
        "first_passing_check_s": healthy_after,
        "new_task_serving_s": serving,
        "deregistration_s": dereg,
        "sigterm_to_exit_s": exit_s,
        "total_s": serving + dereg + exit_s,
        # With no grace period, checks that fail while the app boots can mark the new task unhealthy.
        "killed_while_booting": grace < boot_s and interval * unhealthy < boot_s,
    }


def run(boot_s: float, exit_s: float, stacks: tuple[str, ...] = STACKS) -> dict:
    probes = {stack: probe(stack) for stack in stacks}
    models = {}
    for stack, facts in probes.items():
        if "web_deploy" in facts:
            models[stack] = {
                "configured": facts["web_deploy"],
                "model": deploy_model(facts["web_deploy"], boot_s, exit_s),
            }
    return {
        "stacks": probes,
        "deploy": {"boot_s": boot_s, "exit_s": exit_s, "provision_assumed_s": PROVISION_S,
                   "aws_defaults": {"configured": AWS_DEFAULTS, "model": deploy_model(AWS_DEFAULTS, boot_s, exit_s)},
                   "stacks": models},
    }
