"""URLs. /healthz and /readyz never reach this: config.middleware.HealthMiddleware answers them."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

# Sign-in, sign-out and password change. No password-reset views: they would report "sent" for
# mail that nothing can deliver (the contract has no email backend); admins reset passwords.
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("", include("documents.urls")),
]
