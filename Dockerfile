# syntax=docker/dockerfile:1
# One image for every Sifang service. Which service a container runs is chosen when it starts:
#   SIFANG_SERVICE=coordinator|government|enterprise|ngo|community  (default: the SERVICE build argument)
#   SIFANG_COMMAND=serve (default) | migrate (apply every service's migrations, then exit)
#                 | provision (create or update the JetStream stream as the admin user, then exit)
# Build: docker build -t sifang .   (deploy/compose.yaml builds and runs it; see deploy/README.md)

FROM python:3.11-slim AS build
# The dependencies and the package, in a virtual environment the runtime stage copies whole.
RUN python -m venv /opt/sifang
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY sifang ./sifang
RUN /opt/sifang/bin/pip install --no-cache-dir .

FROM python:3.11-slim
ARG SERVICE=community
ENV SIFANG_SERVICE=${SERVICE} \
    SIFANG_COMMAND=serve \
    SIFANG_MODE=production \
    PORT=8000 \
    PATH=/opt/sifang/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --home-dir /srv/sifang --shell /usr/sbin/nologin sifang
COPY --from=build /opt/sifang /opt/sifang
# The source tree too: templates, static files, migrations and alembic.ini are read from it.
WORKDIR /srv/sifang
COPY alembic.ini ./
COPY migrations ./migrations
COPY shared ./shared
COPY services ./services
COPY sifang ./sifang
COPY deploy/entrypoint.sh /usr/local/bin/sifang-entrypoint
USER sifang
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
ENTRYPOINT ["/usr/local/bin/sifang-entrypoint"]
