"""URLs. /healthz and /readyz never reach this: config.middleware.HealthMiddleware answers them."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control

# Sign-in, sign-out, password change and reset. The reset email goes out through EMAIL_URL
# (config/email.py); its templates are app/templates/registration/password_reset_*.
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", auth_views.PasswordResetView.as_view(
        email_template_name="registration/password_reset_email.txt"), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]



@cache_control(max_age=86_400, public=True)
def no_icon(request):
    """Browsers ask every site for /favicon.ico: "no content" instead of a 404 in every console."""
    return HttpResponse(status=204)


urlpatterns = [
    path("favicon.ico", no_icon),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("", include("documents.urls")),
]

# Django's error pages, except under /api/, where every error is JSON (documents.api).
handler400 = "documents.api.bad_request"
handler403 = "documents.api.permission_denied"
handler404 = "documents.api.page_not_found"
handler500 = "documents.api.server_error"
