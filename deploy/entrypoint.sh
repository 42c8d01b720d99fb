#!/bin/sh
# The container's one command: serve a service, or run a one-shot job (see the Dockerfile).
set -eu
case "${SIFANG_COMMAND:-serve}" in
  serve)
    case "$SIFANG_SERVICE" in
      coordinator|government|enterprise|ngo|community) ;;
      *) echo "SIFANG_SERVICE must be coordinator, government, enterprise, ngo or community, not '$SIFANG_SERVICE'" >&2; exit 64 ;;
    esac
    exec uvicorn --factory "services.${SIFANG_SERVICE}.app:create_app" \
      --host 0.0.0.0 --port "${PORT:-8000}" --no-access-log --timeout-graceful-shutdown 20
    ;;
  migrate) exec python -m services.migrate ;;
  provision) exec python -m shared.messaging.provision ;;
  *) echo "SIFANG_COMMAND must be serve, migrate or provision, not '$SIFANG_COMMAND'" >&2; exit 64 ;;
esac
