"""rediss:// end to end against a real TLS Redis: cache, sessions, broker and results verify the
server certificate (a private redis-server on loopback with a throwaway CA)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from .helpers import app_env, free_port, run_app

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("redis-server")), reason="needs openssl and redis-server"
)

PROBE = """
import json
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.core.cache import caches
from config.celery import app
from config.health import check_broker

def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return "error: " + type(exc).__name__ + ": " + str(exc)

def cache(alias):
    caches[alias].set("keel:tls", "ok", 30)
    return caches[alias].get("keel:tls")

def broker():
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        return "ok"

def results():
    app.backend.set("keel:tls", "ok", max_retries=0)  # fail fast, not after 20 reconnects
    return app.backend.get("keel:tls").decode()

print(json.dumps({
    "cache": attempt(lambda: cache("default")),
    "sessions": attempt(lambda: cache("sessions")),  # fail-soft: None if TLS failed
    "broker": attempt(broker),
    "results": attempt(results),
    "readiness": attempt(lambda: check_broker() or "ok"),
}))
"""


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    certs = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "1", "-subj", "/CN=keel-test-ca", cwd=certs)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=certs)
    (certs / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "1", "-extfile", "ext", cwd=certs)
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt",
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
        cwd=certs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        from .helpers import wait_for_port

        wait_for_port(port, server, timeout=20)
        yield port, certs / "ca.crt"
    finally:
        server.terminate()
        server.wait(timeout=10)


def probe(redis_url: str) -> dict:
    result = run_app([sys.executable, "-c", PROBE], app_env(REDIS_URL=redis_url, CELERY_BROKER_URL=None))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_rediss_with_required_certificates_works_for_every_redis_user(tls_redis):
    port, ca = tls_redis
    outcome = probe(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}")

    assert outcome == {"cache": "ok", "sessions": "ok", "broker": "ok", "results": "ok", "readiness": "ok"}


def test_an_untrusted_certificate_is_refused(tls_redis):
    port, _ = tls_redis
    outcome = probe(f"rediss://127.0.0.1:{port}/0")  # ssl_cert_reqs defaults to required; CA unknown

    for name in ("cache", "broker", "results", "readiness"):
        assert "certificate verify failed" in outcome[name], (name, outcome[name])
