"""The release provider inside Pulumi's real dynamic-provider process, driven over gRPC as the engine does.

This is what `pulumi up` starts (`python -m pulumi.dynamic`): it unpickles the provider from the
resource's `__provider` property and serves Check/Diff/Create. AWS is a moto server on loopback,
so Create really calls ECS and fails (moto cannot run awsvpc tasks); that exercises the failure
path end to end: the clean `error:` lines on the provider's stderr (the engine shows them as
diagnostics) and the error the engine receives.
"""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import grpc
import pytest
from keel.components.release import ReleaseProvider
from moto.server import ThreadedMotoServer
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from .stubs import ACCOUNT, LOG_GROUP, LOG_PREFIX, REGION, SECURITY_GROUPS, SUBNETS, struct

TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-ci-release:4"
URN = "urn:pulumi:ci::keel::keel:release:Release$pulumi-python:dynamic/keel:ReleaseRun::release-run"


@pytest.fixture(scope="module")
def aws_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    cluster = ecs.create_cluster(clusterName="keel-ci")["cluster"]["clusterArn"]
    yield endpoint, cluster
    server.stop()


@pytest.fixture(scope="module")
def provider_process(aws_endpoint):
    endpoint, _ = aws_endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               PULUMI_PROJECT="keel", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, text=True)
    try:
        port = int(process.stdout.readline().strip())  # the engine reads the port the same way
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield provider_pb2_grpc.ResourceProviderStub(channel), process
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)




def props(cluster, **changes):
    values = {
        "__provider": serialize_provider(ReleaseProvider()),
        "cluster_arn": cluster, "task_definition_arn": TD, "container_name": "release",
        "subnet_ids": SUBNETS, "security_group_ids": SECURITY_GROUPS, "log_group_name": LOG_GROUP,
        "log_stream_prefix": LOG_PREFIX, "aws": {"region": REGION}, "timeout_minutes": 30,
    }
    values.update(changes)
    return values


def test_check_and_diff_in_the_provider_process(provider_process, aws_endpoint):
    stub, _ = provider_process
    _, cluster = aws_endpoint
    old = props(cluster, task_arn="arn:aws:ecs:eu-west-1:123456789012:task/keel-ci/abc", exit_code=0)

    checked = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=struct(props(cluster, subnet_ids=[]))))
    assert [(f.property, f.reason) for f in checked.failures] == [
        ("subnet_ids", "subnet_ids is empty: the release task runs in the same network as web")]

    same = stub.Diff(provider_pb2.DiffRequest(id="release-abc", urn=URN, olds=struct(old),
                                              news=struct(props(cluster, timeout_minutes=45))))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    newer = stub.Diff(provider_pb2.DiffRequest(id="release-abc", urn=URN, olds=struct(old),
                                               news=struct(props(cluster, task_definition_arn=TD.replace(":4", ":5")))))
    assert newer.changes == provider_pb2.DiffResponse.DIFF_SOME and list(newer.replaces) == []


def test_failed_create_reaches_the_engine_as_one_clear_error(provider_process, aws_endpoint):
    stub, process = provider_process
    _, cluster = aws_endpoint

    with pytest.raises(grpc.RpcError) as failure:
        stub.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(props(cluster))), timeout=60)

    details = failure.value.details()
    assert details.rstrip().splitlines()[-2].startswith("keel.components.release.ReleaseFailed: Release failed: RunTask of")
    assert details.rstrip().endswith("No service was changed (web, worker and beat wait for a successful release); the version already serving keeps serving.")
    process.terminate()
    stderr = process.stderr.read()
    assert f"error: Release failed: RunTask of {TD} on {cluster} failed:" in stderr
    assert "error: No service was changed (web, worker and beat wait for a successful release); the version already serving keeps serving." in stderr
