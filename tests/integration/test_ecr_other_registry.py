"""ECR in another account or region: the token and the API calls of the registry named in the
image reference, against moto over HTTP and a real htpasswd registry.

moto's GetAuthorizationToken answers, per requested registry id, the token ``AWS:<id>-auth-token``
and ``proxyEndpoint`` ``https://<id>.dkr.ecr.<region of the endpoint asked>.amazonaws.com``
(AWS: "proxyEndpoint — The registry URL to use for this authorization token in a docker login
command", GetAuthorizationToken API reference). The "central" registry below accepts only
account 999999999999's token, so a verify passes only when the suite asked for THAT account's
token, in THAT region.

The reference names the real ECR host; name resolution is the one thing faked: ``http_proxy``
sends the Registry HTTP API's plain-HTTP requests for that host to the local registry (Go's
server routes an absolute-form request URI by its path), while ``no_proxy`` keeps moto direct.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tasks.core.config import load_settings
from tasks.core.console import Console
from tasks.core.redact import Redactor
from tasks.image.session import ImageSession
from tasks.local import daemons
from tasks.wiring import runtime_for
from tests.conftest import MOTO_ACCOUNT, ROOT
from tests.helpers import images

pytestmark = pytest.mark.docker

CENTRAL = "999999999999"
CENTRAL_PASSWORD = f"{CENTRAL}-auth-token"  # moto's token for registry id 999999999999
CENTRAL_HOST = f"{CENTRAL}.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture(scope="module")
def central(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, docker_config: Path
) -> Iterator[daemons.Registry]:
    """A registry that takes only the central account's ECR token, holding app:amd64."""
    reg = daemons.start_registry(
        tmp_path_factory.mktemp("central"), daemons.free_port(), {"AWS": CENTRAL_PASSWORD}
    )
    try:
        images.login(reg.host, "AWS", CENTRAL_PASSWORD)
        images.push(images.busybox_image("amd64", f"{reg.host}/app:amd64"))
        subprocess.run(["docker", "logout", reg.host], capture_output=True, check=False)
        yield reg
    finally:
        os.kill(reg.pid, 15)


def _env(aws_env: str, central: daemons.Registry, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RELEASE_ENV": "local",
            "RELEASE_LOCAL_DIR": str(tmp_path / "local"),
            "RELEASE_ACCOUNT": MOTO_ACCOUNT,  # this environment: 123456789012 in us-east-1
            "RELEASE_REGION": "us-east-1",
            "RELEASE_REGISTRY": CENTRAL_HOST,  # ...its images: the central account, eu-west-1
            "RELEASE_REGISTRY_AUTH": "ecr",
            "RELEASE_REGISTRY_INSECURE": "true",
            "RELEASE_REPOSITORY": "app",
            "NO_COLOR": "1",
            "http_proxy": f"http://{central.host}",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    env.pop("RELEASE_REGISTRY_PASSWORD", None)
    return env


def test_verify_uses_the_token_of_the_registry_in_the_reference(
    aws_env: str, central: daemons.Registry, tmp_path: Path
) -> None:
    env = _env(aws_env, central, tmp_path)
    done = subprocess.run(
        ["invoke", "image.verify", "--image", f"{CENTRAL_HOST}/app:amd64", "--json"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["platforms"] == ["linux/amd64"]
    assert str(data["pinned"]).startswith(f"{CENTRAL_HOST}/app@sha256:")
    assert CENTRAL_PASSWORD not in done.stdout + done.stderr


def test_the_token_comes_from_the_registry_account_and_region(aws_env: str) -> None:
    """Each registry's token is asked in its region for its account (FIPS hosts included), and
    cached per account and region."""
    from tasks.image import ecr

    settings = load_settings(
        {"environments": {"x": {"account": MOTO_ACCOUNT, "region": "us-east-1"}}}, env="x"
    )
    rt = runtime_for(settings, Console(redactor=Redactor()), environ=dict(os.environ))
    for host, account, region in (
        (CENTRAL_HOST, CENTRAL, "eu-west-1"),
        (f"{CENTRAL}.dkr.ecr-fips.us-gov-west-1.amazonaws.com", CENTRAL, "us-gov-west-1"),
        (f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", MOTO_ACCOUNT, "us-east-1"),
    ):
        token = ecr.get_token(rt, host)
        assert token.password == f"{account}-auth-token"
        assert token.endpoint == f"https://{account}.dkr.ecr.{region}.amazonaws.com"
    assert len(rt.part(ImageSession).ecr_tokens) == 3  # one per account and region


def test_image_resolution_reads_the_registry_region(aws_env: str) -> None:
    """`release --skip-build` / db.migrate without --image pin the tag with DescribeImages: in the
    registry's region, with its account as registryId (moto: the repository exists only in
    eu-west-1, so the environment's us-east-1 answers RepositoryNotFoundException)."""
    from tasks.release.guards import pinned_image

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": "sha256:" + "a" * 64,
            },
            "layers": [],
        }
    )
    regional = boto3.client("ecr", region_name="eu-west-1", endpoint_url=aws_env)
    regional.create_repository(repositoryName="app")
    pushed = regional.put_image(repositoryName="app", imageManifest=manifest, imageTag="v1")
    digest = pushed["image"]["imageId"]["imageDigest"]
    registry = f"{MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    raw = {
        "environments": {
            "x": {
                "account": MOTO_ACCOUNT,
                "region": "us-east-1",
                "registry": registry,
                "repository": "app",
                "tag": "v1",
                "endpoint_url": aws_env,
            }
        }
    }
    rt = runtime_for(load_settings(raw, env="x"), Console(redactor=Redactor()))
    assert pinned_image(rt) == f"{registry}/app@{digest}"
    # setup and doctor look for the repository there too
    from tasks.provision.facts import read_image
    from tasks.provision.setup.reader import _repository_exists

    assert _repository_exists(rt, "app")
    facts = read_image(rt)
    assert facts.repository_exists and facts.tag_exists and facts.digest == digest
