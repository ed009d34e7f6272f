"""The v2 client against a tiny in-process registry that speaks Bearer auth and redirects blobs."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks.core.errors import RegistryError
from tasks.core.references import parse_image
from tasks.image.registry import Credentials, RegistryClient, inspect

CONFIG = json.dumps({"os": "linux", "architecture": "arm64", "variant": "v8"}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": CONFIG_DIGEST, "size": len(CONFIG)},
        "layers": [],
    }
).encode()
SEEN: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        SEEN.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        port = self.server.server_address[1]
        if self.path.startswith("/token"):
            good = "Basic " + base64.b64encode(b"u:p").decode()
            if self.headers.get("Authorization") != good:
                self.send_response(401)
                self.end_headers()
                return
            self._json({"token": "tkn"})
        elif self.path.startswith("/storage/"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(CONFIG)
        elif self.headers.get("Authorization") != "Bearer tkn":
            self.send_response(401)
            realm = f"http://127.0.0.1:{port}/token"
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="{realm}",service="reg",scope="repository:app:pull"',
            )
            self.end_headers()
        elif self.path == "/v2/app/manifests/v1":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
            self.end_headers()
            self.wfile.write(MANIFEST)
        elif self.path == f"/v2/app/blobs/{CONFIG_DIGEST}":
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{port}/storage/blob")
            self.end_headers()
        else:
            self.send_response(404)
            self._body({"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    def _json(self, data: object) -> None:
        self.send_response(200)
        self._body(data)

    def _body(self, data: object) -> None:
        raw = json.dumps(data).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    SEEN.clear()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_bearer_flow_single_manifest_and_redirect_drops_auth(server: str) -> None:
    client = RegistryClient(server, credentials=Credentials("u", "p"))
    info = inspect(client, parse_image(f"{server}/app:v1"))
    assert [str(p) for p in info.platforms] == ["linux/arm64"] and not info.is_index
    assert info.digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    storage = [s for s in SEEN if s["path"].startswith("/storage/")]
    assert storage and storage[0]["auth"] == ""  # credentials never follow a redirect to storage


def test_bad_credentials_for_token(server: str) -> None:
    client = RegistryClient(server, credentials=Credentials("u", "wrong"))
    with pytest.raises(RegistryError) as err:
        inspect(client, parse_image(f"{server}/app:v1"))
    assert "refused a token" in err.value.message


def test_unknown_manifest(server: str) -> None:
    client = RegistryClient(server, credentials=Credentials("u", "p"))
    with pytest.raises(RegistryError) as err:
        inspect(client, parse_image(f"{server}/app:v2"))
    assert "not found" in err.value.message
