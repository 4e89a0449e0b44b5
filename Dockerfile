# Kennisbrug in a container: one process, its database and crypto store in /data.
#
#   docker build -t kennisbrug .
#   docker run -d --name kennisbrug -v kennisbrug-data:/data \
#     -e KENNISBRUG_MATRIX_PASSWORD=... kennisbrug
#
# Put the config at /data/kennisbrug.yaml (`kennisbrug init` writes one). The database
# defaults to /data/kennisbrug.db and the crypto store to /data/kennisbrug-crypto.

# The wheel is built in its own stage: the image gets no source tree and no build tools.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
COPY commands ./commands
COPY config ./config
RUN pip install --no-cache-dir --disable-pip-version-check "setuptools>=68" wheel \
    && pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KENNISBRUG_DATABASE_URL=sqlite+aiosqlite:////data/kennisbrug.db
# The runtime dependencies at the versions of requirements.lock (the lock also pins the
# development tools; as constraints only what the bot needs is installed).
COPY requirements.lock /tmp/requirements.lock
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --disable-pip-version-check \
        --constraint /tmp/requirements.lock /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.lock \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin kennisbrug \
    && mkdir -p /data && chown kennisbrug:kennisbrug /data && chmod 0700 /data
USER kennisbrug
WORKDIR /data
VOLUME ["/data"]
# Healthy while the bot syncs, its scheduler runs and its database answers; read from the
# heartbeat the running bot writes into its database.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["kennisbrug", "health", "--config", "/data/kennisbrug.yaml"]
# SIGTERM (docker stop) ends the bot as cleanly as Ctrl-C.
ENTRYPOINT ["kennisbrug"]
CMD ["run", "--config", "/data/kennisbrug.yaml"]
