"""`keel logs`: the processes' CloudWatch log lines, interleaved across streams, newest last."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from keel import outputs as out

from . import stack
from .console import parse_duration, timestamp
from .context import Context
from .errors import KeelError

FOLLOW_POLL_SECONDS = 2.0
# CloudWatch can ingest an event after a later one is already visible; re-reading this much of
# the recent past on each poll (and dropping event ids already printed) keeps those late events.
LATE_ARRIVAL_MS = 30_000


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = stack.command_parser(
        subparsers,
        "logs",
        "print the processes' log lines (all of them, or one process type)",
        "Print the log lines of web, worker, beat and release (or one of them) from "
        "CloudWatch Logs, interleaved in time order, newest last.",
    )
    parser.add_argument("process", nargs="?", choices=out.PROCESSES, help="only this process type")
    parser.add_argument("--since", default="10m", metavar="AGE", help="how far back: 30s, 10m, 2h, 1d (default 10m)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    parser.add_argument(
        "--task", metavar="TASK_ID", help="only this task's lines (a `keel run` or release task; implies release)"
    )
    parser.set_defaults(func=command)


@dataclass(frozen=True)
class Source:
    """One process's log group, optionally narrowed to one task's stream."""

    process: str
    group: str
    streams: tuple[str, ...] = ()


def sources(args: argparse.Namespace, outputs: stack.StackOutputs) -> list[Source]:
    if args.task:
        process = args.process or "release"
        stream = outputs.log_stream(process, args.task)
        return [Source(process, outputs.log_group(process), (stream,))]
    processes = [args.process] if args.process else list(out.PROCESSES)
    return [Source(process, outputs.log_group(process)) for process in processes]


def command(args: argparse.Namespace, context: Context) -> int:
    since_seconds = parse_duration(args.since, "--since")
    outputs = stack.load(args, context)
    reader = LogReader(context.client("logs", outputs.region), sources(args, outputs))
    start_ms = int((context.wall_clock() - since_seconds) * 1000)
    printer = EventPrinter(context)
    printer.print_new(reader.fetch(start_ms))
    reader.check_groups(context)
    if not args.follow:
        return 0
    try:
        while True:
            context.sleep(FOLLOW_POLL_SECONDS)
            printer.print_new(reader.fetch(printer.resume_from(start_ms)))
    except KeyboardInterrupt:
        return 0


class LogReader:
    """FilterLogEvents over the chosen groups, merged into one time-ordered list."""

    def __init__(self, client: Any, chosen: list[Source]):
        self._client = client
        self._chosen = chosen
        self.missing: list[Source] = []

    def fetch(self, start_ms: int) -> list[dict[str, Any]]:
        """Every event since start_ms, each tagged with its process, oldest first."""
        self.missing = []
        events = []
        for source in self._chosen:
            for event in self._group_events(source, start_ms):
                events.append({**event, "process": source.process})
        events.sort(key=lambda event: (event["timestamp"], event.get("ingestionTime", 0)))
        return events

    def check_groups(self, context: Context) -> None:
        """An error when no chosen group exists; a note naming the ones that do not."""
        if not self.missing:
            return
        names = ", ".join(f"{source.group} ({source.process})" for source in self.missing)
        if len(self.missing) == len(self._chosen):
            raise KeelError(
                f"log group {names} does not exist" if len(self.missing) == 1 else f"no log group exists: {names}",
                hint="deploy the stack first (pulumi up), or check the region and AWS account you are using",
            )
        context.err(f"keel: note: no log group {names} yet; showing the others")

    def _group_events(self, source: Source, start_ms: int) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"logGroupName": source.group, "startTime": max(0, start_ms)}
        if source.streams:
            request["logStreamNames"] = list(source.streams)
        try:
            pages = self._client.get_paginator("filter_log_events").paginate(**request)
            return [event for page in pages for event in page.get("events", [])]
        except self._client.exceptions.ResourceNotFoundException:
            if not source.streams:  # a task's stream that is not there yet is simply empty
                self.missing.append(source)
            return []


class EventPrinter:
    """Prints each event once, so overlapping polls never repeat a line."""

    def __init__(self, context: Context):
        self._context = context
        self._printed: dict[str, int] = {}
        self._newest = 0

    def resume_from(self, start_ms: int) -> int:
        return max(start_ms, self._newest - LATE_ARRIVAL_MS)

    def print_new(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["eventId"] in self._printed:
                continue
            self._printed[event["eventId"]] = event["timestamp"]
            self._newest = max(self._newest, event["timestamp"])
            self._context.out(format_event(event))
        horizon = self._newest - LATE_ARRIVAL_MS
        self._printed = {key: ts for key, ts in self._printed.items() if ts >= horizon}


def format_event(event: dict[str, Any]) -> str:
    """`2026-01-01T10:00:00Z web[1a2b3c4d] message`: time, process type and task, like heroku logs."""
    task = event.get("logStreamName", "").rsplit("/", 1)[-1][:8]
    return f"{timestamp(event['timestamp'])} {event['process']}[{task}] {event['message'].rstrip()}"
