"""1. Cold start: launch to the first 200 on /healthz, targets interleaved run by run."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench import harness
from bench.targets import Target

TIMEOUT = 60.0


def one_start(target: Target) -> float | None:
    """Seconds from launching the server to its first 200 on /healthz (None if it never came)."""
    started = time.monotonic()
    proc = target.start(f"cold-{target.name}")
    took = harness.wait_http_200(target.port, "/healthz", TIMEOUT, proc)
    total = None if took is None else time.monotonic() - started
    proc.stop()
    return total


def run(targets: list[Target], runs: int) -> dict:
    samples: dict[str, list[float | None]] = {t.name: [] for t in targets}
    for i in range(runs):
        # Rotate the order each run so no target always goes first (or right after the same one).
        for target in targets[i % len(targets):] + targets[:i % len(targets)]:
            samples[target.name].append(one_start(target))
    result = {"runs": runs, "targets": {}}
    for target in targets:
        ok = [s for s in samples[target.name] if s is not None]
        result["targets"][target.name] = {
            "label": target.label,
            "samples_s": samples[target.name],
            "failed_starts": len(samples[target.name]) - len(ok),
            "min_s": min(ok) if ok else None,
            "median_s": harness.median(ok) if ok else None,
        }
    return result


IMPORT_PROBE = """
import resource, sys, time
started = time.perf_counter()
import {module}
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
import json
print(json.dumps({{"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "modules": sorted({{name.split(".")[0] for name in sys.modules}})}}))
"""


def import_profile(target: Target, module: str) -> dict:
    """What importing the WSGI module costs (CPU seconds are steadier than wall time on a busy
    machine) and which top-level packages it loads."""
    env = target.env | {"PORT": "8000"}
    probe = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(module=module)], cwd=target.cwd, env=env,
                           capture_output=True, text=True, timeout=120)
    timed = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=target.cwd, env=env,
                           capture_output=True, text=True, timeout=120)
    if probe.returncode:
        return {"error": (probe.stderr.strip().splitlines() or ["?"])[-1]}
    facts_importers = importers(timed.stderr)
    cumulative: dict[str, int] = {}
    for line in timed.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            cumulative[name] = max(cumulative.get(name, 0), int(parts[1]))
    facts = json.loads(probe.stdout.strip().splitlines()[-1])
    facts["cumulative_ms"] = {name: us / 1000 for name, us in cumulative.items() if "." not in name}
    facts["importers"] = facts_importers
    return facts


APP_PACKAGES = ("config", "core", "documents")


def importers(importtime: str) -> dict[str, list[str]]:
    """For each watched heavy package, the chain of our own modules that first imported it.

    ``-X importtime`` prints each module after its imports, indented by nesting depth, so a
    module's importer is the next line printed at a smaller depth.
    """
    lines = []
    for line in importtime.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            raw = parts[2].rstrip()
            lines.append(((len(raw) - len(raw.lstrip())) // 2, raw.strip()))
    found: dict[str, list[str]] = {}
    for index, (depth, name) in enumerate(lines):
        top = name.split(".")[0]
        if top not in HEAVY_WATCH or top in found:
            continue
        chain, level = [], depth
        for later_depth, later in lines[index + 1:]:
            if later_depth < level:
                level = later_depth
                if later.split(".")[0] in APP_PACKAGES:
                    chain.append(later)
        found[top] = chain
    return found


HEAVY_WATCH = ("boto3", "botocore", "pulumi", "pulumi_aws", "celery", "kombu", "redis", "yaml")


def diagnose(ours: Target, baseline: Target) -> dict:
    """Top-level packages our web imports at start that the baseline does not, heaviest first."""
    mine = import_profile(ours, "config.wsgi")
    theirs = import_profile(baseline, "baseline.wsgi")
    if "error" in mine or "error" in theirs:
        return {"ours": mine, "startproject": theirs}
    extra = sorted(set(mine["modules"]) - set(theirs["modules"]),
                   key=lambda name: -mine["cumulative_ms"].get(name, 0))
    return {
        "ours_import_cpu_s": mine["cpu_s"], "startproject_import_cpu_s": theirs["cpu_s"],
        "ours_import_wall_s": mine["wall_s"], "startproject_import_wall_s": theirs["wall_s"],
        "ours_modules": len(mine["modules"]), "startproject_modules": len(theirs["modules"]),
        "extra_packages_ms": {name: round(mine["cumulative_ms"].get(name, 0), 1) for name in extra[:15]},
        "heavy_loaded_at_start": [name for name in HEAVY_WATCH if name in mine["modules"]],
        # e.g. {"boto3": ["documents.media", "documents.admin"]}: innermost app module first.
        "imported_by": {name: chain for name, chain in mine.get("importers", {}).items() if name in mine["modules"]},
    }
