# The indexer daemon: `docker build -t shared-pool-indexer .` (deploy/docker-compose.yml does this).
# Configuration: mount a TOML file at /etc/indexer/config.toml (see config.example.toml and
# deploy/indexer.toml); give the database password through PGPASSWORD (or INDEXER_DSN).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs (.dockerignore keeps the rest out of the context as well).
COPY pyproject.toml README.md config.example.toml ./
COPY indexer ./indexer

# Install, then refuse an image whose package lacks a data file the source tree has (*.sql,
# *.json: schema, named queries, migrations, simulator data), i.e. one that pyproject.toml's
# package-data forgot: such an image would only fail at run time.
RUN pip install . \
    && cd / \
    && python -c "import pathlib, indexer; \
src = pathlib.Path('/src/indexer'); dst = pathlib.Path(indexer.__file__).parent; \
missing = sorted(str(p.relative_to(src)) for p in src.rglob('*') \
                 if p.suffix in ('.sql', '.json') and not (dst / p.relative_to(src)).is_file()); \
assert not missing, f'not installed by pip install . (pyproject package-data): {missing}'" \
    && indexer --help > /dev/null \
    && install -d -m 0755 /etc/indexer \
    && cp /src/config.example.toml /etc/indexer/config.example.toml \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin indexer

WORKDIR /
USER indexer:indexer

# Prometheus /metrics and /ready when [metrics] port = 9108 (deploy/indexer.toml).
EXPOSE 9108
# `indexer run` commits or aborts the batch in progress and exits 0 on SIGTERM (docker stop).
STOPSIGNAL SIGTERM

ENTRYPOINT ["indexer"]
CMD ["run", "--config", "/etc/indexer/config.toml"]
