"""`keel cost`: the evaluated stacks priced with the dated table, against a hand calculation from the same
table, and the docs' table kept equal to what the command prints."""

from __future__ import annotations

import io
import json

import pytest
from keel import cost
from keel.cli import main
from keel.cli.context import Context
from keel.evaluate import evaluate_stack, repo_root

from .conftest import evaluated

HOURS = 730


def p(region: str = "eu-west-1") -> dict:
    return cost.price_table()["regions"][region]


def task(vcpu: float, gb: float, region: str = "eu-west-1", arch: str = "x86_64") -> float:
    rate = p(region)["fargate"][arch]
    return (vcpu * rate["vcpu_hour"] + gb * rate["gb_hour"]) * HOURS


def alb(region="eu-west-1") -> float:
    return (p(region)["alb_hour"] + p(region)["alb_lcu_hour"]) * HOURS


def ipv4(n: int) -> float:
    return n * 0.005 * HOURS


def cache_node(node: str) -> float:
    return p()["elasticache_hour"][node] * 0.8 * HOURS  # Valkey


# Hand calculations from the same table: the big lines only, monitoring as ~30 alarms and a dashboard.
MONITORING = 30 * 0.1 + 3 + 7 * 0.3
HAND = {
    "dev": task(.25, .5) * 2 + task(.25, .5) * (0.5 + 0.5 * 0.3)  # worker: half on Spot at 70 % off
    + alb() + ipv4(2 + 3) + p()["rds_postgres_hour"]["db.t4g.micro"] * HOURS + 20 * p()["rds_gp3_gb_month"]
    + cache_node("cache.t4g.micro") + 5 * 0.4 + MONITORING,
    "staging": task(.25, .5) + task(.5, 1) * 2 + alb() + p()["nat_hour"] * HOURS + ipv4(1 + 2)
    + p()["rds_postgres_hour"]["db.t4g.small"] * HOURS + 20 * p()["rds_gp3_gb_month"]
    + cache_node("cache.t4g.small") + 5 * 0.4 + MONITORING,
    "prod": task(.25, .5) + task(1, 2) * 4 + alb() + 3 * p()["nat_hour"] * HOURS + ipv4(3 + 3)
    + 2 * (p()["rds_postgres_hour"]["db.m7g.large"] * HOURS + 50 * p()["rds_gp3_gb_month"])
    + 2 * cache_node("cache.m7g.large") + 4 * 3 * p()["interface_endpoint_az_hour"] * HOURS + 1 + 10
    + 5 * 0.4 + MONITORING,
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_preset_is_within_15_percent_of_a_hand_calculation(stack):
    computed = cost.total(cost.monthly_cost(evaluated(stack)))
    assert abs(computed - HAND[stack]) <= 0.15 * HAND[stack], (stack, computed, HAND[stack])


def test_the_price_table_states_its_source_and_date_for_every_documented_region():
    table = cost.price_table()
    assert table["source"].startswith("AWS public on-demand price lists") and table["date"] == "2026-12-07"
    assert set(table["regions"]) >= {"us-east-1", "eu-west-1", "eu-central-1"}
    keys = {region: set(prices) for region, prices in table["regions"].items()}
    assert len({frozenset(k) for k in keys.values()}) == 1  # every region prices the same things


def test_the_docs_tables_are_what_keel_cost_prints():
    generated = cost.markdown_table({s: evaluated(s) for s in ("dev", "staging", "prod")})
    for page in ("cost.md", "stack-config.md"):
        text = (repo_root() / "docs" / page).read_text()
        start, end = text.index(cost.MARKERS[0]), text.index(cost.MARKERS[1]) + len(cost.MARKERS[1])
        assert text[start:end] == generated, f"regenerate docs/{page}: keel cost --markdown"


def test_spot_architecture_and_multi_az_move_the_price_the_right_way():
    staging = cost.monthly_cost(evaluated("staging"))
    assert cost.spot_share([{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                            {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 3}], 5) == 3
    assert cost.spot_share(None, 5) == 0
    more_workers = cost.monthly_cost(evaluate_stack("staging", overrides={"keel:worker": {"count": 2}}))
    worker = {line.item: line.monthly for line in more_workers}["Fargate keel-staging-worker"]
    # the second worker is 3/4 on Spot (base 1 on-demand, then 1:3)
    assert worker == pytest.approx(task(.5, 1) * (1 + 0.25 + 0.75 * 0.3))
    arm = cost.monthly_cost(evaluate_stack("staging", overrides={"keel:architecture": "arm64",
                                                                 "keel:worker": {"spot": 0}}))
    web = {line.item: line.monthly for line in arm}["Fargate keel-staging-web"]
    assert web == pytest.approx(task(.5, 1, arch="arm64")) and web < task(.5, 1)
    single = cost.total(cost.monthly_cost(evaluate_stack("prod", overrides={"keel:dbMultiAz": "false"})))
    assert cost.total(cost.monthly_cost(evaluated("prod"))) - single == pytest.approx(
        p()["rds_postgres_hour"]["db.m7g.large"] * HOURS + 50 * p()["rds_gp3_gb_month"])
    assert cost.total(staging) < cost.total(cost.monthly_cost(evaluated("prod")))


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["cost", *args], Context(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_keel_cost_prints_lines_and_a_total_and_takes_set():
    code, out, _ = run_cli("--stack", "dev", "--json")
    document = json.loads(out)
    assert code == 0 and document["region"] == "eu-west-1" and document["date"] == "2026-12-07"
    assert document["total"] == pytest.approx(sum(line["monthly"] for line in document["lines"]), abs=0.05)
    code, out, _ = run_cli("--stack", "dev", "--set", "keel:natGateways=single")
    assert code == 0 and "NAT gateways" in out and out.splitlines()[-2].startswith("total")


def test_keel_cost_names_a_region_without_prices_and_a_bad_setting():
    code, _, err = run_cli("--stack", "dev", "--region", "ap-south-1")
    assert code == 2 and "no prices for region 'ap-south-1'" in err
    code, _, err = run_cli("--stack", "dev", "--set", "keel:architecture=arm64")
    assert code == 2 and "Fargate Spot runs only X86_64" in err


def test_the_readme_quotes_the_generated_eu_west_1_totals():
    readme = " ".join((repo_root() / "README.md").read_text().split())
    totals = {s: f"{cost.total(cost.monthly_cost(evaluated(s), 'eu-west-1')):,.0f}" for s in ("dev", "staging", "prod")}
    assert (f"A dev stack costs about {totals['dev']} USD a month, staging {totals['staging']}, prod {totals['prod']} "
            "in eu-west-1") in readme
