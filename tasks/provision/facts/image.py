"""Reads of the migration image in ECR: repository, tag, manifest and config blob."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import replace

from ...core.runtime import Runtime
from ...image.registry import MANIFEST_TYPES, platform_of_config, platforms_of_manifest
from ..doctor import (
    ImageFacts,
)
from .calls import read_or_code

Fetch = Callable[[str], bytes]


def fetch_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=15) as response:
        return bytes(response.read(1_000_000))


def read_image(rt: Runtime, fetch: Fetch = fetch_url) -> ImageFacts:
    s = rt.settings
    if not s.repository:
        return ImageFacts(error="no repository configured")
    from ...image.ecr import client_for

    ecr, registry_id = client_for(rt)  # the registry's own account and region
    owner = {"registryId": registry_id} if registry_id else {}
    found, code = read_or_code(
        lambda: ecr.describe_repositories(**owner, repositoryNames=[s.repository])
    )
    if found is None:
        return ImageFacts() if code == "RepositoryNotFoundException" else ImageFacts(error=code)
    got, code = read_or_code(
        lambda: ecr.batch_get_image(
            **owner,
            repositoryName=s.repository,
            imageIds=[{"imageTag": s.tag}],
            acceptedMediaTypes=MANIFEST_TYPES,
        )
    )
    if got is None:
        return ImageFacts(repository_exists=True, error=code)
    images = got.get("images") or []
    if not images:
        return ImageFacts(repository_exists=True)
    image = images[0]
    manifest = json.loads(image.get("imageManifest") or "{}")
    media_type = str(image.get("imageManifestMediaType") or manifest.get("mediaType") or "")
    base = ImageFacts(
        repository_exists=True,
        tag_exists=True,
        digest=str((image.get("imageId") or {}).get("imageDigest", "")),
        media_type=media_type,
    )
    platforms = platforms_of_manifest(manifest)
    if platforms is not None:
        return replace(base, platforms=platforms)
    config_digest = str((manifest.get("config") or {}).get("digest", ""))
    if not config_digest:
        return replace(base, note="the manifest names no config blob")
    url, code = read_or_code(
        lambda: ecr.get_download_url_for_layer(
            **owner, repositoryName=s.repository, layerDigest=config_digest
        )
    )
    if url is None:
        return replace(base, note=f"config blob unreadable: {code}")
    try:
        config = json.loads(fetch(str(url["downloadUrl"])))
    except (OSError, ValueError) as err:
        return replace(base, note=f"config blob unreadable: {type(err).__name__}")
    found_platform = platform_of_config(config)
    return replace(base, platforms=(found_platform,) if found_platform else None)
