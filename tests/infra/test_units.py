"""The small pure helpers the program is built from: Procfile, URLs, subnets, config reading."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from keel import procfile, urls
from keel.components.network import subnet_cidrs
from keel.evaluate import evaluate_stack, read_stack_config
from keel.outputs import PROCESSES

from tests.infra.conftest import evaluated


def test_procfile_lines_become_exec_argv():
    assert procfile.parse("# comment\n\nweb: gunicorn --bind '0.0.0.0:8000' config.wsgi\n") == {
        "web": ["gunicorn", "--bind", "0.0.0.0:8000", "config.wsgi"]}


def test_the_repository_procfile_defines_every_process():
    assert set(PROCESSES) <= set(procfile.commands(required=PROCESSES))


@pytest.mark.parametrize("text, expected", [
    ("web gunicorn app", "expected `name: command`"),
    ("web: gunicorn && migrate", "shell syntax"),
    ("web: echo $PORT", "shell syntax"),
    ("web: a\nweb: b", "defined twice"),
])
def test_procfile_mistakes_are_named(text, expected):
    with pytest.raises(procfile.ProcfileError, match=expected):
        procfile.parse(text)


def test_procfile_missing_process_is_named(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("web: gunicorn config.wsgi\n")
    with pytest.raises(procfile.ProcfileError, match="no process release, worker"):
        procfile.commands(path, required=("release", "web", "worker"))


def test_urls_quote_credentials_and_carry_tls_parameters():
    url = urls.postgres_url("keel_admin", "p@ss/w:rd?#", "db.internal", 5432, "keel")
    parts = urlsplit(url)
    assert parts.hostname == "db.internal" and parts.port == 5432 and parts.path == "/keel"
    assert parts.query == "sslmode=require" and "p@ss" not in url
    redis = urls.redis_url("tok/en", "cache.internal", 6379)
    assert redis == "rediss://:tok%2Fen@cache.internal:6379/0?ssl_cert_reqs=required"
    assert urls.with_database(redis, 1) == "rediss://:tok%2Fen@cache.internal:6379/1?ssl_cert_reqs=required"
    assert urls.url_port("postgres://a@h/db", 5432) == 5432 and urls.url_port("redis://h:7000/0", 6379) == 7000


def test_a_url_without_a_password_keeps_the_user():
    assert urls.postgres_url("u", None, "h", 5432, "d") == "postgres://u@h:5432/d?sslmode=require"
    assert urls.postgres_url("u", "p w", "h", 5432, "d") == "postgres://u:p%20w@h:5432/d?sslmode=require"


def test_subnets_do_not_overlap_and_leave_room_to_grow():
    public, private = subnet_cidrs("10.30.0.0/16", 3)
    assert public == ["10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"]
    assert private == ["10.30.128.0/20", "10.30.144.0/20", "10.30.160.0/20"]


def test_stack_file_values_reach_the_program_as_pulumi_passes_them(tmp_path):
    (tmp_path / "Pulumi.qa.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  keel:execEnabled: false\n  keel:azCount: 3\n"
        "  keel:web:\n    cpu: 512\n  plainKey: x\n")
    config, secret_keys = read_stack_config(tmp_path, "keel", "qa")
    assert config == {"aws:region": "eu-west-1", "keel:execEnabled": "false", "keel:azCount": "3",
                      "keel:web": '{"cpu": 512}', "keel:plainKey": "x"}
    assert secret_keys == []


def test_missing_stack_file_says_how_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="pulumi stack init qa"):
        read_stack_config(tmp_path, "keel", "qa")


def test_evaluations_are_deterministic_and_isolated():
    first = evaluated("dev")
    other = evaluate_stack("dev", overrides={"keel:azCount": "3"})
    again = evaluate_stack("dev")
    assert [(r.type, r.name, r.id, r.arn) for r in first.resources] == \
        [(r.type, r.name, r.id, r.arn) for r in again.resources]
    assert len(other.by_type("aws:ec2/subnet:Subnet")) == 6 and len(again.by_type("aws:ec2/subnet:Subnet")) == 4
    assert first.outputs == again.outputs
