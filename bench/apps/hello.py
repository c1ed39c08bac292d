"""The limit: a bare WSGI callable with no framework, served by the same gunicorn.

``/healthz`` answers a constant; ``/db`` runs the same query as the baselines' JSON view
with plain psycopg on one connection per worker process, and returns the rows as JSON.
"""

import json
import os

_conn = None
QUERY = "SELECT id, username, date_joined FROM auth_user ORDER BY id LIMIT 20"


def _rows():
    global _conn
    if _conn is None:
        import psycopg

        _conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    with _conn.cursor() as cur:
        cur.execute(QUERY)
        return [{"id": i, "username": u, "date_joined": d.isoformat()} for i, u, d in cur.fetchall()]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.rstrip("/") == "/healthz":
        body = b"ok"
        ctype = "text/plain"
    elif path.rstrip("/") == "/db":
        body = json.dumps({"results": _rows()}).encode()
        ctype = "application/json"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
