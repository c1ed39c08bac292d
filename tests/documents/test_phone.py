"""The sample pages on a 375-px-wide phone, in a real browser: no sideways scrolling, readable text.

Chromium (headless, Debian's) emulates a phone through the DevTools protocol: a 375 x 812 CSS-pixel
viewport at 2x, mobile mode, so the page's viewport meta tag applies as on a real phone. A page wider
than the screen shows up as a document scrollWidth above 375 (mobile Chromium then widens the layout
viewport and zooms out, shrinking the text).
"""

from __future__ import annotations

import os

import pytest
from django.test import Client
from django.utils import timezone
from documents.models import Document

from tests.app.helpers import web_process
from tests.chromium import Tab

PHONE = {"width": 375, "height": 812, "mobile": True, "scale": 2}
MIN_FONT_PX = 14  # smallest text size readable on a phone without zooming

# For every element with its own visible text: its font size; and the document's widths.
MEASURE = """(() => {
  const sizes = [];
  for (const element of document.body.querySelectorAll('*')) {
    const own = [...element.childNodes].some(node => node.nodeType === 3 && node.textContent.trim());
    const box = element.getBoundingClientRect();
    if (own && box.width > 0 && box.height > 0) {
      sizes.push([parseFloat(getComputedStyle(element).fontSize), element.tagName + ': ' + element.textContent.trim().slice(0, 40)]);
    }
  }
  sizes.sort((a, b) => a[0] - b[0]);
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, smallest: sizes.slice(0, 3)};
})()"""

LONG_NAME = "Quarterly-report_of_the_north-eastern-region_2026-12-07_final-final_v3.xlsx"


@pytest.fixture
def user_with_documents(django_user_model):
    user = django_user_model.objects.create_user("margaret.hamilton", "margaret@example.com")
    for number in range(3):
        Document.objects.create(
            owner=user, file=f"documents/{user.pk}/{number}/{LONG_NAME}", original_name=LONG_NAME,
            size=12_345_678, sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            status=Document.Status.PROCESSED, processed_at=timezone.now())
    Document.objects.create(owner=user, file=f"documents/{user.pk}/9/x.bin", original_name="broken.bin",
                            status=Document.Status.FAILED, error="The file could not be read " * 5)
    return user


def _signed_in_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)  # committed, so the web process sees the user and documents
def test_sample_pages_fit_a_375_px_phone_with_readable_text(user_with_documents):
    signed_in = ["/", "/?page=1", "/accounts/password_change/"]
    anonymous = ["/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/",
                 "/accounts/reset/MQ/not-a-token/", "/accounts/reset/done/"]
    shots = os.environ.get("KEEL_PHONE_SHOTS")  # a folder: save what the phone shows, to look at
    problems = []
    with web_process(DJANGO_HTTPS="false") as (base, _), Tab(**PHONE) as tab:
        tab.set_cookie("sessionid", _signed_in_cookie(user_with_documents), base)
        for path in signed_in + ["clear"] + anonymous:
            if path == "clear":
                tab.call("Network.clearBrowserCookies")
                continue
            tab.goto(base + path)
            measured = tab.evaluate(MEASURE)
            if shots:
                tab.screenshot(os.path.join(shots, path.strip("/").replace("/", "_").replace("?", "_") + ".png"))
            if measured["scrollWidth"] > PHONE["width"] or measured["innerWidth"] != PHONE["width"]:
                problems.append(f"{path}: {measured['scrollWidth']} px wide")
            if measured["smallest"] and measured["smallest"][0][0] < MIN_FONT_PX:
                problems.append(f"{path}: text at {measured['smallest'][0]}")
    assert problems == [], "\n".join(problems)
