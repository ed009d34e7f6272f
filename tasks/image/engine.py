"""Docker side of the image stage: engine facts, build, local platform check, push, verify.

Engine facts and local image inspection use the Docker SDK (imported lazily); build, push and
login use the docker CLI (buildx exists only as a CLI plugin, and the CLI owns the credential
store). Decisions live in ``image.plan`` (pure); this module gathers facts and acts.
"""

from __future__ import annotations

import contextlib
import platform as host_platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.errors import CommandFailed, DockerUnavailable, PlatformMismatch, UsageError
from ..core.platforms import Platform, from_fields
from ..core.references import ImageRef, parse_image
from ..core.retrying import retrying
from ..core.runtime import Runtime
from . import dockerconfig, dockerhost, ecr, registry
from .dockerapi import DockerApi
from .plan import (
    BuildxFacts,
    EngineFacts,
    assess,
    build_argv,
    commit_tag,
    engine_error_reason,
    parse_buildx_inspect,
    plan_tags,
)
from .session import ImageSession


# -- facts ----------------------------------------------------------------------------------
def docker_endpoint(rt: Runtime) -> dockerhost.Endpoint:
    """The engine the docker CLI would use here (DOCKER_HOST with TLS, the context...)."""
    session = rt.part(ImageSession)
    if session.endpoint is None:
        session.endpoint = dockerhost.resolve(rt.environ)
    return session.endpoint


def sdk_client(endpoint: dockerhost.Endpoint, *, timeout: int = 30) -> DockerApi:
    """A Docker SDK client for ``endpoint`` (its first request asks for the API version).

    The SDK is untyped (``Any`` to mypy): each client is bound to a ``DockerApi`` name before
    it leaves, so no ``Any`` flows out of this function."""
    import docker
    from docker.tls import TLSConfig

    client: DockerApi
    if endpoint.host.startswith("ssh://"):
        # the CLI connects with the ssh binary (`ssh HOST docker system dial-stdio`), so
        # ~/.ssh/config, agents and known_hosts apply; the SDK does the same with this flag
        client = docker.DockerClient(base_url=endpoint.host, use_ssh_client=True, timeout=timeout)
        return client
    if endpoint.tls is None:
        client = docker.DockerClient(base_url=endpoint.host, tls=False, timeout=timeout)
        return client
    files = endpoint.tls
    client_cert = (files.cert, files.key) if files.cert and files.key else None
    verify: Any = (files.ca or True) if files.verify else False
    tls = TLSConfig(client_cert=client_cert, ca_cert=files.ca or None, verify=verify)
    pinned = files.ca if files.verify and files.ca else None

    class _PinnedCa(docker.APIClient):  # type: ignore[misc]
        """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set in many CI images) replace a
        session's CA file on every request (psf/requests#3829), and the engine's own CA is then
        not trusted. The docker CLI trusts exactly ca.pem: keep it, proxies still from env."""

        def merge_environment_settings(self, *args: Any) -> Any:
            settings = super().merge_environment_settings(*args)
            if pinned:
                settings["verify"] = pinned
            return settings

    pinned_client = docker.DockerClient.__new__(docker.DockerClient)
    pinned_client.api = _PinnedCa(base_url=endpoint.host, tls=tls, timeout=timeout)
    client = pinned_client
    return client


def docker_client(rt: Runtime) -> DockerApi:
    """A Docker SDK client for the resolved endpoint, or DockerUnavailable naming it."""
    session = rt.part(ImageSession)
    if session.docker is not None:
        return session.docker
    endpoint = docker_endpoint(rt)
    try:
        client = sdk_client(endpoint, timeout=30)
        client.ping()
    except Exception as exc:
        raise _unavailable(endpoint, exc) from None
    session.docker = client
    return client


def _unavailable(endpoint: dockerhost.Endpoint, exc: BaseException) -> DockerUnavailable:
    where = endpoint.describe()
    detail = engine_error_reason(str(exc)) or type(exc).__name__
    tls = dockerhost.tls_reason(str(exc))
    if tls:
        files = endpoint.tls
        used = (
            f"CA {files.ca or 'none'}, client certificate {files.cert or 'none'}"
            if files is not None
            else "no TLS files"
        )
        return DockerUnavailable(
            f"TLS to the Docker daemon at {where} failed: {tls} ({used})",
            "use the CA and client certificate issued for this engine (DOCKER_CERT_PATH with "
            "ca.pem, cert.pem, key.pem, or the context's TLS files); check with `docker version`",
        )
    return DockerUnavailable(
        f"cannot reach the Docker daemon at {where}: {detail}",
        "start Docker (systemctl start docker, or Docker Desktop), or point DOCKER_HOST / "
        "`docker context use` at a running engine",
    )


def engine_facts(rt: Runtime) -> EngineFacts:
    endpoint = docker_endpoint(rt)
    try:
        version = docker_client(rt).version()
    except DockerUnavailable:
        raise
    except Exception as exc:
        raise _unavailable(endpoint, exc) from None
    return EngineFacts(
        host=endpoint.host,
        context=endpoint.context,
        os=str(version.get("Os", "")),
        arch=str(version.get("Arch", "")),
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
    )


def buildx_facts(rt: Runtime) -> BuildxFacts:
    session = rt.part(ImageSession)
    if session.buildx is not None:
        return session.buildx
    version = rt.commands.run(["docker", "buildx", "version"], timeout=30)
    facts = BuildxFacts(present=False)
    if version.ok:
        inspect = rt.commands.run(["docker", "buildx", "inspect"], timeout=60)
        name, driver, platforms = parse_buildx_inspect(inspect.stdout if inspect.ok else "")
        facts = BuildxFacts(True, version.stdout.strip(), name, driver, platforms)
    session.buildx = facts
    return facts


def check_platform(rt: Runtime) -> dict[str, Any]:
    """``image.check``: daemon, engine, host, buildx; fails only on what would break a build."""
    s = rt.settings
    engine = engine_facts(rt)
    result = assess(s.platform, host_platform.machine(), engine, buildx_facts(rt))
    for finding in result.findings:
        {"ok": rt.console.ok, "warn": rt.console.warn, "fail": rt.console.warn}[finding.level](
            finding.message
        )
    data = {**result.data, "findings": [f.as_dict() for f in result.findings]}
    if not result.ok:
        failed = next(f for f in result.findings if f.level == "fail")
        raise PlatformMismatch(
            failed.message,
            f"create a builder that supports {s.platform}: docker buildx create --use "
            f"--platform {s.platform}",
            details={"check": data},
        )
    rt.part(ImageSession).assessment = result
    return data


def local_platform(rt: Runtime, reference: str) -> Platform:
    try:
        attrs = docker_client(rt).images.get(reference).attrs
    except DockerUnavailable:
        raise
    except Exception as exc:
        raise CommandFailed(
            f"the built image {reference} is not in the local engine ({type(exc).__name__})",
            "rerun the build; with buildx, make sure --load is supported by the builder",
        ) from None
    variant = attrs.get("Variant")
    return from_fields(
        str(attrs.get("Os") or ""),
        str(attrs.get("Architecture") or ""),
        str(variant) if variant else None,
    )


# -- build and push -------------------------------------------------------------------------
def git_commit(rt: Runtime, directory: str) -> str:
    """Short sha of HEAD, with -dirty when the work tree has changes; '' outside git."""
    head = rt.commands.run(["git", "-C", directory, "rev-parse", "--short=12", "HEAD"], timeout=30)
    if not head.ok:
        return ""
    status = rt.commands.run(["git", "-C", directory, "status", "--porcelain"], timeout=60)
    return commit_tag(head.stdout.strip(), bool(status.stdout.strip()))


def _run_streamed(rt: Runtime, argv: list[str], what: str) -> None:
    rt.console.info(f"$ {rt.commands.display(argv)}")
    tail: list[str] = []

    def on_line(line: str) -> None:
        tail.append(line)
        del tail[:-20]
        rt.console.log(f"  {line}")

    result = rt.commands.run(argv, on_line=on_line)
    if result.ok:
        return
    text = "\n".join(tail).lower()
    if "cannot connect to the docker daemon" in text or "is the docker daemon running" in text:
        raise _unavailable(docker_endpoint(rt), RuntimeError("the daemon stopped answering"))
    last = next((line for line in reversed(tail) if line.strip()), "no output")
    raise CommandFailed(
        f"{what} failed (exit {result.returncode}): {last.strip()}",
        "read the output above; run `invoke diagnose --log FILE` on a saved copy for the cause",
    )


def build_image(rt: Runtime, *, push: bool = False) -> dict[str, Any]:
    """``image.build``: build for the target platform, check it locally, optionally push."""
    s = rt.settings
    assessment = rt.part(ImageSession).assessment
    builder = (
        assessment.builder
        if assessment is not None
        else ("buildx" if buildx_facts(rt).present else "classic")
    )
    context = str(Path(s.context))
    if not Path(context).is_dir():
        raise UsageError(
            f"build context {context!r} is not a directory",
            f"fix release.environments.{s.env}.context in invoke.yaml (or RELEASE_CONTEXT)",
        )
    dockerfile = s.dockerfile
    if not Path(dockerfile).is_file():
        raise UsageError(
            f"Dockerfile {dockerfile!r} does not exist",
            f"fix release.environments.{s.env}.dockerfile in invoke.yaml (or RELEASE_DOCKERFILE)",
        )
    commit = git_commit(rt, context)
    tags = plan_tags(s.tag_policy, s.tag, commit)
    if s.tag_policy == "git-sha" and not commit:
        rt.console.warn(
            f"{context} is not in a git work tree: pushing only the moving tag {s.tag!r}"
        )
    argv = build_argv(
        builder=builder,
        platform=s.platform,
        dockerfile=dockerfile,
        context=context,
        image_name=s.image_name,
        tags=tags,
    )
    rt.console.step(f"build {s.image_name} for {s.platform} ({builder} builder)")
    _run_streamed(rt, argv, "docker build")
    first = f"{s.image_name}:{tags[0]}"
    built = local_platform(rt, first)
    if not s.platform.matches(built):
        raise PlatformMismatch(
            f"the built image {first} is {built}, not {s.platform} (a base image or a cached "
            f"layer for {built}); pushing it would fail in CodeBuild with 'exec format error'",
            "rebuild for the target with a base that has it: "
            + registry.rebuild_command(parse_image(first), s.platform, dockerfile, context),
            details={"image": first, "found": str(built), "target": str(s.platform)},
        )
    rt.console.ok(f"built {first} is {built}")
    result: dict[str, Any] = {
        "image": s.image_name,
        "tags": tags,
        "platform": str(built),
        "builder": builder,
    }
    if push:
        for tag in tags:
            _run_streamed(rt, ["docker", "push", f"{s.image_name}:{tag}"], f"docker push {tag}")
        result["pushed"] = True
    return result


# -- verify ---------------------------------------------------------------------------------
def registry_client(rt: Runtime, ref: ImageRef) -> registry.RegistryClient:
    s = rt.settings
    own = ref.registry == s.registry
    if own:
        creds = ecr.registry_credentials(rt)
    elif ref.is_ecr:  # another ECR registry: the token of ITS account and region
        creds = ecr.get_token(rt, ref.registry).credentials
    else:
        creds = None
    hint = (
        "check that the identity may call ecr:BatchGetImage and ecr:GetDownloadUrlForLayer"
        if ref.is_ecr or s.registry_auth == "ecr"
        else f"set {s.registry_password_env} (and registry_username) for {ref.registry}"
    )
    insecure = True if own and s.registry_insecure else None
    return registry.RegistryClient(
        ref.registry, credentials=creds, insecure=insecure, auth_hint=hint
    )


def verify_image(rt: Runtime, image: str | None = None) -> dict[str, Any]:
    """``image.verify``: ask the registry what the reference holds; require the target platform."""
    s = rt.settings
    ref = parse_image(image or f"{s.image_name}:{s.tag}", default_registry=s.registry)
    client = registry_client(rt, ref)
    info = retrying("registry", on_retry=rt.console.warn)(registry.inspect, client, ref)
    kind = "manifest list" if info.is_index else "image"
    rt.console.info(f"{ref} -> {info.digest} ({kind})")
    for plat in info.platforms:
        marker = "*" if s.platform.matches(plat) else " "
        rt.console.info(f"  {marker} {plat}")
    match = registry.check_target(info, s.platform, dockerfile=s.dockerfile, context=s.context)
    pinned = f"{ref.name}@{info.digest}"
    rt.console.ok(f"{ref} holds {match}; pinned reference {pinned}")
    return {**info.as_dict(), "target": str(s.platform), "pinned": pinned}


@contextlib.contextmanager
def private_logins(rt: Runtime) -> Iterator[str]:
    """The suite's own ``docker login`` goes to a throw-away DOCKER_CONFIG, removed when the
    block ends, so no credential outlives the run (``invoke ecr.login`` is the exception)."""
    session = rt.part(ImageSession)
    current = session.private_docker_config
    if current:  # already inside one (release -> image.push)
        yield str(current)
        return
    user_dir = dockerhost.config_dir(rt.environ)
    previous = rt.commands.env.get("DOCKER_CONFIG")
    with dockerconfig.throwaway(user_dir, [rt.settings.registry]) as private:
        rt.commands.env["DOCKER_CONFIG"] = str(private)
        session.private_docker_config = str(private)
        try:
            yield str(private)
        finally:
            session.private_docker_config = None
            if previous is None:
                rt.commands.env.pop("DOCKER_CONFIG", None)
            else:
                rt.commands.env["DOCKER_CONFIG"] = previous


def build_and_push(rt: Runtime, *, push: bool) -> dict[str, Any]:
    """``image.build [--push]``: the login (for a push) lasts only as long as the build."""
    if not push:
        return build_image(rt)
    with private_logins(rt):
        ecr.login(rt)
        return build_image(rt, push=True)


def push_image(rt: Runtime) -> dict[str, Any]:
    """``image.push``: login, build with push, verify; returns the pinned reference."""
    s = rt.settings
    with private_logins(rt):
        ecr.login(rt)
        built = build_image(rt, push=True)
    verified = verify_image(rt, f"{s.image_name}:{built['tags'][0]}")
    rt.console.info(f"pinned image for later stages: {verified['pinned']}")
    return {
        **built,
        "digest": verified["digest"],
        "pinned": verified["pinned"],
        "platforms": verified["platforms"],
    }
