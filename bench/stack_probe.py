"""`python -m bench.stack_probe STACK`: evaluate one stack under mocks and print facts as JSON.

Run in a fresh interpreter per stack so Pulumi's process-wide state never leaks between
stacks, and so the time includes nothing but this stack's evaluation (imports timed apart).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter


def first(items: list[dict], default: dict | None = None) -> dict:
    return items[0] if items else (default or {})


def web_deploy_settings(evaluation) -> dict:
    """The settings that decide how long a rolling deploy of web takes, as the stack sets them."""
    groups = [r.plain_inputs for r in evaluation.by_type("aws:lb/targetGroup:TargetGroup")]
    services = [r.plain_inputs for r in evaluation.by_type("aws:ecs/service:Service")]
    web_service = first([s for s in services if "web" in str(s.get("name", ""))], first(services))
    group = first(groups)
    check = group.get("healthCheck") or {}
    web_container = evaluation.container_definitions().get("web", {})
    return {
        "health_check_path": check.get("path"),
        "interval_s": check.get("interval"),
        "timeout_s": check.get("timeout"),
        "healthy_threshold": check.get("healthyThreshold"),
        "unhealthy_threshold": check.get("unhealthyThreshold"),
        "deregistration_delay_s": group.get("deregistrationDelay"),
        "grace_period_s": web_service.get("healthCheckGracePeriodSeconds"),
        "min_healthy_percent": web_service.get("deploymentMinimumHealthyPercent"),
        "max_percent": web_service.get("deploymentMaximumPercent"),
        "desired_count": web_service.get("desiredCount"),
        "stop_timeout_s": web_container.get("stopTimeout"),
    }


def main() -> int:
    stack = sys.argv[1]
    started = time.perf_counter()
    from keel.evaluate import evaluate_stack

    imported = time.perf_counter()
    evaluation = evaluate_stack(stack)
    finished = time.perf_counter()
    custom = [r for r in evaluation.resources if r.custom]
    print(json.dumps({
        "stack": stack,
        "import_s": imported - started,
        "evaluate_s": finished - imported,
        "resources": len(custom),
        "components": len(evaluation.resources) - len(custom),
        "by_type": dict(Counter(r.type for r in custom).most_common()),
        "warnings": evaluation.warnings,
        "web_deploy": web_deploy_settings(evaluation),
    }, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
