# sheetsync in a container: the worker with its dashboard, Shopify webhooks, /healthz and /metrics.
# The config (and a workbook master, if you use one) live in /data: mount a volume there
# (compose.yaml does). Secrets come from the environment only; none is baked in. See docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080

# A user of its own; /data is created here so that a new named volume takes its owner.
RUN useradd --create-home --uid 10001 --user-group sheetsync \
    && mkdir /data \
    && chown sheetsync:sheetsync /data

# The product only: no API fakes, no dev tools (.dockerignore lets in nothing else).
COPY pyproject.toml README.md LICENSE /src/
COPY sheetsync /src/sheetsync
RUN pip install --no-cache-dir /src \
    && rm -rf /src

# Numeric, so a host (Kubernetes runAsNonRoot) can tell it is not root.
USER 10001:10001
WORKDIR /data
EXPOSE 8080

# /healthz answers 503 once the worker stops finishing cycles; it needs no token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/healthz', timeout=4)"]

# Listening on every interface of the container (a published port reaches nothing else), serve
# refuses to start without SHEETSYNC_DASHBOARD_TOKEN; the port is $PORT. `docker run IMAGE sync`,
# `... init --dir /data`, `... check-config --config /data/sheetsync.toml` run other commands.
ENTRYPOINT ["sheetsync"]
CMD ["serve", "--host", "0.0.0.0", "--config", "/data/sheetsync.toml"]
