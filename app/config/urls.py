"""URLs. /healthz and /readyz never reach this: config.middleware.HealthMiddleware answers them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("documents.urls")),
]
