"""Evaluate a stack of this project under Pulumi's unit-test mocks, without the Pulumi CLI.

``evaluate_stack("staging")`` reads ``Pulumi.yaml`` and ``Pulumi.staging.yaml`` the way
``pulumi up`` does, runs ``infra/__main__.py`` in-process against mocks that answer with
deterministic ids and ARNs, and returns every registered resource, the stack outputs and the
warnings. Tests, ``keel check``, the parity test and the benchmarks share it; it needs no pytest.

Secure config values (``{secure: ...}``) cannot be decrypted here (no passphrase, no Pulumi CLI):
each becomes a placeholder of the right shape, and its key is marked secret the way the engine
marks it (``PULUMI_CONFIG_SECRET_KEYS``: a key whose value, or any value nested in its object, is
secure; pulumi/pulumi sdk/go/common/resource/config/object.go ``Secure``), so the program sees
"set, secret" just as it would on AWS. Overrides follow ``pulumi config set``: ``keel:web.memory``
is a path into the ``keel:web`` object (``--path``; "4096" and "true" stored as a number and a
boolean, as the CLI's ``coerce`` does), and secret overrides are marked secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import runpy
import string
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# Placeholders for secure config values: shaped like what a user would set, so validation passes.
SECURE_PLACEHOLDERS = {
    "keel:databaseUrl": "postgres://app:secure-placeholder@db.example.internal:5432/app?sslmode=require",
    "keel:redisUrl": "rediss://:secure-placeholder@cache.example.internal:6379/0?ssl_cert_reqs=required",
    # Offline the real port is unknown: the tasks' SMTP egress is shown for STARTTLS's 587.
    "keel:email": "smtp+tls://mailer:secure-placeholder@smtp.example.internal:587",
    "keel:databaseSecretArn": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:rds!db-secure-placeholder-AbCdEf",
}


def repo_root() -> Path:
    """The repository root: infra/keel/evaluate.py -> ../../.."""
    return Path(__file__).resolve().parents[2]


def unwrap_secret(value: Any) -> Any:
    """The plain value inside a Pulumi secret wrapper (recursively for dicts and lists)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return unwrap_secret(value.get("value"))
        return {k: unwrap_secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secret(v) for v in value]
    return value


def is_secret_wrapped(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


@dataclass
class ResourceRecord:
    type: str
    name: str
    inputs: dict
    id: str
    arn: str | None
    urn: str
    parent: str | None = None
    # Names of the resources the engine waits for before creating this one: explicit depends_on (a
    # component expanded to its children, as the engine does) plus every resource its inputs reference.
    depends_on: set[str] = field(default_factory=set)
    dependencies: set[tuple[str, str]] = field(default_factory=set)  # the same as (type, name): names repeat
    protect: bool = False
    retain_on_delete: bool = False  # the engine forgets the resource instead of deleting it
    custom: bool = True
    # The URN the real engine gives it: the parent's whole type chain, joined by "$" (pulumi/pulumi,
    # pkg/resource/deploy/deployment.go, generateURN). Pulumi's mocks keep only the parent's own
    # type, and ``urn`` above has no parent at all; `pulumi up --target` needs this one.
    engine_urn: str = ""

    def waits_for(self, other: ResourceRecord) -> bool:
        """Whether the engine creates ``other`` before this resource."""
        return (other.type, other.name) in self.dependencies

    @property
    def plain_inputs(self) -> dict:
        """Inputs with every secret wrapper removed."""
        return unwrap_secret(self.inputs)


@dataclass
class Evaluation:
    stack: str
    config: dict[str, str]
    resources: list[ResourceRecord] = field(default_factory=list)
    secret_keys: list[str] = field(default_factory=list)  # the keys the program saw as secret
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def by_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_]

    def by_name(self, name: str) -> ResourceRecord:
        matches = [r for r in self.resources if r.name == name]
        if not matches:
            raise KeyError(name)
        return matches[0]

    def by_id(self, id_: str) -> ResourceRecord | None:
        return next((r for r in self.resources if r.id == id_ and r.custom), None)

    def by_arn(self, arn: str) -> ResourceRecord | None:
        return next((r for r in self.resources if r.arn == arn), None)

    def task_definitions(self) -> dict[str, ResourceRecord]:
        """{process name -> task definition record}, keyed by the single container's name."""
        found = {}
        for record in self.by_type("aws:ecs/taskDefinition:TaskDefinition"):
            definitions = json.loads(unwrap_secret(record.inputs["containerDefinitions"]))
            for definition in definitions:
                found[definition["name"]] = record
        return found

    def container_definitions(self) -> dict[str, dict]:
        """{container name -> container definition} parsed from every task definition."""
        found = {}
        for record in self.by_type("aws:ecs/taskDefinition:TaskDefinition"):
            for definition in json.loads(unwrap_secret(record.inputs["containerDefinitions"])):
                found[definition["name"]] = definition
        return found

    def secret_values(self) -> dict[str, str]:
        """{secret ARN -> the string the stack stores in it}, from SecretVersion inputs."""
        values = {}
        for record in self.by_type("aws:secretsmanager/secretVersion:SecretVersion"):
            inputs = record.plain_inputs
            values[inputs["secretId"]] = inputs.get("secretString")
        return values


# --------------------------------------------------------------------------- mocks


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _service_and_kind(type_: str) -> tuple[str, str]:
    """("ecs", "taskDefinition") from "aws:ecs/taskDefinition:TaskDefinition"."""
    module = type_.split(":")[1]
    service, _, kind = module.partition("/")
    return service, kind


ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
}


class KeelMocks:
    """Deterministic answers for every resource and provider call the program makes."""

    def __init__(self, region: str, invokes: dict[str, dict] | None = None) -> None:
        self.region = region
        self.invokes = dict(invokes or {})  # token -> answer: what already exists in the account
        self.lock = threading.Lock()
        self.registered: list[tuple[str, str, dict, str, str | None, bool]] = []

    # Pulumi's Mocks interface ---------------------------------------------------
    def new_resource(self, args) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        type_, name = args.typ, args.name
        resource_id = self._id(type_, name, inputs)
        state = dict(inputs)
        state.update(self._computed(type_, name, inputs, resource_id))
        with self.lock:
            self.registered.append((type_, name, dict(args.inputs), resource_id, state.get("arn"), args.custom))
        return resource_id, state

    def call(self, args) -> dict:
        token = args.token
        region = self.region
        if token in self.invokes:
            return self.invokes[token]
        if token == "aws:rds/getInstances:getInstances":  # a new stack: no instance under its identifier yet
            return {"instanceArns": [], "instanceIdentifiers": [], "id": region}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": [f"{region}{s}" for s in "abc"], "zoneIds": [f"euw1-az{i}" for i in (1, 2, 3)],
                    "id": region}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer", "userId": "AIDAMOCK",
                    "id": ACCOUNT}
        if token in ("aws:index/getRegion:getRegion",):
            return {"name": region, "region": region, "id": region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"userName": "AWS", "password": "mock-ecr-token", "authorizationToken": "QVdTOm1vY2s=",
                    "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{region}.amazonaws.com", "id": region}
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            return {"arn": "arn:aws:iam::156460612806:root", "id": "156460612806"}
        return {}

    # Helpers ---------------------------------------------------------------------
    def _id(self, type_: str, name: str, inputs: dict) -> str:
        prefix = ID_PREFIXES.get(type_)
        if prefix:
            return f"{prefix}-{_short_hash(type_ + name, 17)}"
        # Pulumi auto-names from a prefix or the logical name plus a random suffix.
        if type_ == "aws:s3/bucket:Bucket":
            return inputs.get("bucket") or f"{inputs.get('bucketPrefix') or name + '-'}{_short_hash(name, 12)}"
        return inputs.get("name") or f"{inputs.get('namePrefix') or name + '-'}{_short_hash(name, 7)}"

    def _arn(self, type_: str, name: str, inputs: dict, resource_id: str) -> str | None:
        if not type_.startswith("aws:"):
            return None
        service, kind = _service_and_kind(type_)
        region = self.region
        physical = inputs.get("name") or resource_id
        if service == "s3":
            return f"arn:aws:s3:::{resource_id}" if kind == "bucket" else None
        if service == "iam":
            return f"arn:aws:iam::{ACCOUNT}:{kind.lower()}/{physical}"
        if type_ == "aws:secretsmanager/secret:Secret":
            return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{physical}-{_short_hash(name, 6)}"
        if type_ == "aws:secretsmanager/secretVersion:SecretVersion":
            return inputs.get("secretId")
        if type_ == "aws:ecs/taskDefinition:TaskDefinition":
            return f"arn:aws:ecs:{region}:{ACCOUNT}:task-definition/{inputs.get('family', name)}:1"
        if type_ == "aws:sesv2/emailIdentity:EmailIdentity":
            # SES's identity ARN (Service Authorization Reference, "Amazon SES": identity resource type).
            return f"arn:aws:ses:{region}:{ACCOUNT}:identity/{inputs.get('emailIdentity')}"
        if type_ == "aws:cloudwatch/logGroup:LogGroup":
            return f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{physical}"
        if type_ == "aws:sns/topic:Topic":  # SNS ARNs end in the bare topic name
            return f"arn:aws:sns:{region}:{ACCOUNT}:{physical}"
        if type_ == "aws:ecs/service:Service":
            return f"arn:aws:ecs:{region}:{ACCOUNT}:service/{physical}"
        return f"arn:aws:{service}:{region}:{ACCOUNT}:{kind}/{physical}"

    def _computed(self, type_: str, name: str, inputs: dict, resource_id: str) -> dict:
        region = self.region
        arn = self._arn(type_, name, inputs, resource_id)
        state: dict[str, Any] = {}
        if arn:
            state["arn"] = arn
        if "name" not in inputs and "namePrefix" in inputs and not resource_id.startswith(inputs["namePrefix"]):
            state["name"] = f"{inputs['namePrefix']}{int(_short_hash(name, 12), 16):026d}"  # AWS: prefix + 26 digits
        elif "name" not in inputs and type_.startswith("aws:"):
            state["name"] = resource_id
        if type_ == "aws:ec2/vpc:Vpc":
            state["defaultSecurityGroupId"] = f"sg-default{_short_hash(name, 10)}"
        elif type_ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{resource_id}-1234567890.{region}.elb.amazonaws.com"
            state["zoneId"] = "Z32O12XQLNTSW2"
            state["arnSuffix"] = f"app/{resource_id}/50dc6c495c0c9188"
        elif type_ == "aws:lb/targetGroup:TargetGroup":
            state["arnSuffix"] = f"targetgroup/{resource_id}/73e2d6bc24d8a067"
        elif type_ == "aws:rds/instance:Instance":
            address = f"{inputs.get('identifier', resource_id)}.abcdefghijkl.{region}.rds.amazonaws.com"
            state.update(address=address, endpoint=f"{address}:5432", port=inputs.get("port", 5432),
                         masterUserSecrets=[{
                             "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!db-{_short_hash(name, 12)}",
                             "secretStatus": "active", "kmsKeyId": ""}])
        elif type_ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state.update(primaryEndpointAddress=f"master.{resource_id}.abcdef.euw1.cache.amazonaws.com",
                         port=inputs.get("port", 6379))
        elif type_ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{resource_id}"
            state["registryId"] = ACCOUNT
        elif type_ == "docker:index/image:Image":
            image_name = unwrap_secret(inputs.get("imageName", name))
            repository = image_name.rsplit(":", 1)[0] if ":" in image_name.split("/")[-1] else image_name
            state["repoDigest"] = f"{repository}@sha256:{hashlib.sha256(image_name.encode()).hexdigest()}"
            state["imageName"] = image_name
        elif type_ == "random:index/randomPassword:RandomPassword":
            state["result"] = _mock_password(name, inputs)
        elif type_ == "random:index/randomId:RandomId":  # hex: the prefix, then byte_length random bytes
            state["hex"] = inputs.get("prefix", "") + _short_hash(name, 2 * int(inputs.get("byteLength", 8)))
        elif type_ == "aws:s3/bucket:Bucket":
            state.update(bucket=resource_id, bucketRegionalDomainName=f"{resource_id}.s3.{region}.amazonaws.com")
        elif type_ == "aws:ecs/taskDefinition:TaskDefinition":
            state.update(revision=1, arnWithoutRevision=arn.rsplit(":", 1)[0])
        elif type_ == "aws:secretsmanager/secretVersion:SecretVersion":
            state["versionId"] = f"v-{_short_hash(json.dumps(inputs, sort_keys=True, default=str), 12)}"
        elif type_ == "aws:kms/key:Key":
            state["keyId"] = resource_id
        elif type_ == "aws:acm/certificate:Certificate":
            domain = inputs.get("domainName", "example.com")
            state["domainValidationOptions"] = [{
                "domainName": domain, "resourceRecordName": f"_x1.{domain}.", "resourceRecordType": "CNAME",
                "resourceRecordValue": "_x2.acm-validations.aws."}]
        elif type_ == "aws:iam/role:Role":
            state["uniqueId"] = f"AROA{_short_hash(name, 12).upper()}"
        elif type_ == "aws:sesv2/emailIdentity:EmailIdentity":
            # Easy DKIM: SES issues three tokens for a domain identity (SES Developer Guide, "Easy DKIM").
            state.update(identityType="DOMAIN", verifiedForSendingStatus=False, dkimSigningAttributes={
                "tokens": [_short_hash(f"{name}{i}", 32) for i in range(3)], "status": "PENDING",
                "signingAttributesOrigin": "AWS_SES", "nextSigningKeyLength": "RSA_2048_BIT"})
        return state


def _mock_password(name: str, inputs: dict) -> str:
    """A deterministic password honouring RandomPassword's length and character-set inputs."""
    length = int(inputs.get("length", 32))
    alphabet = ""
    if inputs.get("upper", True):
        alphabet += string.ascii_uppercase
    if inputs.get("lower", True):
        alphabet += string.ascii_lowercase
    if inputs.get("numeric", True):
        alphabet += string.digits
    if inputs.get("special", True):
        alphabet += inputs.get("overrideSpecial", "!@#$%&*()-_=+[]{}<>:?")
    seed = hashlib.sha256(name.encode()).digest()
    while len(seed) < length:
        seed += hashlib.sha256(seed).digest()
    return "".join(alphabet[b % len(alphabet)] for b in seed[:length])


# --------------------------------------------------------------------------- config


def read_project(root: Path) -> dict:
    return yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}


def config_value_to_string(value: Any) -> str:
    """How the Pulumi CLI hands a stack-file value to the program: strings, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def is_secure(value: Any) -> bool:
    """A `secure:` ciphertext as the CLI writes it (a map whose one key is "secure")."""
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def secure_placeholder(key: str) -> str:
    return SECURE_PLACEHOLDERS.get(key, f"secure-placeholder-{key}-" + "x" * 50)


def _with_placeholders(key: str, value: Any, found: list[str]) -> Any:
    """``value`` with every nested ciphertext replaced by a placeholder; ``found`` gets their paths."""
    if is_secure(value):
        found.append(key)
        return secure_placeholder(key)
    if isinstance(value, dict):
        return {k: _with_placeholders(f"{key}.{k}", v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(f"{key}[{i}]", v, found) for i, v in enumerate(value)]
    return value


def load_stack_file(path: Path) -> dict:
    """The parsed stack file; broken YAML is one line naming the file, line and column."""
    from keel.stack_config import StackConfigError

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise StackConfigError([f"{path.name}{where}: {problem}: fix the YAML there (indent nested keys by two "
                                "spaces; quote values with ': ' or '#')"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise StackConfigError([f"{path.name}: allowed a `config:` mapping of keys to values, as `pulumi config set` "
                                "writes it"])
    return document


def read_stack_config(root: Path, project: str, stack: str) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as {"ns:key": string}, and the keys holding secure values (whole or nested)."""
    config, secret_keys, _ = read_stack_file(root, project, stack)
    return config, secret_keys


def read_stack_file(root: Path, project: str, stack: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(config, secret keys, paths of the secure values in it), from Pulumi.<stack>.yaml."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}: run `pulumi stack init {stack}` first")
    document = load_stack_file(path)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    secure_paths: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
        found: list[str] = []
        config[full_key] = config_value_to_string(_with_placeholders(full_key, value, found))
        if found:
            secret_keys.append(full_key)
            secure_paths += found
    return config, secret_keys, secure_paths


def split_path(key: str, project: str) -> tuple[str, list[str | int]]:
    """("keel:web", ["memory"]) from "keel:web.memory", as `pulumi config set --path` reads a key.

    Segments are split on dots; ``["a.b"]`` quotes a segment and ``[0]`` is a list index.
    """
    namespace, _, path = key.rpartition(":") if ":" in key else (project, ":", key)
    segments: list[str | int] = []
    for match in re.finditer(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.\[\]]+)', path):
        quoted, index, plain = match.groups()
        segments.append(quoted if quoted is not None else int(index) if index is not None else plain)
    return f"{namespace}:{segments[0]}", segments[1:]


def coerce(text: str) -> Any:
    """A path value as the CLI stores it: "true"/"false" and base-10 numbers without a leading 0 are typed
    (pulumi/pulumi sdk/go/common/resource/config/object.go ``coerce``)."""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[-+]?[1-9]\d*|[-+]?0", text):
        return int(text)
    return text


def apply_override(config: dict[str, str], secret_keys: list[str], project: str, key: str, value: Any,
                   secret: bool = False) -> None:
    """Set ``key`` the way `pulumi config set [--secret] [--path] KEY VALUE` would, in ``config``."""
    full_key = key if ":" in key else f"{project}:{key}"
    top, segments = split_path(full_key, project) if ("." in full_key or "[" in full_key) else (full_key, [])
    if not segments:
        config[top] = config_value_to_string(value)
    else:
        try:
            root = json.loads(config[top]) if top in config else None
        except json.JSONDecodeError:
            root = None
        root = root if isinstance(root, dict | list) else ({} if isinstance(segments[0], str) else [])
        node = root
        for segment, following in zip(segments, segments[1:] + [None], strict=True):
            if following is None:
                leaf = value if not isinstance(value, str) or secret else coerce(value)
                if isinstance(node, list):
                    node.extend([None] * (segment + 1 - len(node)))
                node[segment] = leaf
                break
            if isinstance(node, list):
                node.extend([None] * (segment + 1 - len(node)))
            if not isinstance(node[segment] if isinstance(node, list) else node.get(segment), dict | list):
                node[segment] = {} if isinstance(following, str) else []
            node = node[segment]
        config[top] = json.dumps(root)
    if secret and top not in secret_keys:
        secret_keys.append(top)


# --------------------------------------------------------------------------- runner


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _type_and_name(urn: str) -> tuple[str, str]:
    """("aws:iam/rolePolicy:RolePolicy", "roles-task") from urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME."""
    qualified_type, name = urn.split("::")[2:4]
    return qualified_type.rsplit("$", 1)[-1], name


def clear_values_in_secret_objects(config: dict[str, str], secret_keys: list[str], secure_paths: list[str],
                                   project: str) -> list[str]:
    """One line per keel:secrets value stored in clear beside encrypted ones.

    Pulumi marks the whole object secret when one of its values is, so the program cannot see which
    were set without --secret; the stack file can.
    """
    key = f"{project}:secrets"
    if key not in secret_keys:
        return []
    try:
        names = json.loads(config[key])
    except (KeyError, json.JSONDecodeError):
        return []
    return [f"{key}.{name} was set without --secret (it sits readable in the stack file): "
            f"use `pulumi config set --secret --path '{key}.{name}' ...`"
            for name in (names if isinstance(names, dict) else {})
            if f"{key}.{name}" not in secure_paths and key not in secure_paths]  # a whole object set --secret


def evaluate_stack(stack: str, overrides: dict[str, Any] | None = None,
                   project_root: str | Path | None = None, raise_errors: bool = True,
                   invokes: dict[str, dict] | None = None,
                   secret_overrides: dict[str, Any] | None = None) -> Evaluation:
    """Run the Pulumi program for ``stack`` under mocks; see the module docstring.

    ``invokes`` answers lookups (provider functions, by token) with what already exists in the
    account, e.g. an existing database; by default the account holds nothing of the stack's yet.
    ``overrides`` and ``secret_overrides`` set keys as `pulumi config set [--secret]` would
    (``keel:web.memory`` as a path, like ``--path``), for this evaluation only.
    """
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    root = Path(project_root) if project_root else repo_root()
    project_doc = read_project(root)
    project = project_doc.get("name", "keel")
    config, secret_keys, secure_paths = read_stack_file(root, project, stack)
    for key, value in (overrides or {}).items():
        apply_override(config, secret_keys, project, key, value)
    for key, value in (secret_overrides or {}).items():
        apply_override(config, secret_keys, project, key, value, secret=True)
        secure_paths.append(key if ":" in key else f"{project}:{key}")
    clear = clear_values_in_secret_objects(config, secret_keys, secure_paths, project)
    region = config.get("aws:region", "us-east-1")
    evaluation = Evaluation(stack=stack, config=dict(config), secret_keys=list(secret_keys))

    mocks = KeelMocks(region, invokes)
    collector = _WarningCollector()
    # Pulumi's mock engine logs program warnings here; each evaluation collects its own.
    logger = logging.getLogger("keel.evaluate.engine")
    logger.propagate = False
    logger.addHandler(collector)

    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi_settings.ROOT.set(None)
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=False, logger=logger)
    pulumi_settings.SETTINGS.outputs.clear()

    captured: dict[tuple[str, str], dict] = {}

    def capture(args):
        parent = getattr(args.opts, "parent", None)
        captured[(args.type_, args.name)] = {
            "parent": getattr(parent, "_name", None),
            "protect": bool(getattr(args.opts, "protect", False)),
            "retain_on_delete": bool(getattr(args.opts, "retain_on_delete", False)),
        }
        return None

    # The dependencies the SDK sends the engine, not what the program asked for: a component's own
    # depends_on never reaches its children, so only this shows what really waits for what.
    engine_dependencies: dict[tuple[str, str], set[str]] = {}
    register = pulumi_mocks.MockMonitor.RegisterResource

    registered_urns: dict[str, tuple[str, str]] = {}  # the mock monitor's URN -> (type, name)
    parents: dict[tuple[str, str], str] = {}  # (type, name) -> the parent's mock URN

    def record_dependencies(monitor, request):
        response = register(monitor, request)
        engine_dependencies[(request.type, request.name)] = {_type_and_name(urn) for urn in request.dependencies}
        registered_urns[response.urn] = (request.type, request.name)
        parents[(request.type, request.name)] = request.parent
        return response

    def qualified_type(key: tuple[str, str]) -> str:
        parent = registered_urns.get(parents.get(key, ""))
        if parent is None or parent[0] == ROOT_STACK_TYPE:  # the root stack's type is left out
            return key[0]
        return f"{qualified_type(parent)}${key[0]}"

    pulumi.runtime.register_stack_transformation(capture)
    main = root / project_doc.get("main", "infra/")
    main_file = main / "__main__.py" if main.is_dir() else main
    infra_dir = str(main_file.parent)
    if infra_dir not in sys.path:
        sys.path.insert(0, infra_dir)

    stack_resource = pulumi_settings.get_root_resource()

    def program():
        runpy.run_path(str(main_file), run_name="__main__")

    pulumi_mocks.MockMonitor.RegisterResource = record_dependencies
    try:
        _sync_await(run_pulumi_func(program))
        outputs = {}
        for key, value in stack_resource.outputs.items():
            outputs[key] = _sync_await(pulumi.Output.from_input(value).future())
        evaluation.outputs = outputs
    except Exception as exc:  # recorded, and re-raised for callers that want it
        evaluation.error = exc
    finally:
        pulumi_mocks.MockMonitor.RegisterResource = register
        logger.removeHandler(collector)
        evaluation.warnings = list(collector.messages)
        pulumi_settings.ROOT.set(None)
    if clear:
        evaluation.error = _config_error(clear, evaluation.error)
    if evaluation.error is not None and raise_errors:
        raise evaluation.error

    for type_, name, inputs, resource_id, arn, custom in mocks.registered:
        meta = captured.get((type_, name), {})
        evaluation.resources.append(ResourceRecord(
            type=type_, name=name, inputs=inputs, id=resource_id, arn=arn,
            urn=f"urn:pulumi:{stack}::{project}::{type_}::{name}",
            engine_urn=f"urn:pulumi:{stack}::{project}::{qualified_type((type_, name))}::{name}",
            parent=meta.get("parent"), dependencies=engine_dependencies.get((type_, name), set()),
            depends_on={dependency for _, dependency in engine_dependencies.get((type_, name), set())},
            protect=meta.get("protect", False), retain_on_delete=meta.get("retain_on_delete", False), custom=custom,
        ))
    # Registration order depends on thread timing; a stable order makes runs comparable.
    evaluation.resources.sort(key=lambda r: (r.type, r.name))
    return evaluation


def _config_error(lines: list[str], error: BaseException | None) -> BaseException:
    """``lines`` first, then the program's own config errors, as one error (one line each)."""
    from keel.stack_config import StackConfigError, _run_error_class

    if error is not None and not isinstance(error, StackConfigError):
        return error  # a program failure is not a config problem: report it as it is
    return _run_error_class()(lines + (error.messages if error is not None else []))


def main(argv: list[str] | None = None) -> int:
    """`python -m keel.evaluate STACK`: print the inventory and outputs (a quick look, no AWS)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m keel.evaluate",
                                     description="Run the Pulumi program for a stack under mocks and print "
                                                 "its resources and outputs (no AWS, no Pulumi CLI).")
    parser.add_argument("stack", nargs="?", default="dev", help="a committed stack: Pulumi.<stack>.yaml (default dev)")
    stack = parser.parse_args(argv).stack
    if not (repo_root() / f"Pulumi.{stack}.yaml").is_file():
        parser.error(f"no Pulumi.{stack}.yaml at the repository root")
    evaluation = evaluate_stack(stack)
    for record in evaluation.resources:
        print(f"{record.type}  {record.name}")
    print(json.dumps(evaluation.outputs, indent=2, default=str))
    for warning in evaluation.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
