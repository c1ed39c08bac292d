# The Keel app image: one image for every process type (release, web, worker, beat);
# the Procfile line of each process is its container command.
#
#   build:  ../shared/tools/oci build -t keel-app .     (or: docker build -t keel-app .)
#   run:    ../shared/tools/oci run keel-app -e ... -- gunicorn --config gunicorn.conf.py config.wsgi
#
# The platform is pinned by PLATFORM, linux/amd64 unless the stack sets keel:architecture arm64
# (Graviton: the program passes PLATFORM=linux/arm64 with the same --platform): an image built on
# Apple Silicon for the wrong platform would fail on Fargate with "exec format error".
ARG PLATFORM=linux/amd64

# uv comes from its own image, pinned to the version that wrote the locks.
FROM --platform=$PLATFORM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---- build: the virtualenv from the hash-pinned app lock, the collected static files ----
FROM --platform=$PLATFORM python:3.11-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
RUN uv venv --quiet --python /usr/local/bin/python3 /opt/venv

# The lock first: this layer (the slow one) is rebuilt only when the dependencies change.
# Only the app's runtime set: the Pulumi and dev groups never enter the image.
COPY requirements/app.txt /tmp/requirements/app.txt
RUN uv pip sync --quiet --require-hashes --python /opt/venv/bin/python /tmp/requirements/app.txt

COPY app/ /srv/app/
WORKDIR /srv/app
# collectstatic imports the settings, which validate the environment: it gets a throwaway
# production-mode environment on this command line only (nothing here reaches the final
# image's ENV, and the key is random per build, never stored). Bytecode is compiled here
# because the running container's root filesystem is read-only.
RUN DJANGO_DEBUG=false \
    DJANGO_SECRET_KEY="$(/opt/venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgres://build@build.invalid:5432/build \
    REDIS_URL=redis://build.invalid:6379/0 \
    AWS_STORAGE_BUCKET_NAME=build-only \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
 && /opt/venv/bin/python -m compileall -q -f --invalidation-mode unchecked-hash /srv/app

# ---- runtime: the virtualenv and the app, run as an unprivileged user ----
FROM --platform=$PLATFORM python:3.11-slim-bookworm AS runtime
# uid/gid 10001 (the ECS task definitions set user "10001:10001"). Its home is /tmp, the one
# writable place for the app on the read-only root filesystem, so nothing tries to write elsewhere.
RUN groupadd --system --gid 10001 keel \
 && useradd --system --uid 10001 --gid keel --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin keel
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# The Procfile sits next to app/, as in the repository: the record of each process's command.
COPY Procfile /srv/Procfile
# Owned by root and not writable by the app user: code and static files are immutable at run time.
COPY --from=build /srv/app /srv/app
# The one app-owned directory: debug-mode media for docker compose's named volume (which copies
# this ownership). In production media goes to S3 and the root filesystem is read-only.
RUN install -d -o 10001 -g 10001 /srv/app/media
# The writable paths. On Fargate each task volume is a fresh directory owned by root, mode 0755,
# unless the image declares a VOLUME at its mount point: then the image's directory, owner and mode
# included, is copied in (AWS docs, "Use bind mounts with Amazon ECS"). So each path the task
# definitions mount is declared here, with the owner and mode the app needs:
# - /tmp, mode 1777 as on any Linux: tempfile, uploads over 2.5 MB, beat's schedule, Celery's pool;
# - the folders ECS Exec's SSM agent writes (its state and logs), owned by the app user so the agent
#   can write them whichever user it runs as (the task definitions mount them when exec is on).
# VOLUME comes last: a build step after it could not change these directories.
RUN install -d -m 1777 /tmp \
 && install -d -o 10001 -g 10001 -m 0755 /var/lib/amazon/ssm /var/log/amazon/ssm
VOLUME ["/tmp", "/var/lib/amazon/ssm", "/var/log/amazon/ssm"]
WORKDIR /srv/app
USER 10001:10001
EXPOSE 8000
# The web process; ECS and docker compose set each process's command from the Procfile.
# Exec form, so gunicorn is PID 1's direct target for SIGTERM.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"]
# The commit the sources come from (the Pulumi program passes it: keel.components.image.source_revision),
# as the OCI label `keel promote` and `keel rollback` show. Last, so a new value rebuilds no layer.
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.revision=$GIT_REVISION
