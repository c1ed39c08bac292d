"""`keel cost --stack NAME [--set KEY=VALUE] [--region R]`: what the stack costs per month, offline.

Evaluates the stack's program under Pulumi mocks with its committed Pulumi.<stack>.yaml (as `keel check`
does, --set included) and prices the resulting resources with the dated table in keel/data/prices.json
(keel.cost). `--markdown` prints the docs' table for the committed stacks (docs/cost.md).
"""

from __future__ import annotations

import argparse
import json

from keel import cost, evaluate

from .check import ConfigErrors, _Secret, _Set, evaluated, parse_overrides
from .errors import UsageError

STACKS = ("dev", "staging", "prod")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cost", help="what a stack costs per month, from its resources (offline, Pulumi mocks)",
        description="Evaluate the stack's program under Pulumi mocks and price every resource that runs all month "
        "with the dated price table (keel/data/prices.json). Traffic-driven charges are not counted.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml")
    target.add_argument("--markdown", action="store_true", help="print the cost table of docs/cost.md")
    parser.add_argument("--set", action=_Set, nargs="?", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="set a config value for this estimate only, as in keel check: "
                        "--set keel:dbMultiAz=false, --set keel:worker.spot=3")
    parser.add_argument("--secret", action=_Secret, metavar="KEY=VALUE", dest="overrides",
                        help="the same for a secret value (as in keel check)")
    parser.add_argument("--region", help="price in another region of the table (default: the stack's aws:region)")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, context) -> int:
    if args.markdown:
        context.out(cost.markdown_table({s: evaluate.evaluate_stack(s) for s in STACKS}))
        return 0
    plain, secret = parse_overrides(args.overrides)
    try:
        evaluation = evaluated(args.stack, plain, secret)
    except ConfigErrors as error:
        for message in error.messages:
            context.err(f"keel: {message}")
        context.err(f"keel: {error.hint}")
        return error.exit_code
    region = args.region or evaluation.config.get("aws:region", "us-east-1")
    try:
        lines = cost.monthly_cost(evaluation, region)
    except cost.UnknownPrice as error:
        raise UsageError(str(error.args[0]), "add the price to keel/data/prices.json (with its source) or pass "
                         "--region with one of the table's regions") from error
    if args.json:
        context.out(json.dumps({"stack": args.stack, "region": region, "date": cost.price_table()["date"],
                                "total": round(cost.total(lines), 2),
                                "lines": [{"item": x.item, "detail": x.detail, "monthly": round(x.monthly, 2)}
                                          for x in lines]}, indent=2))
    else:
        context.out(cost.render_table(lines, args.stack, region))
    return 0
