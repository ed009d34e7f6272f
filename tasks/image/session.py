"""What the image stage keeps for one run (``rt.part(ImageSession)``): the resolved engine,
its SDK client, the buildx facts, the platform assessment of ``image.check``, the throw-away
DOCKER_CONFIG of the suite's own logins, and the ECR tokens per account and region."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: keeps the start-up of every task free of these modules
    from .dockerapi import DockerApi
    from .dockerhost import Endpoint
    from .ecr import EcrToken
    from .plan import Assessment, BuildxFacts


@dataclass
class ImageSession:
    endpoint: Endpoint | None = None
    docker: DockerApi | None = None
    buildx: BuildxFacts | None = None
    assessment: Assessment | None = None
    private_docker_config: str | None = None
    ecr_tokens: dict[tuple[str, str], EcrToken] = field(default_factory=dict)
