"""A team's own configuration by `pulumi config set`: plain variables (keel:env), secrets
(keel:secrets), email (keel:email) and an attached database's rotating secret (keel:databaseSecretArn).

Secret-ness follows the Pulumi engine: a key set with --secret (or an object holding one secure value)
is in PULUMI_CONFIG_SECRET_KEYS, which pulumi-language-python-exec hands to
``pulumi.runtime.set_all_config``; ``keel.evaluate`` does the same under mocks.
"""

from __future__ import annotations

import json

import pytest
from keel.evaluate import evaluate_stack
from keel.outputs import PROCESSES
from keel.stack_config import StackConfigError

from tests.infra.helpers import statements

DOMAIN = {"keel:domain": "staging.acme.io", "keel:hostedZoneId": "Z04412345ABCDEFGHIJK"}
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
STRIPE = "sk_live_51Habc0123456789"


def env_of(definition) -> dict[str, str]:
    return {item["name"]: item["value"] for item in definition["environment"]}


def secrets_of(definition) -> dict[str, str]:
    return {item["name"]: item["valueFrom"] for item in definition["secrets"]}


def refusals(stack="staging", overrides=None, secret_overrides=None) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        evaluate_stack(stack, overrides=overrides, secret_overrides=secret_overrides)
    return caught.value.messages


def only_refusal(**kwargs) -> str:
    found = refusals(**kwargs)
    assert len(found) == 1, found
    assert "\n" not in found[0]
    return found[0]


def role_policy(ev, name):
    return statements(next(r for r in ev.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == name).inputs["policy"])


@pytest.fixture(scope="module")
def own():
    """staging with an own plain variable (path form), an own secret (--secret --path) and SES email."""
    return evaluate_stack("staging", overrides={**DOMAIN, "keel:env.SENTRY_ENVIRONMENT": "staging",
                                                "keel:email": "ses"},
                          secret_overrides={"keel:secrets.STRIPE_API_KEY": STRIPE})


# --- 1. own plain variables ------------------------------------------------------------------------


def test_an_own_plain_variable_reaches_every_process_as_plain_environment(own):
    for process in PROCESSES:
        definition = own.container_definitions()[process]
        assert env_of(definition)["SENTRY_ENVIRONMENT"] == "staging", process
        assert "SENTRY_ENVIRONMENT" not in secrets_of(definition)


def test_the_whole_object_form_and_typed_path_values_become_strings():
    # `pulumi config set --path keel:env.WORKERS 4` stores the number 4, `... true` the boolean true.
    ev = evaluate_stack("dev", overrides={"keel:env": {"SENTRY_ENVIRONMENT": "dev", "FEATURE_X": True},
                                          "keel:env.WORKERS": "4"})
    env = env_of(ev.container_definitions()["worker"])
    assert (env["SENTRY_ENVIRONMENT"], env["FEATURE_X"], env["WORKERS"]) == ("dev", "true", "4")


def test_a_url_without_a_password_under_a_plain_name_is_a_plain_variable():
    ev = evaluate_stack("dev", overrides={"keel:env.STATUS_PAGE_URL": "https://status@acme.io/feed"})
    assert env_of(ev.container_definitions()["web"])["STATUS_PAGE_URL"] == "https://status@acme.io/feed"


@pytest.mark.parametrize(("name", "fix"), [
    ("DATABASE_URL", "use `pulumi config set --secret keel:databaseUrl ...`"),
    ("REDIS_URL", "use `pulumi config set --secret keel:redisUrl ...`"),
    ("DJANGO_ALLOWED_HOSTS", "it follows keel:domain"),
    ("DJANGO_SECRET_KEY", "use `pulumi config set --secret keel:djangoSecretKey ...`"),
    ("DATABASE_SECRET_ARN", "use `pulumi config set keel:databaseSecretArn ...`"),
    ("EMAIL_URL", "use `pulumi config set keel:email ses`"),
])
def test_stack_owned_variables_are_refused_naming_the_key_to_use(name, fix):
    message = only_refusal(overrides={f"keel:env.{name}": "x"})
    assert message.startswith(f"keel:env.{name} is set by the stack: ") and fix in message


def test_static_aws_keys_are_refused_in_both_places():
    for key in ("keel:env", "keel:secrets"):
        message = only_refusal(stack="dev", secret_overrides={f"{key}.AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"})
        assert message == f"{key}.AWS_SECRET_ACCESS_KEY is refused: the tasks act with their task role, never " \
                          "static AWS keys"


# The app's rule (contract.CREDENTIAL_NAME) treats the same names as secret, SENTRY_DSN included.
@pytest.mark.parametrize("name", ["STRIPE_API_KEY", "GITHUB_TOKEN", "SMTP_PASSWORD", "APP_SECRET", "SENTRY_DSN",
                                  "DATABASE_PASSWORD"])
def test_credential_names_are_refused_and_pointed_at_keel_secrets(name):
    message = only_refusal(overrides={f"keel:env.{name}": "hunter2-value"})
    assert message.startswith(f"keel:env.{name} ")
    assert f"use `pulumi config set --secret --path 'keel:secrets.{name}' ...`" in message
    assert "hunter2-value" not in message


def test_a_url_with_a_password_is_refused_without_echoing_it():
    message = only_refusal(overrides={"keel:env.ERROR_TRACKER": "https://public:hunter2@o1.ingest.sentry.io/42"})
    assert "keel:env.ERROR_TRACKER holds a URL with a password" in message and "keel:secrets.ERROR_TRACKER" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("name", ["9LIVES", "MY-VAR", "A B"])
def test_invalid_variable_names_are_refused(name):
    assert only_refusal(overrides={"keel:env": {name: "1"}}).startswith(
        f"keel:env.{name} is not a valid environment variable name")


def test_contract_variables_keep_their_validation():
    assert only_refusal(overrides={"keel:env.LOG_LEVEL": "LOUD"}).startswith("keel:env.LOG_LEVEL = 'LOUD' is invalid")


# --- 2. own secrets -------------------------------------------------------------------------------


def test_an_own_secret_reaches_every_process_only_through_secrets(own):
    refs = {secrets_of(own.container_definitions()[p])["STRIPE_API_KEY"] for p in PROCESSES}
    assert len(refs) == 1
    (arn,) = refs
    assert own.secret_values()[arn] == STRIPE
    (secret,) = [r for r in own.by_type("aws:secretsmanager/secret:Secret") if r.arn == arn]
    assert secret.inputs["namePrefix"] == "keel/staging/STRIPE_API_KEY-"
    assert secret.inputs["recoveryWindowInDays"] == 7  # staging's keel:secretRecoveryDays
    for process in PROCESSES:
        definition = own.container_definitions()[process]
        assert "STRIPE_API_KEY" not in env_of(definition) and STRIPE not in json.dumps(definition)


def test_the_execution_role_reads_exactly_the_stacks_secrets_and_the_task_role_not_this_one(own):
    (reads,) = [s for s in role_policy(own, "roles-execution") if s["Action"] == "secretsmanager:GetSecretValue"]
    injected = {ref for d in own.container_definitions().values() for ref in secrets_of(d).values()}
    assert sorted(reads["Resource"]) == sorted(injected)
    assert not [r for r in reads["Resource"] if "*" in r]
    stripe = secrets_of(own.container_definitions()["web"])["STRIPE_API_KEY"]
    task = [s for s in role_policy(own, "roles-task") if "secretsmanager:GetSecretValue" in s["Action"]]
    assert all(stripe not in s["Resource"] for s in task)


def test_a_keel_run_task_gets_the_secret_and_the_variable(own):
    """`keel run` sends RunTask for the release task definition, overriding only the command."""
    from keel.cli.oneoff import task_spec
    from keel.cli.stack import StackOutputs
    from keel.evaluate import unwrap_secret

    outputs = StackOutputs(name=own.stack, values=unwrap_secret(own.outputs))
    request = task_spec(outputs, ["python", "manage.py", "shell"], started_by="keel-run").run_task_request()
    process = {record.arn: name for name, record in own.task_definitions().items()}[request["taskDefinition"]]
    assert process == "release"
    (override,) = request["overrides"]["containerOverrides"]
    assert set(override) == {"name", "command"}  # secrets and environment come from the definition, untouched
    definition = own.container_definitions()["release"]
    assert "STRIPE_API_KEY" in secrets_of(definition) and env_of(definition)["SENTRY_ENVIRONMENT"] == "staging"


def test_a_changed_own_secret_rolls_every_service(own):
    after = evaluate_stack("staging", overrides={**DOMAIN, "keel:env.SENTRY_ENVIRONMENT": "staging",
                                                 "keel:email": "ses"},
                           secret_overrides={"keel:secrets.STRIPE_API_KEY": STRIPE + "-rotated"})
    for process in PROCESSES:
        assert own.container_definitions()[process]["dockerLabels"] != \
            after.container_definitions()[process]["dockerLabels"], process


def test_removing_an_own_secret_deletes_it_after_the_recovery_window(own):
    without = evaluate_stack("staging", overrides={**DOMAIN, "keel:env.SENTRY_ENVIRONMENT": "staging",
                                                   "keel:email": "ses"})
    names = {r.inputs["namePrefix"] for r in without.by_type("aws:secretsmanager/secret:Secret")}
    assert "keel/staging/STRIPE_API_KEY-" not in names  # Pulumi deletes it; AWS keeps it restorable 7 days
    assert all("STRIPE_API_KEY" not in secrets_of(d) for d in without.container_definitions().values())


def test_own_secrets_use_the_stacks_kms_key_when_it_has_one():
    ev = evaluate_stack("prod", secret_overrides={"keel:secrets.STRIPE_API_KEY": STRIPE})
    (key,) = ev.by_type("aws:kms/key:Key")
    (secret,) = [r for r in ev.by_type("aws:secretsmanager/secret:Secret")
                 if r.inputs["namePrefix"] == "keel/prod/STRIPE_API_KEY-"]
    assert secret.inputs["kmsKeyId"] == key.arn and secret.inputs["recoveryWindowInDays"] == 30


def test_a_value_set_without_secret_is_refused_with_the_command():
    message = only_refusal(overrides={**DOMAIN, "keel:secrets.STRIPE_API_KEY": STRIPE})
    assert message == ("keel:secrets.STRIPE_API_KEY was set without --secret (it sits readable in the stack file): "
                       "use `pulumi config set --secret --path 'keel:secrets.STRIPE_API_KEY' ...`")


def test_a_contract_credential_may_be_an_own_secret_but_not_a_plain_or_stack_one():
    ev = evaluate_stack("dev", secret_overrides={"keel:secrets.DATABASE_PASSWORD": "pw-0123456789"})
    assert "DATABASE_PASSWORD" in secrets_of(ev.container_definitions()["web"])
    assert only_refusal(stack="dev", secret_overrides={"keel:secrets.LOG_LEVEL": "DEBUG"}) == (
        "keel:secrets.LOG_LEVEL is a plain setting of the app's contract: use `pulumi config set --path "
        "'keel:env.LOG_LEVEL' ...`")
    assert "use `pulumi config set --secret keel:databaseUrl ...`" in only_refusal(
        stack="dev", secret_overrides={"keel:secrets.DATABASE_URL": "postgres://a:b@h/db"})


# --- 4. email (infrastructure side) -----------------------------------------------------------------


def test_ses_creates_the_domain_identity_its_dkim_records_and_the_send_permission(own):
    (identity,) = own.by_type("aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["emailIdentity"] == "staging.acme.io"
    records = own.by_type("aws:route53/record:Record")
    dkim = [r.inputs for r in records if "._domainkey." in r.inputs["name"]]
    assert len(dkim) == 3
    for record in dkim:
        token = record["name"].split(".")[0]
        assert record["name"] == f"{token}._domainkey.staging.acme.io" and record["type"] == "CNAME"
        assert record["records"] == [f"{token}.dkim.amazonses.com"]
        assert record["zoneId"] == DOMAIN["keel:hostedZoneId"]
    (send,) = [s for s in role_policy(own, "roles-task") if s.get("Sid") == "SendEmail"]
    assert send["Resource"] == identity.arn == "arn:aws:ses:eu-west-1:123456789012:identity/staging.acme.io"
    assert send["Action"] == ["ses:SendEmail"]  # the app's django-ses calls SESv2 SendEmail, nothing else
    assert not [s for s in role_policy(own, "roles-execution") if "ses:" in json.dumps(s["Action"])]


def test_ses_reaches_the_app_as_email_url_and_a_sender_on_the_domain(own):
    for process in PROCESSES:
        definition = own.container_definitions()[process]
        assert own.secret_values()[secrets_of(definition)["EMAIL_URL"]] == "ses://eu-west-1"
        assert env_of(definition)["EMAIL_FROM"] == "noreply@staging.acme.io"


def tasks_egress_ports(ev) -> set[int]:
    tasks = next(r.id for r in ev.by_type("aws:ec2/securityGroup:SecurityGroup")
                 if r.inputs["tags"]["Name"].endswith("-tasks"))
    return {r.inputs["fromPort"] for r in ev.by_type(EGRESS) if r.inputs["securityGroupId"] == tasks}


def test_ses_opens_no_smtp_port(own, staging):
    assert tasks_egress_ports(own) == tasks_egress_ports(staging)  # the SES API is HTTPS, already open


def test_an_smtp_url_opens_exactly_its_port_and_stays_secret(staging):
    url = "smtp+tls://mailer:s3cret@smtp.mailgun.org:2587"
    ev = evaluate_stack("staging", overrides=DOMAIN, secret_overrides={"keel:email": url})
    assert tasks_egress_ports(ev) == tasks_egress_ports(staging) | {2587}
    web = ev.container_definitions()["web"]
    assert ev.secret_values()[secrets_of(web)["EMAIL_URL"]] == url and "s3cret" not in json.dumps(web)
    assert ev.by_type("aws:sesv2/emailIdentity:EmailIdentity") == []


def test_ses_without_a_hosted_zone_says_which_records_to_add():
    ev = evaluate_stack("staging", overrides={
        "keel:domain": "staging.acme.io", "keel:hostedZoneId": "",
        "keel:certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "keel:email": "ses"})
    assert any("keel:email = 'ses' without keel:hostedZoneId" in w and "DKIM" in w for w in ev.warnings)
    assert not [r for r in ev.by_type("aws:route53/record:Record") if "_domainkey" in r.inputs["name"]]


@pytest.mark.parametrize(("overrides", "secret", "expected"), [
    ({"keel:email": "ses"}, {}, "keel:email = 'ses' needs keel:domain"),
    ({"keel:email": "smtp+tls://u:pw@smtp.acme.io:587"}, {}, "keel:email holds an SMTP URL in clear"),
    ({"keel:email": "mailgun"}, {}, "keel:email = 'mailgun' is invalid: allowed ses, or an SMTP URL"),
    ({"keel:env.EMAIL_FROM": "a@acme.io"}, {"keel:email": "smtp+tls://u:pw@smtp.acme.io"}, "has no port"),
    ({"keel:env.EMAIL_FROM": "a@acme.io"}, {"keel:email": "smtp://u:pw@smtp.acme.io:25"},
     "uses smtp:// with a password"),
])
def test_email_refusals_name_the_key_and_the_fix(overrides, secret, expected):
    message = only_refusal(stack="dev", overrides=overrides, secret_overrides=secret)
    assert expected in message and "pw" not in message.replace("pulumi", "")


def test_a_sender_off_the_ses_domain_is_refused():
    message = only_refusal(overrides={**DOMAIN, "keel:email": "ses", "keel:env.EMAIL_FROM": "Ops <ops@gmail.com>"})
    assert message.startswith("keel:env.EMAIL_FROM = 'Ops <ops@gmail.com>' is invalid with keel:email = 'ses'")
    assert "@staging.acme.io" in message


# --- 5. an attached database whose password RDS rotates ---------------------------------------------

RDS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-4f2a9c1e-AbCdEf"


def test_an_attached_database_reads_its_rotating_secret_with_the_task_role():
    ev = evaluate_stack("staging", overrides={**DOMAIN, "keel:databaseSecretArn": RDS_SECRET},
                        secret_overrides={"keel:databaseUrl": "postgres://app@db.acme.internal:5432/app?sslmode=require"})
    assert ev.by_type("aws:rds/instance:Instance") == []
    for process in PROCESSES:
        assert env_of(ev.container_definitions()[process])["DATABASE_SECRET_ARN"] == RDS_SECRET
    (runtime,) = [s for s in role_policy(ev, "roles-task") if s.get("Sid") == "RuntimeSecrets"]
    assert runtime["Resource"] == [RDS_SECRET]
    (reads,) = [s for s in role_policy(ev, "roles-execution") if s.get("Sid") == "Secrets"]
    assert RDS_SECRET not in reads["Resource"]  # the app reads it when it connects, not ECS at start


def test_a_database_secret_arn_needs_an_attached_database_and_an_arn():
    assert only_refusal(overrides={**DOMAIN, "keel:databaseSecretArn": RDS_SECRET}).startswith(
        "keel:databaseSecretArn is set without keel:databaseUrl")
    assert only_refusal(overrides={**DOMAIN, "keel:databaseSecretArn": "rds!db-123",
                                   "keel:databaseUrl": "postgres://app@db.acme.internal/app?sslmode=require"}
                        ).startswith("keel:databaseSecretArn = 'rds!db-123' is invalid")
