"""The account pages are the app's own (styled like it), not the admin's."""

from __future__ import annotations

import pytest

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple gun orbit 42"


@pytest.mark.django_db
def test_password_change_is_the_apps_page_and_changes_the_password(client, django_user_model):
    user = django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    client.force_login(user)

    page = client.get("/accounts/password_change/").content.decode()
    assert "<h2>Change your password</h2>" in page and "Django administration" not in page
    wrong = client.post("/accounts/password_change/", {
        "old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert wrong.status_code == 200 and 'class="errorlist"' in wrong.content.decode()
    done = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)

    assert done.redirect_chain[-1][0] == "/accounts/password_change/done/"
    assert "Your password is changed" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
