"""httpx over HTTP/2 against a Flask application served by fasth2."""

from __future__ import annotations

import httpx
import pytest

from .helpers import ServerProcess


@pytest.fixture(scope="module")
def client():
    """An HTTP/2-only (prior knowledge) httpx client on the Flask app."""
    process = ServerProcess("tests.flask_app:app")
    with httpx.Client(base_url=process.url, http1=False, http2=True, timeout=10) as http:
        yield http
    process.stop()


def test_routing(client):
    response = client.get("/users/42")
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200 and response.text == "user 42"
    assert client.get("/users/nope").status_code == 404
    assert client.post("/users/42").status_code == 405


def test_query_string(client):
    response = client.get("/search", params=[("q", "h2 server"), ("tag", "a"), ("tag", "b")])
    assert response.json() == {"q": "h2 server", "tags": ["a", "b"]}


def test_cookies_round_trip(client):
    response = client.get("/cookies/set")
    assert sorted(response.headers.get_list("set-cookie"))[0].startswith("session=abc123")
    assert len(response.headers.get_list("set-cookie")) == 2
    # httpx sends the jar as one header; split crumbs are tested with the raw client.
    assert client.get("/cookies").json() == {"session": "abc123", "theme": "dark"}


def test_form_post_with_file(client):
    response = client.post("/form", data={"name": "Ada"},
                           files={"file": ("notes.txt", b"file contents", "text/plain")})
    assert response.json() == {"name": "Ada", "file": "file contents"}


def test_json_api(client):
    created = client.post("/api/items", json={"title": "write tests", "done": False})
    assert created.status_code == 201
    item_id = created.json()["id"]
    fetched = client.get(f"/api/items/{item_id}")
    assert fetched.json() == {"title": "write tests", "done": False}
    assert client.get("/api/items/9999").status_code == 404


def test_streamed_response(client):
    with client.stream("GET", "/stream") as response:
        lines = list(response.iter_lines())
    assert lines == [f"line {i}" for i in range(100)]
