"""A realistic, reproducible CodeBuild log of any size with one failure near the end.

The filler is what a long migration/seed build prints: the agent's ``[Container]`` lines,
BuildKit and classic ``docker build`` output, ``bun install``, pino JSON lines from the seed
script, apt and npm noise, test results, ``docker push`` progress. Words that look alarming but
are not failures (``timeout``, ``error``, ``failed``, ``denied`` in names and counters) are
deliberately frequent. Its templates are written independently of
``tasks/diagnose/background.log`` (the sample the prefilter is tuned on).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

HEAD = """[Container] 2025/03/02 09:14:01.100201 Running on CodeBuild On-demand
[Container] 2025/03/02 09:14:01.100232 Waiting for agent ping
[Container] 2025/03/02 09:14:02.301113 Waiting for DOWNLOAD_SOURCE
[Container] 2025/03/02 09:14:03.002317 Phase is DOWNLOAD_SOURCE
[Container] 2025/03/02 09:14:03.004411 CODEBUILD_SRC_DIR=/codebuild/output/src9921/src
[Container] 2025/03/02 09:14:03.005120 YAML location is /codebuild/output/src9921/src/buildspec/migrations.yml
[Container] 2025/03/02 09:14:03.006004 Processing environment variables
[Container] 2025/03/02 09:14:03.410022 Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED
[Container] 2025/03/02 09:14:03.410040 Phase context status code:  Message:
[Container] 2025/03/02 09:14:03.500110 Entering phase INSTALL
[Container] 2025/03/02 09:14:03.500870 Running command npm i -g bun@1.4.5
[Container] 2025/03/02 09:14:07.220001 Phase complete: INSTALL State: SUCCEEDED
[Container] 2025/03/02 09:14:07.220019 Phase context status code:  Message:
[Container] 2025/03/02 09:14:07.300402 Entering phase PRE_BUILD
[Container] 2025/03/02 09:14:07.301003 Running command aws ecr get-login-password | docker login --username AWS --password-stdin $REGISTRY
Login Succeeded
[Container] 2025/03/02 09:14:09.002003 Phase complete: PRE_BUILD State: SUCCEEDED
[Container] 2025/03/02 09:14:09.002021 Phase context status code:  Message:
[Container] 2025/03/02 09:14:09.100330 Entering phase BUILD
[Container] 2025/03/02 09:14:09.101200 Running command docker run --rm -e DATABASE_URL $IMAGE bun run src/db/seed.ts --all
"""

TEMPLATES = (
    '{{"level":30,"time":{ts},"pid":1,"hostname":"ip-10-0-{a}-{b}","msg":"seeded batch {n}/{m} '
    'of organizations","rows":{r},"error_count":0,"retry_timeout_ms":5000}}',
    '{{"level":30,"time":{ts},"pid":1,"msg":"upsert members","org":"org_{n}","inserted":{r},'
    '"updated":{a},"failed":0}}',
    '{{"level":40,"time":{ts},"pid":1,"msg":"slow statement {r} ms","table":"error_reports",'
    '"statement_timeout":30000}}',
    "#{a} {sec}.{ms:03d} + @types/node@20.{b}.{n} ({r} kB)",
    "#{a} {sec}.{ms:03d} Resolving dependencies for workspace packages/api ({n} of {m})",
    "#{a} [runtime {b}/9] COPY src/db/migrations/{n:04d}_add_timeout_to_jobs_{r}.sql ./migrations/",
    "#{a} DONE {sec}.{b}s",
    " ---> Running in {h}",
    "Step {b}/14 : RUN bun install --frozen-lockfile --production",
    "[migrate] {n:04d}_create_error_log_partition_{r}.sql ............ applied ({a} ms)",
    "[migrate] {n:04d}_backfill_failed_login_attempts.sql .............. skipped (already applied)",
    "[seed] members {n}: {r} rows upserted ({a} denied_invites pruned, 0 errors)",
    'NOTICE:  relation "audit_{n}" already exists, skipping',
    "Get:{b} http://deb.debian.org/debian bookworm/main amd64 libpq5 amd64 15.{a}-0+deb12u1 [{r} kB]",
    "npm WARN deprecated rimraf@3.0.2: Rimraf versions prior to v4 are no longer supported",
    "{h}: Pushed",
    "{h}: Layer already exists",
    " \u2713 src/db/{n}_queries.test.ts ({a} tests) {r}ms",
    "2025-03-02T09:{b:02d}:{a:02d}.{ms:03d}Z INFO  worker {a} processed job {n} in {r}ms (timeout=false)",
    "2025-03-02T09:{b:02d}:{a:02d}.{ms:03d}Z DEBUG pool stats: total=10 idle={a} waiting=0 "
    "timedOut=0 errors=0",
)

FAILURE = """[seed] members 99120: 311 rows upserted (0 denied_invites pruned, 0 errors)
WARNING: The requested image's platform (linux/arm64) does not match the detected host platform (linux/amd64/v3) and no specific platform was requested
exec /usr/local/bin/bun: exec format error
[Container] 2025/03/02 10:02:44.100203 Command did not exit successfully docker run --rm -e DATABASE_URL $IMAGE bun run src/db/seed.ts --all exit status 1
[Container] 2025/03/02 10:02:44.100530 Phase complete: BUILD State: FAILED
[Container] 2025/03/02 10:02:44.100549 Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: docker run --rm -e DATABASE_URL $IMAGE bun run src/db/seed.ts --all. Reason: exit status 1
[Container] 2025/03/02 10:02:44.180001 Entering phase POST_BUILD
[Container] 2025/03/02 10:02:44.180900 Phase complete: POST_BUILD State: SUCCEEDED
[Container] 2025/03/02 10:02:44.180917 Phase context status code:  Message:
"""

EXPECTED = "docker_exec_format_error"


def lines(size: int, seed: int = 7) -> Iterator[str]:
    """Lines of roughly ``size`` bytes: head, filler, the failure, then a short ending."""
    rnd = random.Random(seed)
    yield from HEAD.splitlines()
    written = len(HEAD)
    budget = size - len(HEAD) - len(FAILURE) - 2000
    while written < budget:
        template = TEMPLATES[rnd.randrange(len(TEMPLATES))]
        line = template.format(
            ts=1740906000000 + written,
            a=rnd.randrange(1, 255),
            b=rnd.randrange(1, 60),
            n=rnd.randrange(1, 99999),
            m=99999,
            r=rnd.randrange(1, 5000),
            sec=rnd.randrange(0, 90),
            ms=rnd.randrange(0, 1000),
            h=f"{rnd.getrandbits(48):012x}",
        )
        written += len(line) + 1
        yield line
    yield from FAILURE.splitlines()
    for i in range(20):
        yield f"[Container] 2025/03/02 10:02:45.{i:06d} Expanding file paths for base directory ."


def write(path: Path, size: int, seed: int = 7) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for line in lines(size, seed):
            out.write(line + "\n")
    return path
