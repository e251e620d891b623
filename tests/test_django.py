"""A Django project (sqlite, the admin with its CSRF-protected login, an upload view, a
streamed download) over HTTP/1.1, h2c and HTTP/2 over TLS, driven by httpx."""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import write_certificate
from .helpers import ServerProcess

APP = "tests.django_site.wsgi:application"
WAYS = ["http1", "h2c", "h2-tls"]
MB = 1_000_000


@pytest.fixture(scope="module")
def django_folder(tmp_path_factory) -> Path:
    """Where the database and the TLS files go."""
    return tmp_path_factory.mktemp("django")


@pytest.fixture(scope="module")
def django_env(django_folder) -> dict:
    """A migrated sqlite database with a superuser, and the environment naming it."""
    folder = django_folder
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.django_site.settings",
               FASTH2_DJANGO_DB=str(folder / "db.sqlite3"))
    setup = ("import django; django.setup(); from django.core.management import call_command; "
             "call_command('migrate', verbosity=0); from django.contrib.auth.models import User; "
             "User.objects.create_superuser('admin', 'admin@example.com', 'fasth2-secret')")
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, timeout=120,
                   cwd=os.path.dirname(os.path.dirname(__file__)))
    return env


@pytest.fixture(scope="module")
def django_servers(django_env, django_folder):
    """The project served over cleartext (HTTP/1.1 and h2c) and over TLS."""
    paths = write_certificate(django_folder)
    clear = ServerProcess(APP, env=django_env)
    tls = ServerProcess(APP, "--certfile", str(paths["cert"]), "--keyfile", str(paths["key"]),
                        env=django_env)
    yield {"clear": clear, "tls": tls, "ca": str(paths["ca"])}
    clear.stop()
    tls.stop()


def client_for(servers: dict, way: str) -> tuple[httpx.Client, str]:
    """An httpx client speaking ``way``, and the base URL to use with it."""
    if way == "h2-tls":
        context = ssl.create_default_context(cafile=servers["ca"])
        return httpx.Client(http2=True, verify=context, timeout=60), servers["tls"].url
    http2 = way == "h2c"
    return httpx.Client(http1=not http2, http2=http2, timeout=60), servers["clear"].url


@pytest.mark.parametrize("way", WAYS)
def test_admin_login_with_csrf(django_servers, way):
    client, base = client_for(django_servers, way)
    with client:
        page = client.get(base + "/admin/login/")
        assert page.status_code == 200 and page.http_version == ("HTTP/1.1" if way == "http1" else "HTTP/2")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = client.post(base + "/admin/login/?next=/admin/",
                             data={"csrfmiddlewaretoken": token, "username": "admin",
                                   "password": "fasth2-secret", "next": "/admin/"},
                             headers={"Referer": base + "/admin/login/"})
        assert answer.status_code == 302 and answer.headers["location"] == "/admin/"
        home = client.get(base + "/admin/")
        assert home.status_code == 200 and "Site administration" in home.text
    # Without the token (a fresh client: no cookie either), Django answers 403.
    forger, base = client_for(django_servers, way)
    with forger:
        assert forger.post(base + "/admin/login/", data={"username": "admin"}).status_code == 403


@pytest.mark.parametrize("way", WAYS)
def test_20_mb_upload_through_request_files(django_servers, way):
    payload = os.urandom(20 * MB)
    client, base = client_for(django_servers, way)
    with client:
        answer = client.post(base + "/upload/", files={"file": ("big.bin", payload)},
                             data={"note": "twenty"})
    assert answer.status_code == 200
    assert answer.json() == {"files": {"file": {"size": len(payload),
                                                "sha256": hashlib.sha256(payload).hexdigest()}},
                             "fields": {"note": "twenty"}}


@pytest.mark.parametrize("way", WAYS)
def test_50_mib_streamed_download(django_servers, way):
    client, base = client_for(django_servers, way)
    size = 0
    digest = hashlib.sha256()
    with client, client.stream("GET", base + "/download/?mib=50") as answer:
        assert answer.status_code == 200
        for piece in answer.iter_bytes():
            size += len(piece)
            digest.update(piece)
    assert size == 50 * 2**20
    assert digest.hexdigest() == hashlib.sha256(b"d" * size).hexdigest()


@pytest.mark.parametrize("way", WAYS)
def test_early_401_to_an_upload_reaches_the_client(django_servers, way):
    """Django answers a 10 MB upload with 401 without reading it: the client sees the 401."""
    client, base = client_for(django_servers, way)
    with client:
        answer = client.post(base + "/refuse/", content=b"u" * (10 * MB))
        assert answer.status_code == 401 and answer.text == "log in first\n"
        assert client.get(base + "/admin/login/").status_code == 200  # the client goes on
