# syntax=docker/dockerfile:1
# Build stage: a virtualenv with the pinned dependencies.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install -c constraints.txt -e .

# Runtime stage: the virtualenv, the code, the migrations; runs as a non-root user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 CH_DATA_DIR=/var/lib/customer-history
RUN useradd --system --create-home --uid 10001 app \
    && mkdir -p /var/lib/customer-history && chown app /var/lib/customer-history
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY alembic.ini ./
COPY migrations ./migrations
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
ENTRYPOINT ["customer-history", "serve", "--host", "0.0.0.0"]
