"""The staff console: a small Flask application served by waitress, beside the daemon or alone.

`app.create_app(config, sessions)` builds it; `serve.start(config, sessions)` runs it in a thread.
Sign-in, sessions, CSRF and rate limiting are in `auth`; who may see what in `access`; the request's
config and database session in `context`; the pages themselves in `pages`.
"""
