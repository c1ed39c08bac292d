"""Maintenance mode under mocks: `pulumi config set keel:maintenance true|full` and its allow list."""

from __future__ import annotations

import json

import pytest
from keel.components.function import RUNTIME
from keel.evaluate import evaluate_stack
from keel.stack_config import StackConfigError, load

from .conftest import evaluated

RULE = "aws:lb/listenerRule:ListenerRule"
LISTENER = "aws:lb/listener:Listener"


def serving_listener(ev):
    """The listener that answers users: HTTPS where there is one, else HTTP (dev)."""
    listeners = {r.name: r for r in ev.by_type(LISTENER)}
    return listeners.get("alb-https") or listeners["alb-http"]


def desired(ev, process):
    return next(r.inputs["desiredCount"] for r in ev.by_type("aws:ecs/service:Service")
                if r.inputs["name"].endswith(f"-{process}"))


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_maintenance_adds_one_rule_that_exempts_the_health_paths(stack):
    ev = evaluate_stack(stack, overrides={"keel:maintenance": "true"})

    rules = ev.by_type(RULE)
    assert len(rules) == 1
    (condition,) = rules[0].inputs["conditions"]
    assert sorted(condition["pathPattern"]["values"]) == ["/healthz", "/readyz"]
    assert rules[0].inputs["actions"][0]["type"] == "forward"
    assert rules[0].inputs["listenerArn"] == serving_listener(ev).arn
    # Everything else goes to the page's function: a Lambda target group, its one target, invocable by it alone.
    (action,) = serving_listener(ev).inputs["defaultActions"]
    (group,) = [r for r in ev.by_type("aws:lb/targetGroup:TargetGroup") if r.inputs.get("targetType") == "lambda"]
    assert action == {"type": "forward", "targetGroupArn": group.arn}
    function = ev.by_name("maintenance-page-fn")
    (attachment,) = ev.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    assert attachment.inputs == {"targetGroupArn": group.arn, "targetId": function.arn}
    assert attachment.waits_for(ev.by_name("maintenance-page-invoke"))
    permission = ev.by_name("maintenance-page-invoke").inputs
    assert permission["principal"] == "elasticloadbalancing.amazonaws.com" and permission["sourceArn"] == group.arn
    assert function.inputs["handler"] == "handler.handler" and function.inputs["runtime"] == RUNTIME
    # Its role writes to its own log group, which exists first with the stack's retention.
    (log_group,) = [r for r in ev.by_type("aws:cloudwatch/logGroup:LogGroup")
                    if r.inputs["name"] == f"/aws/lambda/{function.inputs['name']}"]
    assert log_group.inputs["retentionInDays"] > 0
    role_policy = ev.by_name("maintenance-role-logs").plain_inputs["policy"]
    assert json.loads(role_policy)["Statement"][0]["Resource"] == f"{log_group.arn}:*"
    # worker and beat keep running unless the mode is "full".
    assert desired(ev, "worker") >= 1 and desired(ev, "beat") == 1


def test_off_by_default_the_listener_forwards_to_web_and_there_is_no_rule(stack):
    assert stack.by_type(RULE) == []
    (action,) = serving_listener(stack).inputs["defaultActions"]
    assert action == {"type": "forward", "targetGroupArn": stack.by_name("alb-web").arn}


def test_the_allow_list_reaches_the_app_through_a_second_rule():
    ev = evaluate_stack("staging", overrides={"keel:maintenance": "true",
                                              "keel:maintenanceAllow": ["203.0.113.7/32", "198.51.100.0/24"]})
    rules = {r.name: r for r in ev.by_type(RULE)}
    allow = rules["alb-maintenance-allow"].inputs
    assert allow["conditions"][0]["sourceIp"]["values"] == ["203.0.113.7/32", "198.51.100.0/24"]
    assert allow["actions"][0]["type"] == "forward"
    assert {r.inputs["priority"] for r in rules.values()} == {1, 2}


def test_full_maintenance_stops_worker_and_beat_and_their_scaling():
    ev = evaluate_stack("prod", overrides={"keel:maintenance": "full"})
    assert desired(ev, "worker") == 0 and desired(ev, "beat") == 0
    assert desired(ev, "web") == evaluated("prod").by_name("svc-web").inputs["desiredCount"]
    targets = [r.inputs["resourceId"] for r in ev.by_type("aws:appautoscaling/target:Target")]
    assert targets and not any(str(t).endswith("-worker") for t in targets)


@pytest.mark.parametrize(("value", "fragment"), [
    ({"keel:maintenance": "yes"}, "keel:maintenance = 'yes' is invalid: allowed true, false or full"),
    ({"keel:maintenanceAllow": '["10.0.0.300/32"]'}, "keel:maintenanceAllow = "),
    ({"keel:maintenanceAllow": '["10.0.0.1/8"]'}, "keel:maintenanceAllow = "),
    ({"keel:maintenanceAllow": '["0.0.0.0/0"]'}, "a /0 lets everyone through"),
    ({"keel:maintenanceAllow": '["::/0"]'}, "a /0 lets everyone through"),
    ({"keel:maintenanceAllow": '["1.1.1.1/32", "1.1.1.2/32", "1.1.1.3/32", "1.1.1.4/32", "1.1.1.5/32", '
                               '"1.1.1.6/32"]'}, "a list of 1 to 5 CIDRs"),
])
def test_bad_maintenance_config_is_one_line_naming_the_key(value, fragment):
    with pytest.raises(StackConfigError) as caught:
        load({"aws:region": "eu-west-1", **value}, "dev")
    assert len(caught.value.messages) == 1 and fragment in caught.value.messages[0]


def test_off_the_page_and_its_function_are_gone(stack):
    assert not [r for r in stack.resources if "maintenance" in r.name]


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_maintenance_mode_passes_the_policy_pack(stack_name):
    import io

    from keel.cli import main
    from keel.cli.context import Context

    out = io.StringIO()
    code = main(["check", "--stack", stack_name, "--stand-ins", "--set", "keel:maintenance=true",
                 "--set", 'keel:maintenanceAllow=["203.0.113.7/32"]'], Context(stdout=out, stderr=io.StringIO()))
    assert code == 0, [line for line in out.getvalue().splitlines() if "FAIL" in line]
