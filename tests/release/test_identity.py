"""The release gate and the deploy check act as the same AWS identity as pulumi-aws.

pulumi-aws reads aws:region, aws:profile, aws:sharedConfigFiles, aws:sharedCredentialsFiles,
aws:assumeRoles, aws:stsRegion and aws:endpoints (pulumi_aws/config/vars.py). The flow under test:
stack config -> StackConfig.aws_identity -> the dynamic resources' ``aws`` property -> the boto3
session of the task runner. AWS is real code on loopback: STS and CloudWatch Logs are a moto
server, ECS a small endpoint that records who signed each request (tests/cli/fake_ecs.py; moto
cannot run awsvpc tasks). Each test fails if the gate ignored the setting: the requests would be
signed by the caller's key, in another region, or sent to AWS itself.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from keel.aws_identity import AssumeRole, AwsIdentity
from keel.components.deploy_check import DeployCheckProvider, DeployFailed
from keel.components.release import ReleaseFailed, ReleaseProvider, identity_from_props
from keel.evaluate import evaluate_stack, is_secret_wrapped, read_stack_config, repo_root
from keel.stack_config import StackConfigError, load
from keel.tasks import TaskRunner
from moto.sts.models import sts_backends

from tests.cli.fake_ecs import FakeEcs

from .stubs import CLUSTER, LOG_GROUP, LOG_PREFIX, RELEASE_TD, SECURITY_GROUPS, SUBNETS, TASK_ARN, TASK_ID

ROLE_ACCOUNT = "123456789012"  # moto keeps resources per account: the log group lives in the role's
ROLE_1 = f"arn:aws:iam::{ROLE_ACCOUNT}:role/keel-deployer"
ROLE_2 = f"arn:aws:iam::{ROLE_ACCOUNT}:role/keel-staging-admin"
EXTERNAL_ID = "ext-7f3a9c-not-for-logs"
REGION = "eu-central-1"


@pytest.fixture(autouse=True)
def caller(monkeypatch, tmp_path):
    """The shell `pulumi up` runs in: the caller's own keys, no ~/.aws files, no region."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACALLER000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def assumed(role_arn: str):
    return [r for r in sts_backends[ROLE_ACCOUNT]["aws"].assumed_roles if r.role_arn == role_arn]


def engine_props(identity: AwsIdentity) -> dict:
    """The identity's properties as the provider receives them from the engine (secrets unwrapped)."""
    plain = identity.to_props()
    return {"aws": plain, "aws_secrets": {"assume_roles": plain.pop("assume_roles"),
                                          "credentials": plain.pop("credentials")}}


def chained_identity(sts: str, ecs: str, logs: str | None = None) -> AwsIdentity:
    return AwsIdentity(
        region=REGION,
        assume_roles=(AssumeRole(ROLE_1, session_name="keel-ci", external_id=EXTERNAL_ID, duration_seconds=7200),
                      AssumeRole(ROLE_2, session_name="keel-staging")),
        endpoints={"ecs": ecs, "sts": sts, **({"cloudwatchlogs": logs} if logs else {})})


def release_props(identity: AwsIdentity) -> dict:
    return {"cluster_arn": CLUSTER, "task_definition_arn": RELEASE_TD, "container_name": "release",
            "subnet_ids": SUBNETS, "security_group_ids": SECURITY_GROUPS, "log_group_name": LOG_GROUP,
            "log_stream_prefix": LOG_PREFIX, **engine_props(identity), "timeout_minutes": 5.0, "__provider": "x"}


def test_the_release_runs_as_the_assumed_role_in_the_stacks_region_through_its_endpoints(moto_endpoint):
    logs = boto3.client("logs", endpoint_url=moto_endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")
    stream = f"{LOG_PREFIX}/release/{TASK_ID}"
    logs.create_log_group(logGroupName=LOG_GROUP)

    def write_lines():
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                            logEvents=[{"timestamp": int(time.time() * 1000),
                                        "message": "Applying documents.0001_initial... OK"}])

    lines = []
    states = [{"lastStatus": "RUNNING"}, {"lastStatus": "STOPPED", "exitCode": 0}]
    with FakeEcs(TASK_ARN, "release", states, on_running=write_lines) as ecs:
        provider = ReleaseProvider(output=lambda message, error=False: lines.extend(message.splitlines()))
        result = provider.create(release_props(chained_identity(moto_endpoint, ecs.endpoint, logs=moto_endpoint)))

    (first,), (second,) = assumed(ROLE_1), assumed(ROLE_2)
    # Each role assumed in order with its settings; the chain's last role signs every ECS call.
    assert (first.session_name, first.external_id) == ("keel-ci", EXTERNAL_ID)
    assert 7100 < (first.expiration - second.expiration).total_seconds() + 3600 < 7300  # 2 h against the 1 h default
    assert second.session_name == "keel-staging"
    assert {(op, key, region, token) for op, key, region, token in ecs.signatures} == {
        (op, second.access_key_id, REGION, second.session_token) for op in ("ListTasks", "RunTask", "DescribeTasks")}
    # The log lines came through the configured CloudWatch Logs endpoint (key cloudwatchlogs).
    assert "release | Applying documents.0001_initial... OK" in lines
    # Nothing of the identity's secrets is in what goes to the state or the output.
    state = json.dumps(result.outs)
    for secret in (second.session_token, second.secret_access_key, first.session_token):
        assert secret not in state and secret not in "\n".join(lines)
    assert EXTERNAL_ID not in "\n".join(lines)


def test_the_deploy_check_and_the_runner_use_the_profile_from_the_configured_files(tmp_path):
    (tmp_path / "credentials").write_text("[deployer]\naws_access_key_id = AKIADEPLOYER0000001\n"
                                          "aws_secret_access_key = deployer-secret\n")
    (tmp_path / "config").write_text("[profile deployer]\nregion = ap-southeast-2\n")
    with _EcsWithServices(TASK_ARN, "release", []) as ecs:
        identity = AwsIdentity(profile="deployer", shared_config_file=str(tmp_path / "config"),
                               shared_credentials_file=str(tmp_path / "credentials"), endpoints={"ecs": ecs.endpoint})
        TaskRunner.from_aws(identity).running_tasks(CLUSTER, "keel-staging-release")
        with pytest.raises(DeployFailed, match="ECS does not know these services"):
            DeployCheckProvider().create({"cluster_arn": CLUSTER, **engine_props(identity), "timeout_minutes": 1.0,
                                          "services": {"web": {"service_name": "web", "task_definition_arn": RELEASE_TD}}})
    # The profile's key and region (from the files named in the stack config), not the caller's.
    assert {(key, region) for _, key, region, _ in ecs.signatures} == {("AKIADEPLOYER0000001", "ap-southeast-2")}
    assert {op for op, *_ in ecs.signatures} == {"ListTasks", "DescribeServices"}


class _EcsWithServices(FakeEcs):
    """FakeEcs plus DescribeServices, answering that the service is unknown (the deploy check stops there)."""

    def answer(self, operation: str, body: dict) -> dict:
        if operation == "DescribeServices":
            self.requests.append((operation, body))
            return {"services": [], "failures": [{"arn": name, "reason": "MISSING"} for name in body["services"]]}
        return super().answer(operation, body)


class _DenyingSts:
    """An STS endpoint that refuses AssumeRole as AWS does (query protocol, XML error)."""

    def __enter__(self):
        body = (b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ci is not authorized to "
                b"perform: sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(403)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_role_that_cannot_be_assumed_fails_the_release_with_one_message_naming_it():
    lines = []
    with _DenyingSts() as sts, FakeEcs(TASK_ARN, "release", []) as ecs:
        provider = ReleaseProvider(output=lambda message, error=False: lines.extend(message.splitlines()))
        with pytest.raises(ReleaseFailed) as failure:
            provider.create(release_props(chained_identity(sts, ecs.endpoint)))
    assert str(failure.value).splitlines()[0] == (
        f"Release failed: assuming aws:assumeRoles[0] {ROLE_1} failed: AccessDenied: User: "
        "arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole")
    assert ecs.signatures == []  # nothing ran as the caller instead
    assert EXTERNAL_ID not in str(failure.value) + "\n".join(lines)


# --- stack config -> components -> the dynamic resources' properties -------------------------------

STATIC_SECRET = "stack-config-secret-key-0123456789"
ROLES_CONFIG = [{"roleArn": ROLE_1, "sessionName": "keel-ci", "externalId": EXTERNAL_ID, "duration": "1h"},
                {"roleArn": ROLE_2, "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "tags": {"team": "web"}}]


def test_the_stacks_aws_config_reaches_both_dynamic_resources_with_the_roles_secret():
    overrides = {"aws:assumeRoles": ROLES_CONFIG, "aws:endpoints": [{"ecs": "https://ecs.example.internal"}],
                 "aws:accessKey": "AKIASTACKCONFIG0001", "aws:secretKey": STATIC_SECRET,
                 "aws:stsRegion": "us-east-1", "aws:sharedConfigFiles": ["~/.aws/keel-config"]}
    ev = evaluate_stack("staging", overrides=overrides)
    runs = {r.name: r for r in ev.resources if r.type.startswith("pulumi-python:dynamic")}
    for name in ("release-run", "deploy-check-run"):
        inputs = runs[name].inputs
        # The roles encrypted in the state (the engine keeps the outputs of secret inputs secret), the rest plain.
        assert is_secret_wrapped(inputs["aws_secrets"]) and not is_secret_wrapped(inputs["aws"])
        plain = identity_from_props(runs[name].plain_inputs)
        assert plain.region == ev.config["aws:region"] and plain.sts_region == "us-east-1"
        assert plain.endpoint("ecs") == "https://ecs.example.internal"
        assert plain.shared_config_file == "~/.aws/keel-config"
        assert plain.credentials == {"access_key": "AKIASTACKCONFIG0001", "secret_key": STATIC_SECRET}
        assert plain.assume_roles == (
            AssumeRole(ROLE_1, session_name="keel-ci", external_id=EXTERNAL_ID, duration_seconds=3600),
            AssumeRole(ROLE_2, policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",), tags={"team": "web"}))
    outside_secrets = json.dumps([_without_secrets(r.inputs) for r in ev.resources]) + json.dumps(ev.outputs, default=str)
    assert EXTERNAL_ID not in outside_secrets and STATIC_SECRET not in outside_secrets


def _without_secrets(value):
    if is_secret_wrapped(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


@pytest.mark.parametrize(("key", "value", "message"), [
    ("aws:assumeRoles", [{"roleArn": "deployer"}],
     "aws:assumeRoles[0].roleArn = 'deployer' is invalid: allowed an IAM role ARN like arn:aws:iam::123456789012:role/deployer"),
    ("aws:assumeRoles", [{"roleArn": ROLE_1, "duration": "5m"}],
     "aws:assumeRoles[0].duration = '5m' is invalid: allowed a duration from 15m to 12h, e.g. 1h"),
    ("aws:assumeRoles", [{"roleArn": ROLE_1, "externalID": "x"}],
     "aws:assumeRoles[0].externalID is not a known key: allowed roleArn, sessionName, externalId, duration, policy, "
     "policyArns, tags, transitiveTagKeys, sourceIdentity"),
    ("aws:sharedCredentialsFiles", ["~/.aws/a", "~/.aws/b"],
     "aws:sharedCredentialsFiles lists 2 files: the release gate and deploy check (boto3) read one; "
     "merge them into one file or set the profile's file only"),
    ("aws:accessKey", "AKIASTACKCONFIG0001",
     "aws:secretKey is not set: aws:accessKey and aws:secretKey go together "
     "(`pulumi config set --secret aws:secretKey ...`), or use a profile"),
    ("aws:endpoints", [{"ecs": 5}],
     'aws:endpoints[0] is not valid: allowed an object of service: URL, e.g. {ecs: "http://localhost:4566"}'),
])
def test_a_bad_identity_setting_is_one_line_naming_the_key(key, value, message):
    raw, _ = read_stack_config(repo_root(), "keel", "staging")
    raw[key] = json.dumps(value)
    with pytest.raises(StackConfigError) as failure:
        load(raw, "staging")
    assert failure.value.messages == [message]


def test_static_keys_from_the_stack_config_come_before_the_environment_and_the_profile():
    with FakeEcs(TASK_ARN, "release", []) as ecs:
        identity = AwsIdentity(region=REGION, profile="someone-else", endpoints={"ecs": ecs.endpoint},
                               credentials={"access_key": "AKIASTACKCONFIG0001", "secret_key": STATIC_SECRET})
        TaskRunner.from_aws(identity).running_tasks(CLUSTER, "f")
    assert {(key, region) for _, key, region, _ in ecs.signatures} == {("AKIASTACKCONFIG0001", REGION)}


def test_without_identity_settings_the_callers_own_chain_signs():
    # Only aws:region set: the caller's environment credentials, as pulumi-aws uses them.
    with FakeEcs(TASK_ARN, "release", []) as ecs:
        TaskRunner.from_aws(AwsIdentity(region=REGION, endpoints={"ecs": ecs.endpoint})).running_tasks(CLUSTER, "f")
    assert {(key, region) for _, key, region, _ in ecs.signatures} == {("AKIACALLER000000000", REGION)}


def test_a_web_identity_role_signs_with_the_roles_chained_on_top(moto_endpoint, tmp_path):
    """aws:assumeRoleWithWebIdentity (an OIDC token, as CI systems hand out) is the base; aws:assumeRoles follow."""
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOi.ci-oidc-token.signature\n")
    raw = {"aws:region": REGION, "aws:endpoints": json.dumps([{"sts": moto_endpoint}]),
           "aws:assumeRoleWithWebIdentity": json.dumps({"roleArn": ROLE_1, "sessionName": "keel-oidc",
                                                        "webIdentityTokenFile": str(token_file)}),
           "aws:assumeRoles": json.dumps([{"roleArn": ROLE_2, "sessionName": "keel-staging"}])}
    identity, problems = AwsIdentity.from_provider_config(raw)
    assert problems == []
    # Through the engine's properties and back, as the dynamic provider gets them; the token file path only.
    again = identity_from_props({"aws": {k: v for k, v in identity.to_props().items()
                                         if k not in ("assume_roles", "credentials", "web_identity")},
                                 "aws_secrets": {"assume_roles": identity.to_props()["assume_roles"],
                                                 "web_identity": identity.to_props()["web_identity"]}})
    with FakeEcs(TASK_ARN, "release", []) as ecs:
        identity_with_ecs = AwsIdentity.from_props({**again.to_props(), "endpoints": {**again.endpoints,
                                                                                      "ecs": ecs.endpoint}})
        TaskRunner.from_aws(identity_with_ecs).running_tasks(CLUSTER, "f")
    second = assumed(ROLE_2)[-1]  # the newest: earlier tests of this module assumed it too
    assert second.session_name == "keel-staging"
    assert any(role.session_name == "keel-oidc" for role in assumed(ROLE_1))  # the web identity came first
    assert {(key, token) for _, key, _, token in ecs.signatures} == {(second.access_key_id, second.session_token)}


def test_fips_proxies_and_a_ca_bundle_reach_the_clients(tmp_path):
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("")
    identity, problems = AwsIdentity.from_provider_config({
        "aws:region": REGION, "aws:useFipsEndpoint": "true", "aws:customCaBundle": str(bundle),
        "aws:httpsProxy": "http://proxy.internal:3128"})
    assert problems == []
    (ecs,) = identity.clients("ecs")
    assert ecs.meta.config.use_fips_endpoint is True
    assert ecs.meta.config.proxies == {"https": "http://proxy.internal:3128"}
    assert ecs.meta.endpoint_url == f"https://ecs-fips.{REGION}.amazonaws.com"
    assert ecs._endpoint.http_session._verify == str(bundle)


def test_a_web_identity_without_a_token_is_one_line():
    _, problems = AwsIdentity.from_provider_config({
        "aws:region": REGION, "aws:assumeRoleWithWebIdentity": json.dumps({"roleArn": ROLE_1})})
    assert problems == ["aws:assumeRoleWithWebIdentity is not valid: allowed an object with roleArn (an IAM role ARN) "
                        "and webIdentityToken or webIdentityTokenFile"]
