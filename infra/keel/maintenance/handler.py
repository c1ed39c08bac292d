"""Answers every request the load balancer forwards in maintenance mode: our 503 page, Retry-After.

Runs as a Lambda function behind the load balancer (ELB docs, "Lambda functions as targets": the
response is statusCode, statusDescription, headers, body and isBase64Encoded). Standard library
only: the function is this file and page.html, nothing else.
"""

import os

PAGE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html"), encoding="utf-8").read()


def handler(event, context):
    """The 503 page for any request; HEAD gets the headers alone."""
    return {
        "statusCode": 503,
        "statusDescription": "503 Service Unavailable",
        "isBase64Encoded": False,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            # Clients and crawlers come back after this many seconds (RFC 9110, 10.2.3).
            "Retry-After": os.environ.get("RETRY_AFTER_SECONDS", "300"),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
        "body": "" if (event or {}).get("httpMethod") == "HEAD" else PAGE,
    }
