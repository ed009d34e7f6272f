"""The migration image in ECR: repository, tag and the platforms it holds."""

from __future__ import annotations

from ...core.platforms import describe
from ..requirements import (
    image_uri,
)
from .models import FAIL, PASS, WARN, Check, Facts


def check_image(f: Facts) -> Check:
    s, img = f.settings, f.image
    ref = image_uri(s)
    if img.error:
        return Check(
            "ecr_image",
            WARN,
            f"cannot read {ref}: {img.error}",
            "allow ecr:DescribeRepositories and ecr:BatchGetImage for doctor",
        )
    if not img.repository_exists:
        return Check(
            "ecr_image",
            FAIL,
            f"ECR repository {s.repository!r} does not exist in {s.region}",
            f"aws ecr create-repository --repository-name {s.repository}, then push the image "
            f"(`invoke release --env {s.env}`)",
        )
    if not img.tag_exists:
        return Check(
            "ecr_image",
            FAIL,
            f"{ref} does not exist (no image tagged {s.tag!r})",
            f"build and push it for {s.platform} (`invoke release --env {s.env}`)",
        )
    if img.platforms is None:
        return Check(
            "ecr_image",
            WARN,
            f"{ref} is a single-arch image; its platform is unverified via the API"
            + (f" ({img.note})" if img.note else ""),
            f"push a multi-platform index, or verify with the registry "
            f"(docker buildx imagetools inspect {ref})",
            (img.media_type,),
        )
    if any(s.platform.matches(p) for p in img.platforms):
        return Check(
            "ecr_image",
            PASS,
            f"{ref} holds {s.platform}",
            evidence=(img.digest, describe(img.platforms)),
        )
    return Check(
        "ecr_image",
        FAIL,
        f"{ref} holds {describe(img.platforms)}, not {s.platform} (CodeBuild runs x86_64: "
        "exec format error)",
        f"rebuild and push for {s.platform}: `invoke release --env {s.env}` (or docker buildx build "
        f"--platform {s.platform} --push)",
        (img.digest,),
    )
