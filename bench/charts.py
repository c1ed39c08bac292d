"""PNG charts for RESULTS.md (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"ours": "#1f77b4", "startproject": "#ff7f0e", "hello": "#2ca02c"}
LIGHT = {"ours": "#9ecae1", "startproject": "#fdd0a2", "hello": "#a1d99b"}


def colour(name: str) -> str:
    """A target's colour; its variants (``ours-no-recycle``...) in a lighter shade of it."""
    base = name.split("-", 1)[0]
    return COLOURS.get(name) or LIGHT.get(base, "#7f7f7f")


def cold_start(results: dict, path: Path) -> None:
    data = results["cold_start"]["targets"]
    names = list(data)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [data[n]["min_s"] or 0 for n in names], 0.4, label="min", color="#c6dbef")
    ax.bar([i + 0.2 for i in x], [data[n]["median_s"] or 0 for n in names], 0.4, label="median",
           color=[colour(n) for n in names])
    ax.set_xticks(list(x), [data[n]["label"] for n in names], fontsize=8)
    ax.set_ylabel("seconds to first 200 on /healthz")
    ax.set_title("Cold start (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput(results: dict, path: Path) -> None:
    data = results["throughput"]["targets"]
    views = (("healthz", "/healthz"), ("db", "users JSON (/db)"), ("documents", "documents list"))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, (view, title) in zip(axes, views, strict=True):
        names = [n for n in data if (data[n].get("summary") or {}).get(view)]
        cpu = [data[n]["summary"][view]["server_cpu_ms_per_request"] or 0 for n in names]
        rows = range(len(names))
        ax.barh(rows, cpu, color=[colour(n) for n in names])
        for row, name in zip(rows, names, strict=True):
            summary = data[name]["summary"][view]
            ax.annotate(f" {summary['server_cpu_ms_per_request']:.3f} ms, {summary['rps']:.0f}/s", (cpu[row], row),
                        va="center", fontsize=7)
        ax.set_yticks(list(rows), [data[n]["label"] for n in names], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, max(cpu or [1]) * 1.6)
        ax.set_title(f"{title}: server CPU ms per request (lower is better)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory(results: dict, path: Path) -> None:
    data = dict(results["throughput"]["memory"])
    labels = {n: e["label"] for n, e in results["throughput"]["targets"].items()}
    celery = ((results.get("tasks") or {}).get("memory") or {})
    for key, label in (("preloaded", "Celery worker, concurrency 2"), ("not_preloaded", "Celery, no preloading")):
        if celery.get(key):
            data[f"celery-{key}"], labels[f"celery-{key}"] = celery[key], label
    names = list(data)
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(names)))
    mains = [data[n]["main_pss_mib"] or 0 for n in names]
    children = [sum(data[n]["children_pss_mib"]) for n in names]
    rows = range(len(names))
    ax.barh(rows, mains, label="master / main process", color="#bdbdbd")
    ax.barh(rows, children, left=mains, label="workers / pool processes", color=[colour(n) for n in names])
    ax.set_yticks(list(rows), [labels[n] for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("PSS MiB (shared pages split between the processes that share them)")
    ax.set_title("Memory of each process tree", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def deploy(results: dict, path: Path) -> None:
    data = results["stack"]["deploy"]
    columns = [("AWS defaults", data["aws_defaults"]["model"])] + [
        (f"{name} (configured)", entry["model"]) for name, entry in data["stacks"].items()]
    phases = [("provisioning (assumed)", "provision_s", "#d9d9d9"),
              ("boot + first passing check", "first_passing_check_s", "#2ca02c"),
              ("deregistration delay", "deregistration_s", "#ff7f0e"),
              ("SIGTERM to exit", "sigterm_to_exit_s", "#1f77b4")]
    fig, ax = plt.subplots(figsize=(8, 0.7 + 0.6 * len(columns)))
    for row, (_, model) in enumerate(columns):
        left = 0.0
        for label, key, col in phases:
            width = model[key]
            ax.barh(row, width, left=left, color=col, label=label if row == 0 else None)
            left += width
        ax.annotate(f"{left:.0f} s", (left, row), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(range(len(columns)), [name for name, _ in columns], fontsize=8)
    ax.invert_yaxis()  # AWS defaults on top; the short configured bars leave room for the legend
    ax.set_xlim(0, max(model["total_s"] for _, model in columns) * 1.12)
    ax.set_xlabel("seconds")
    ax.set_title("One rolling deploy of web (model)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


CHARTS = (("cold_start.png", "cold_start", cold_start), ("throughput.png", "throughput", throughput),
          ("memory.png", "throughput", memory), ("deploy.png", "stack", deploy))


def draw_all(results: dict, out: Path) -> set[str]:
    """Draw every chart whose section has figures; the file names drawn."""
    drawn = set()
    for filename, section, draw in CHARTS:
        entry = results.get(section)
        if not entry or "error" in entry:
            continue
        try:
            draw(results, out / filename)
            drawn.add(filename)
        except (KeyError, TypeError, ValueError):
            continue
    return drawn
