"""app/gunicorn.conf.py without the connection balancing (config.gunicorn_balance): gunicorn's own
accept race decides which worker takes a connection. For the bench's comparison only, run from app/
as ``gunicorn --config <this file> config.wsgi``."""

import os

_conf = os.path.join(os.getcwd(), "gunicorn.conf.py")
exec(compile(open(_conf).read(), _conf, "exec"))  # noqa: S102 - our own settings file, then one change
del post_worker_init  # noqa: F821 - defined by the settings file just run
