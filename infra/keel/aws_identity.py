"""Who the release gate and the deploy check act as: the same AWS identity as pulumi-aws.

pulumi-aws decides its identity from its provider configuration (the ``aws:`` keys of the stack,
read by pulumi_aws/config/vars.py; types in pulumi_aws/_inputs.py ``ProviderAssumeRole`` and
``ProviderEndpoint``), then the standard chain (``AWS_*`` variables, shared files, SSO, instance or
OIDC role). ``AwsIdentity`` reads the same keys, travels to the dynamic provider as plain
properties (the role list as a Pulumi secret: it may hold an external ID and a session policy),
and builds the boto3 session the task runner uses:

=========================  ===========================================================================
stack config               what the session does with it
=========================  ===========================================================================
aws:region                 the region of every client
aws:accessKey, aws:secretKey, aws:token
                           static credentials; like pulumi-aws, they come before the environment
                           and the profile (a Pulumi secret in the state, never logged)
aws:profile                the shared-config profile (its own role_arn/source_profile/SSO included)
aws:sharedConfigFiles      the config file read for profiles (one file: boto3 reads one)
aws:sharedCredentialsFiles the credentials file read for profiles (one file)
aws:assumeRoles            each role assumed in order, each with the previous credentials (role
                           chaining); roleArn, sessionName, externalId, duration (Go syntax: 1h,
                           90m), policy, policyArns, tags, transitiveTagKeys, sourceIdentity.
                           Credentials refresh before they expire, so a long release never runs
                           out of them.
aws:stsRegion              the region of the STS calls that assume the roles
aws:endpoints              per-service endpoint URLs; ecs, logs (or cloudwatchlogs/cloudwatchlog)
                           and sts are the ones the gate calls
=========================  ===========================================================================

Nothing secret is ever logged: a failed AssumeRole is reported with the role ARN and AWS's error,
never the external ID or a credential.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Endpoint keys pulumi-aws accepts for the services the gate calls (pulumi_aws/_inputs.py ProviderEndpoint).
ENDPOINT_KEYS = {"ecs": ("ecs",), "logs": ("cloudwatchlogs", "cloudwatchlog", "logs"), "sts": ("sts",)}
ASSUME_ROLE_KEYS = ("roleArn", "sessionName", "externalId", "duration", "policy", "policyArns", "tags",
                    "transitiveTagKeys", "sourceIdentity")
MIN_DURATION, MAX_DURATION = 15 * 60, 12 * 3600  # the provider's documented bounds
GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
DEFAULT_SESSION_NAME = "keel"


class AwsIdentityError(Exception):
    """The identity could not be set up (a role could not be assumed); the message names the key."""


@dataclass(frozen=True)
class AssumeRole:
    """One entry of aws:assumeRoles."""

    role_arn: str
    session_name: str | None = None
    external_id: str | None = None
    duration_seconds: int | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None

    def request(self) -> dict[str, Any]:
        """The STS AssumeRole parameters."""
        request: dict[str, Any] = {"RoleArn": self.role_arn,
                                   "RoleSessionName": self.session_name or f"{DEFAULT_SESSION_NAME}-{int(time.time())}"}
        optional = {"ExternalId": self.external_id, "DurationSeconds": self.duration_seconds, "Policy": self.policy,
                    "SourceIdentity": self.source_identity}
        request.update({k: v for k, v in optional.items() if v})
        if self.policy_arns:
            request["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())]
        if self.transitive_tag_keys:
            request["TransitiveTagKeys"] = list(self.transitive_tag_keys)
        return request

    def to_props(self) -> dict[str, Any]:
        return {"role_arn": self.role_arn, "session_name": self.session_name, "external_id": self.external_id,
                "duration_seconds": self.duration_seconds, "policy": self.policy, "policy_arns": list(self.policy_arns),
                "tags": dict(self.tags), "transitive_tag_keys": list(self.transitive_tag_keys),
                "source_identity": self.source_identity}

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> AssumeRole:
        return cls(role_arn=props["role_arn"], session_name=props.get("session_name"),
                   external_id=props.get("external_id"),
                   duration_seconds=int(props["duration_seconds"]) if props.get("duration_seconds") else None,
                   policy=props.get("policy"), policy_arns=tuple(props.get("policy_arns") or ()),
                   tags=dict(props.get("tags") or {}), transitive_tag_keys=tuple(props.get("transitive_tag_keys") or ()),
                   source_identity=props.get("source_identity"))


@dataclass(frozen=True)
class AwsIdentity:
    """The pulumi-aws provider settings that decide the AWS identity (see the module docstring)."""

    region: str | None = None
    profile: str | None = None
    # Static credentials (aws:accessKey/secretKey/token): {"access_key": ..., "secret_key": ..., "token": ...}.
    credentials: Mapping[str, str] = field(default_factory=dict)
    shared_config_file: str | None = None
    shared_credentials_file: str | None = None
    assume_roles: tuple[AssumeRole, ...] = ()
    endpoints: Mapping[str, str] = field(default_factory=dict)
    sts_region: str | None = None
    # aws:assumeRoleWithWebIdentity: role_arn, session_name, token, token_file, duration_seconds, policy,
    # policy_arns. The base credentials when set (pulumi-aws applies aws:assumeRoles on top of them).
    web_identity: Mapping[str, Any] = field(default_factory=dict)
    # aws:useFipsEndpoint, aws:customCaBundle, aws:httpProxy / aws:httpsProxy: how the clients connect.
    use_fips: bool = False
    ca_bundle: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)

    # --- from the stack's config ------------------------------------------------------------

    @classmethod
    def from_provider_config(cls, raw: Mapping[str, str]) -> tuple[AwsIdentity, list[str]]:
        """The identity from ``{"aws:key": "string"}`` (objects and lists as JSON, the way Pulumi passes
        config to a program), and one line per problem, naming the key and what is allowed."""
        problems: list[str] = []
        config_file = _one_file(raw, "aws:sharedConfigFiles", problems)
        credentials_file = _one_file(raw, "aws:sharedCredentialsFiles", problems)
        roles = tuple(_assume_roles(raw, problems))
        endpoints = _endpoints(raw, problems)
        credentials = _static_credentials(raw, problems)
        web_identity = _web_identity(raw, problems)
        use_fips = str(raw.get("aws:useFipsEndpoint", "false")).strip().lower() == "true"
        proxies = {scheme: raw[key] for scheme, key in (("http", "aws:httpProxy"), ("https", "aws:httpsProxy"))
                   if raw.get(key)}
        identity = cls(region=raw.get("aws:region") or None, profile=raw.get("aws:profile") or None,
                       credentials=credentials, shared_config_file=config_file, shared_credentials_file=credentials_file,
                       assume_roles=roles, endpoints=endpoints, sts_region=raw.get("aws:stsRegion") or None,
                       web_identity=web_identity, use_fips=use_fips, ca_bundle=raw.get("aws:customCaBundle") or None,
                       proxies=proxies)
        return identity, problems

    # --- as properties of the dynamic resources ------------------------------------------------

    def to_props(self) -> dict[str, Any]:
        return {"region": self.region, "profile": self.profile, "credentials": dict(self.credentials),
                "shared_config_file": self.shared_config_file,
                "shared_credentials_file": self.shared_credentials_file,
                "assume_roles": [role.to_props() for role in self.assume_roles],
                "endpoints": dict(self.endpoints), "sts_region": self.sts_region,
                "web_identity": dict(self.web_identity), "use_fips": self.use_fips, "ca_bundle": self.ca_bundle,
                "proxies": dict(self.proxies)}

    @classmethod
    def from_props(cls, props: Mapping[str, Any] | None) -> AwsIdentity:
        props = props or {}
        return cls(region=props.get("region") or None, profile=props.get("profile") or None,
                   credentials={k: v for k, v in (props.get("credentials") or {}).items() if v},
                   shared_config_file=props.get("shared_config_file") or None,
                   shared_credentials_file=props.get("shared_credentials_file") or None,
                   assume_roles=tuple(AssumeRole.from_props(r) for r in props.get("assume_roles") or ()),
                   endpoints=dict(props.get("endpoints") or {}), sts_region=props.get("sts_region") or None,
                   web_identity=dict(props.get("web_identity") or {}), use_fips=bool(props.get("use_fips")),
                   ca_bundle=props.get("ca_bundle") or None, proxies=dict(props.get("proxies") or {}))

    # --- the boto3 session ----------------------------------------------------------------------

    def endpoint(self, service: str) -> str | None:
        """The configured endpoint URL for ecs, logs or sts, if any."""
        return next((self.endpoints[k] for k in ENDPOINT_KEYS.get(service, (service,)) if self.endpoints.get(k)), None)

    def describe(self) -> str:
        """Region, profile and roles for a message (nothing secret)."""
        parts = [f"region {self.region!r}", f"profile {self.profile!r}"]
        if self.credentials:
            parts.append("the access key from aws:accessKey")
        if self.assume_roles:
            parts.append("roles " + " -> ".join(role.role_arn for role in self.assume_roles))
        return ", ".join(parts)

    def session(self) -> Any:
        """A boto3 session acting as pulumi-aws would; AwsIdentityError if a role cannot be assumed."""
        import boto3
        import botocore.session

        core = botocore.session.Session()
        if self.shared_config_file:
            core.set_config_variable("config_file", os.path.expanduser(self.shared_config_file))
        if self.shared_credentials_file:
            core.set_config_variable("credentials_file", os.path.expanduser(self.shared_credentials_file))
        if self.web_identity:
            session = self._web_identity_session(core)
        elif self.credentials:
            session = boto3.session.Session(
                aws_access_key_id=self.credentials["access_key"], aws_secret_access_key=self.credentials["secret_key"],
                aws_session_token=self.credentials.get("token"), botocore_session=core, region_name=self.region)
        else:
            session = boto3.session.Session(botocore_session=core, profile_name=self.profile, region_name=self.region)
        region = session.region_name
        for index, role in enumerate(self.assume_roles):
            session = self._assumed(session, role, index, region)
        return session

    def _assumed(self, base: Any, role: AssumeRole, index: int, region: str | None) -> Any:
        import boto3
        import botocore.session
        from botocore.credentials import RefreshableCredentials
        from botocore.exceptions import BotoCoreError, ClientError

        sts = base.client("sts", region_name=self.sts_region or region, endpoint_url=self.endpoint("sts"))

        def fetch() -> dict[str, str]:
            credentials = sts.assume_role(**role.request())["Credentials"]
            return {"access_key": credentials["AccessKeyId"], "secret_key": credentials["SecretAccessKey"],
                    "token": credentials["SessionToken"], "expiry_time": credentials["Expiration"].isoformat()}

        try:
            credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "keel-assume-role")
        except (ClientError, BotoCoreError) as error:
            raise AwsIdentityError(f"assuming aws:assumeRoles[{index}] {role.role_arn} failed: {_error_text(error)}") from None
        core = botocore.session.Session()
        # botocore has no public setter for a session's credentials; this is the attribute it reads.
        core._credentials = credentials
        return boto3.session.Session(botocore_session=core, region_name=region)

    def _web_identity_session(self, core: Any) -> Any:
        """Credentials from STS AssumeRoleWithWebIdentity (an unsigned call: the token is the proof)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.credentials import RefreshableCredentials
        from botocore.exceptions import BotoCoreError, ClientError

        web = self.web_identity
        sts = boto3.session.Session(botocore_session=core).client(
            "sts", region_name=self.sts_region or self.region, endpoint_url=self.endpoint("sts"),
            config=self.config().merge(Config(signature_version=UNSIGNED)), verify=self.ca_bundle)

        def fetch() -> dict[str, str]:
            token = web.get("token") or open(os.path.expanduser(web["token_file"]), encoding="utf-8").read().strip()
            request = {"RoleArn": web["role_arn"], "WebIdentityToken": token,
                       "RoleSessionName": web.get("session_name") or f"{DEFAULT_SESSION_NAME}-{int(time.time())}"}
            request.update({k: v for k, v in (("DurationSeconds", web.get("duration_seconds")),
                                               ("Policy", web.get("policy"))) if v})
            if web.get("policy_arns"):
                request["PolicyArns"] = [{"arn": arn} for arn in web["policy_arns"]]
            credentials = sts.assume_role_with_web_identity(**request)["Credentials"]
            return {"access_key": credentials["AccessKeyId"], "secret_key": credentials["SecretAccessKey"],
                    "token": credentials["SessionToken"], "expiry_time": credentials["Expiration"].isoformat()}

        try:
            credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "keel-web-identity")
        except (ClientError, BotoCoreError, OSError) as error:
            raise AwsIdentityError(f"aws:assumeRoleWithWebIdentity {web['role_arn']} failed: {_error_text(error)}") \
                from None
        core._credentials = credentials  # botocore has no public setter; this is the attribute it reads
        return boto3.session.Session(botocore_session=core, region_name=self.region)

    def config(self) -> Any:
        """Retries, FIPS endpoints and proxies as the provider config asks."""
        from botocore.config import Config

        return Config(retries={"mode": "standard", "max_attempts": 10}, user_agent_extra="keel",
                      use_fips_endpoint=self.use_fips, proxies=dict(self.proxies) or None)

    def clients(self, *services: str) -> list[Any]:
        """boto3 clients for the services, with their configured endpoints, CA bundle, proxies and
        standard-mode retries (throttling during a long wait is absorbed)."""
        session = self.session()
        return [session.client(service, config=self.config(), endpoint_url=self.endpoint(service),
                               verify=self.ca_bundle) for service in services]


def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response:
        info = response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    return str(error)


def _json(raw: Mapping[str, str], key: str, problems: list[str], allowed: str) -> Any:
    value = raw.get(key)
    if value in (None, ""):
        return None
    try:
        return json.loads(value)
    except ValueError:
        problems.append(f"{key} is not valid: allowed {allowed}")
        return None


def _one_file(raw: Mapping[str, str], key: str, problems: list[str]) -> str | None:
    files = _json(raw, key, problems, "a list of file paths")
    if files is None:
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        problems.append(f"{key} is not valid: allowed a list of file paths, e.g. [\"~/.aws/config\"]")
        return None
    if len(files) > 1:
        problems.append(f"{key} lists {len(files)} files: the release gate and deploy check (boto3) read one; "
                        "merge them into one file or set the profile's file only")
        return None
    return files[0] if files else None


def _static_credentials(raw: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    access_key, secret_key, token = (raw.get(f"aws:{k}") or "" for k in ("accessKey", "secretKey", "token"))
    if bool(access_key) != bool(secret_key):
        missing = "aws:secretKey" if access_key else "aws:accessKey"
        problems.append(f"{missing} is not set: aws:accessKey and aws:secretKey go together "
                        f"(`pulumi config set --secret {missing} ...`), or use a profile")
        return {}
    if not access_key:
        return {}
    return {"access_key": access_key, "secret_key": secret_key, **({"token": token} if token else {})}


def _assume_roles(raw: Mapping[str, str], problems: list[str]) -> list[AssumeRole]:
    roles = _json(raw, "aws:assumeRoles", problems, "a list of {roleArn: ..., ...}")
    if roles is None:
        return []
    if isinstance(roles, dict):
        roles = [roles]
    if not isinstance(roles, list):
        problems.append("aws:assumeRoles is not valid: allowed a list of {roleArn: ..., ...}")
        return []
    found = []
    for index, role in enumerate(roles):
        key = f"aws:assumeRoles[{index}]"
        if not isinstance(role, dict):
            problems.append(f"{key} is not valid: allowed an object with roleArn")
            continue
        unknown = sorted(set(role) - set(ASSUME_ROLE_KEYS))
        if unknown:
            problems.append(f"{key}.{unknown[0]} is not a known key: allowed " + ", ".join(ASSUME_ROLE_KEYS))
        arn = role.get("roleArn")
        if not isinstance(arn, str) or not ROLE_ARN.match(arn):
            problems.append(f"{key}.roleArn = {arn!r} is invalid: allowed an IAM role ARN like "
                            "arn:aws:iam::123456789012:role/deployer")
            continue
        duration = _duration(role.get("duration"), f"{key}.duration", problems)
        found.append(AssumeRole(
            role_arn=arn, session_name=role.get("sessionName") or None, external_id=role.get("externalId") or None,
            duration_seconds=duration, policy=role.get("policy") or None,
            policy_arns=tuple(role.get("policyArns") or ()), tags=dict(role.get("tags") or {}),
            transitive_tag_keys=tuple(role.get("transitiveTagKeys") or ()),
            source_identity=role.get("sourceIdentity") or None))
    return found


def _duration(value: Any, key: str, problems: list[str]) -> int | None:
    """Seconds from a Go duration ("1h", "90m", "1h30m"), within the provider's 15 min to 12 h."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _GO_PART.findall(text)) if GO_DURATION.match(text) else None
    if seconds is None or not MIN_DURATION <= seconds <= MAX_DURATION:
        problems.append(f"{key} = {value!r} is invalid: allowed a duration from 15m to 12h, e.g. 1h")
        return None
    return int(seconds)


WEB_IDENTITY_KEYS = ("roleArn", "sessionName", "webIdentityToken", "webIdentityTokenFile", "duration", "policy",
                     "policyArns")


def _web_identity(raw: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """aws:assumeRoleWithWebIdentity as pulumi-aws reads it (pulumi_aws/_inputs.py)."""
    key = "aws:assumeRoleWithWebIdentity"
    if not raw.get(key):
        return {}
    entry = _json(raw, key, problems, "an object with roleArn and webIdentityToken or webIdentityTokenFile")
    if not isinstance(entry, dict):
        return {}
    unknown = sorted(set(entry) - set(WEB_IDENTITY_KEYS))
    if unknown:
        problems.append(f"{key}.{unknown[0]} is not a known key: allowed " + ", ".join(WEB_IDENTITY_KEYS))
        return {}
    if not ROLE_ARN.match(str(entry.get("roleArn", ""))) or not (entry.get("webIdentityToken") or
                                                                  entry.get("webIdentityTokenFile")):
        problems.append(f"{key} is not valid: allowed an object with roleArn (an IAM role ARN) and "
                        "webIdentityToken or webIdentityTokenFile")
        return {}
    return {"role_arn": entry["roleArn"], "session_name": entry.get("sessionName"),
            "token": entry.get("webIdentityToken"), "token_file": entry.get("webIdentityTokenFile"),
            "duration_seconds": _duration(entry["duration"], f"{key}.duration", problems) if entry.get("duration")
            else None, "policy": entry.get("policy"), "policy_arns": list(entry.get("policyArns") or [])}


def _endpoints(raw: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    entries = _json(raw, "aws:endpoints", problems, "a list of {service: URL}")
    if entries is None:
        return {}
    if isinstance(entries, dict):
        entries = [entries]
    merged: dict[str, str] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else [None]):
        if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
            problems.append(f"aws:endpoints[{index}] is not valid: allowed an object of service: URL, "
                            "e.g. {ecs: \"http://localhost:4566\"}")
            continue
        merged.update(entry)
    return merged
