"""What the stack sends CloudWatch and Application Auto Scaling, validated against botocore's API models.

pulumi-aws turns each resource's inputs into the service's API call (PutMetricAlarm, PutCompositeAlarm,
PutScalingPolicy, PutMetricFilter); here the evaluated inputs are mapped the same way and checked with
botocore's ParamValidator (types, required members, lengths and ranges) plus every enum botocore's model
lists (which the validator does not check), so a wrong statistic, operator or member name fails here.
"""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from .conftest import evaluated

SESSION = botocore.session.get_session()
RENAMES = {"okActions": "OKActions", "metricQueries": "Metrics", "metricStat": "MetricStat", "arn": None,
           "tags": None, "region": None}


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def api(value, shape=None):
    """Pulumi camelCase inputs -> the API's members; a dimensions map becomes [{Name, Value}]."""
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            member = RENAMES.get(key, pascal(key))
            if member is None:
                continue
            if key == "dimensions" and isinstance(item, dict):
                item = [{"Name": k, "Value": v} for k, v in item.items()]
            found[member] = api(item)
        return found
    if isinstance(value, list):
        return [api(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def enum_problems(value, shape, path="") -> list[str]:
    problems = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                problems += enum_problems(item, shape.members[key], f"{path}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            problems += enum_problems(item, shape.member, f"{path}[{index}]")
    elif getattr(shape, "enum", None) and value not in shape.enum:
        problems.append(f"{path} = {value!r} not in {shape.enum}")
    return problems


def check(service: str, operation: str, params: dict) -> None:
    shape = SESSION.get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    assert enum_problems(params, shape) == []


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_metric_alarms_are_valid_put_metric_alarm_calls(stack_name):
    for alarm in evaluated(stack_name).by_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        params = api(alarm.plain_inputs)
        params["AlarmName"] = params.pop("Name")
        for query in params.get("Metrics", []):
            query.get("MetricStat", {}).pop("Unit", None)
            if "Metric" in query:  # pulumi's flat metric block -> MetricStat {Metric, Period, Stat}
                metric = query.pop("Metric")
                query["MetricStat"] = {"Metric": {k: metric[k] for k in ("Namespace", "MetricName", "Dimensions")
                                                  if k in metric},
                                       "Period": metric["Period"], "Stat": metric["Stat"]}
        check("cloudwatch", "PutMetricAlarm", params)
        # Statistic names inside metric math follow CloudWatch's grammar: a name or pNN.
        for query in params.get("Metrics", []):
            if "MetricStat" in query:
                assert re.fullmatch(r"SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?",
                                    query["MetricStat"]["Stat"]), query


def test_composite_alarms_are_valid_put_composite_alarm_calls():
    for alarm in evaluated("prod").by_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"):
        check("cloudwatch", "PutCompositeAlarm", api(alarm.plain_inputs))


def test_scaling_policies_are_valid_put_scaling_policy_calls():
    for stack_name in ("dev", "prod"):
        for policy in evaluated(stack_name).by_type("aws:appautoscaling/policy:Policy"):
            params = api(policy.plain_inputs)
            params["PolicyName"] = params.pop("Name", policy.name)
            step = params.get("StepScalingPolicyConfiguration")
            for adjustment in (step or {}).get("StepAdjustments", []):
                for bound in ("MetricIntervalLowerBound", "MetricIntervalUpperBound"):
                    if bound in adjustment:
                        adjustment[bound] = float(adjustment[bound])  # a string in pulumi-aws, a double in the API
            check("application-autoscaling", "PutScalingPolicy", params)


def test_log_metric_filters_are_valid_put_metric_filter_calls():
    for record in evaluated("staging").by_type("aws:cloudwatch/logMetricFilter:LogMetricFilter"):
        inputs = record.plain_inputs
        transformation = inputs["metricTransformation"]  # the Logs API is camelCase, with its own names
        check("logs", "PutMetricFilter", {
            "logGroupName": inputs["logGroupName"], "filterName": inputs["name"], "filterPattern": inputs["pattern"],
            "metricTransformations": [{"metricName": transformation["name"],
                                       "metricNamespace": transformation["namespace"],
                                       "metricValue": transformation["value"],
                                       "defaultValue": float(transformation["defaultValue"]),
                                       "unit": transformation["unit"]}]})
