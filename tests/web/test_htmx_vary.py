"""One URL answers htmx with a fragment and a browser with the page: both say so in Vary."""

from __future__ import annotations

from pathlib import Path

from django.test import Client

from offsetsite.core.htmx import is_htmx


def test_page_and_fragment_both_vary_on_hx_request(engine_dir: Path, db: object) -> None:
    client = Client()
    page = client.get("/")
    fragment = client.get("/", headers={"HX-Request": "true", "HX-Target": "overview-tables"})
    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.content.decode() and "<html" not in fragment.content.decode()
    for response in (page, fragment):
        assert "HX-Request" in response["Vary"]


def test_is_htmx_before_the_middleware_ran() -> None:
    from django.test import RequestFactory

    assert is_htmx(RequestFactory().get("/", headers={"HX-Request": "true"})) is False


def test_the_login_page_offers_no_login_link_to_itself(db: object) -> None:
    """Its own "Log in" link sent next=/login/, which logged in back onto the login page."""
    body = Client().get("/login/?next=/groups/g/").content.decode()
    assert "next=/login/" not in body and "next=%2Flogin%2F" not in body
    assert 'name="next" value="/groups/g/"' in body
