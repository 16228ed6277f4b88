"""The inbox pages without a browser: sign-in, CSRF, role filter, escaping, security headers."""

from __future__ import annotations

import re

from tests.service.conftest import drain
from tests.service.test_api import large_refund_waiting, say, start


def sign_in(client, token):
    csrf = page_csrf(client.get("/inbox/login").text)
    return client.post("/inbox/login", data={"token": token, "csrf": csrf}, follow_redirects=False)


def page_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/inbox", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/inbox/login"
    assert client.get("/inbox/lists").status_code == 401


def test_sign_in_needs_a_supervisor_token_and_the_form_token(client, tokens):
    assert sign_in(client, tokens.app).headers["location"].endswith("failed=true")
    assert sign_in(client, "sat_wrong").headers["location"].endswith("failed=true")
    client.cookies.clear()
    forged = client.post(
        "/inbox/login", data={"token": tokens.lead, "csrf": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403
    ok = sign_in(client, tokens.lead)
    assert ok.status_code == 303 and ok.headers["location"] == "/inbox"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and tokens.lead not in cookie


def test_inbox_shows_requests_for_the_supervisors_roles_and_decides_with_csrf(client, tokens, shop):
    _cid, rid = large_refund_waiting(client, tokens)
    sign_in(client, tokens.clerk)
    clerk_page = client.get("/inbox")
    assert "Nothing waits for you" in clerk_page.text and rid not in clerk_page.text
    forbidden = client.post(
        f"/inbox/requests/{rid}/decide",
        data={"decision": "approve", "csrf": page_csrf(clerk_page.text)},
    )
    assert forbidden.status_code == 404
    client.cookies.clear()
    sign_in(client, tokens.lead)
    page = client.get("/inbox")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "Refund $600.00 on order #1001 to the card" in page.text and "$600.00" in page.text
    assert "Refunds over $500 need a team lead." in page.text
    no_csrf = client.post(
        f"/inbox/requests/{rid}/decide", data={"decision": "approve", "csrf": "x"}
    )
    assert no_csrf.status_code == 403
    csrf = page_csrf(page.text)
    no_reason = client.post(
        f"/inbox/requests/{rid}/decide", data={"decision": "deny", "csrf": csrf}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    done = client.post(
        f"/inbox/requests/{rid}/decide",
        data={"decision": "approve", "csrf": csrf, "reason": "checked"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and f"decided={rid}" in done.headers["location"]
    assert drain(shop) == 1
    detail = client.get(f"/inbox/requests/{rid}")
    assert "approved" in detail.text and "on its way" in detail.text


def test_customer_markup_is_shown_as_text(client, tokens):
    cid = start(client, tokens)
    say(client, tokens, cid, "<script>alert(1)</script> refund $600 on order #1001")
    say(client, tokens, cid, "yes")
    sign_in(client, tokens.lead)
    html = client.get("/inbox").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
