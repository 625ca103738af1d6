# The serving image: `ml-gitops serve` on a verified release bundle at /bundle, baked in at build time
# (`make image VERSION=v1.0.0` builds it from dist/model-v1.0.0; serving re-verifies its checksums):
#   docker build --build-arg MODEL_BUNDLE=dist/model-v1.0.0 -t ml-gitops-serve:v1.0.0 .
#   docker run --rm -p 8000:8000 ml-gitops-serve:v1.0.0
# A bundle mounted at /bundle (-v "$PWD/dist/model-v1.0.0:/bundle:ro") replaces the baked one.
# Dependencies come from uv.lock (same versions as CI); the process runs as a non-root user.

# Base image: pinned by tag and digest (the same in both FROM lines; Dependabot's docker updates
# bump both). This digest is the one public projects pin for the tag's last build; it was not
# checked against Docker Hub from here (no registry access): `docker build` refuses a wrong one.
# `docker buildx imagetools inspect python:3.11.11-slim-bookworm` prints the current index digest.

# ---- build: a virtualenv from the lock file (no dev tools, project installed non-editable)
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r /tmp/uv-requirements.txt
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

# ---- runtime: the virtualenv, the composed config, a writable log folder, nothing else
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY params.yaml ./
RUN mkdir -p /app/logs && chown app:app /app/logs
ARG MODEL_BUNDLE=dist/bundle
COPY --chown=10001:10001 ${MODEL_BUNDLE} /bundle
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1
USER 10001:10001
EXPOSE 8000
VOLUME ["/app/logs"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["ml-gitops", "serve", "--bundle", "/bundle", "--host", "0.0.0.0", "--port", "8000"]
