"""``invoke image.*``: the platform guard, build, push and the proof of the pushed manifest."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, execute


@task(help={**HELP, "platform": "target platform (default: the environment's, linux/amd64)"})
def check(
    c: Context, env: str | None = None, json_: bool = False, platform: str | None = None
) -> None:
    """Platform guard: daemon, engine OS/arch, host arch, buildx and its platforms."""
    from ..image.engine import check_platform

    execute(c, check_platform, env=env, json_=json_, flags={"platform": platform})


@task(
    help={
        **HELP,
        **AWS_HELP,
        "push": "push the tags after the local platform check",
        "platform": "target platform (default: the environment's, linux/amd64)",
        "tag": "moving tag to push beside the commit tag",
    }
)
def build(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    push: bool = False,
    platform: str | None = None,
    tag: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Build the image for the target platform; refuse a wrong-platform result; optionally push."""
    from ..image.engine import build_and_push

    flags = {"platform": platform, "tag": tag, "profile": profile, "region": region}
    execute(c, lambda rt: build_and_push(rt, push=push), env=env, json_=json_, flags=flags)


@task(help={**HELP, **AWS_HELP, "platform": "target platform", "tag": "moving tag"})
def push(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    platform: str | None = None,
    tag: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Login, build with push, verify; print the pinned repo@sha256 reference."""
    from ..image.engine import push_image

    flags = {"platform": platform, "tag": tag, "profile": profile, "region": region}
    execute(c, push_image, env=env, json_=json_, flags=flags)


@task(
    help={
        **HELP,
        **AWS_HELP,
        "image": "URI[:tag|@digest] to verify (default: the environment's repository and tag)",
        "platform": "platform that must be present (default: linux/amd64)",
    }
)
def verify(
    c: Context,
    image: str | None = None,
    env: str | None = None,
    json_: bool = False,
    platform: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Ask the registry for the manifest or index; exit 0 only if the target platform is there."""
    from ..image.engine import verify_image

    flags = {"platform": platform, "profile": profile, "region": region}
    execute(c, lambda rt: verify_image(rt, image), env=env, json_=json_, flags=flags)
