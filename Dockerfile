# slt in a container: `docker build -t slt .`, then
#   docker run -d --name slt -v slt-data:/data slt live            (paper trading)
#   docker run -d --name slt -v slt-data:/data --env-file slt.env slt live --live
# State (slt-state/paper.db, live.db, reports) and simulation output live in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY slt ./slt
RUN pip install . \
    && useradd --create-home --uid 10001 --user-group slt \
    && mkdir /data \
    && chown slt:slt /data

# The bot never needs root: it only talks to Binance and writes its state directory.
USER slt
WORKDIR /data
VOLUME ["/data"]

# SIGTERM (docker stop) stops new entries and flushes the store; protective stops stay on the
# exchange. Give it time: docker stop -t 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["slt"]
CMD ["live"]
