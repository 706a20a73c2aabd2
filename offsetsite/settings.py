"""Django settings. Everything a deployment changes comes from the environment.

OFFSETSITE_VAR        database, secret key and data (default: var/ in a checkout, else ~/.local/share/offsetsite)
OFFSETSITE_DATA_DIR   logcore's data directory (also OFFSETSITE_DATA; default: $OFFSETSITE_VAR/data)
OFFSETSITE_DB         a PostgreSQL URL-ish "postgres://user@host:port/name" or unset for SQLite
OFFSETSITE_REDIS      redis://host:port[/db] for live notices between processes (serve --workers N)
OFFSETSITE_REDIS_PREFIX  Redis key prefix of those notices (default offsetsite)
OFFSETSITE_WORKSHOP   1: anonymous visitors may produce and consume in groups of their own
OFFSETSITE_READ_LOGIN 1: anonymous visitors must log in to read pages
OFFSETSITE_ROOM_CAP   attendees the workshop room (/lab/room/) takes at most (default 200)
OFFSETSITE_SECRET_KEY the secret key; otherwise one is made once and kept in var/
OFFSETSITE_DEBUG      1 for Django's debug pages
OFFSETSITE_HTTPS      1 when browsers reach the site over TLS: secure cookies, HTTPS redirect, HSTS
OFFSETSITE_HSTS_SECONDS  Strict-Transport-Security max-age with OFFSETSITE_HTTPS (default 3600)
OFFSETSITE_HSTS_SUBDOMAINS, OFFSETSITE_HSTS_PRELOAD  1 to add includeSubDomains / preload to HSTS
OFFSETSITE_BEHIND_PROXY  1 to trust X-Forwarded-Proto from a TLS-terminating proxy (docs/security.md)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from offsetsite import paths

BASE_DIR = Path(__file__).resolve().parent.parent
# var/ in a checkout; an installed wheel keeps its state in the user's data directory.
VAR_DIR = paths.var_dir()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("OFFSETSITE_SECRET_KEY"):
        return key
    # A key made once per checkout keeps sessions valid across restarts without
    # committing a secret to the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("OFFSETSITE_DEBUG") == "1"
ALLOWED_HOSTS = [
    h for h in os.environ.get("OFFSETSITE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("OFFSETSITE_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves ASGI and websockets
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "offsetsite.core",
    "offsetsite.dashboard",
    "offsetsite.live",
    "offsetsite.lab",
    "offsetsite.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # request.htmx for every later layer (the read-login check answers htmx differently);
    # every response varies on HX-Request, since one URL may answer a fragment or a page.
    "offsetsite.core.htmx.VaryOnHtmxMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # /clusters/<name>/... serves the pages of a configured Kafka cluster.
    "offsetsite.clusters.ClusterMiddleware",
    # serve --workers N: workers other than 0 hand state changes to worker 0 (the engine's).
    "offsetsite.core.forward.ForwardToEngineMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Reads need a login when the admin's runtime setting (or OFFSETSITE_READ_LOGIN) says so.
    "offsetsite.core.middleware.ReadLoginMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "offsetsite.core.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "offsetsite.urls"
ASGI_APPLICATION = "offsetsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The checkout's templates/, or the copy an installed wheel carries (offsetsite.paths).
        "DIRS": [paths.site_dir("templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "offsetsite.core.context.roles",
                "offsetsite.core.context.clusters",
            ],
            "builtins": ["django.contrib.humanize.templatetags.humanize"],
        },
    }
]


def _database() -> dict[str, object]:
    url = os.environ.get("OFFSETSITE_DB")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "offsetsite.sqlite3",
            # WAL keeps the lag sampler's writes from blocking page reads.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    u = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/") or "offsetsite",
        "USER": u.username or "",
        "PASSWORD": u.password or "",
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
        # A new PostgreSQL connection per request costs more than many a page, and
        # serve --workers N makes one request per API call of workers 1..N-1 to worker 0
        # (docs/design.md, Several processes). Under ASGI Django advises its connection
        # pool rather than CONN_MAX_AGE (docs.djangoproject.com/en/5.2/ref/databases/,
        # "Persistent connections"); psycopg_pool keeps them.
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 16, "timeout": 30}},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Live pages use no channel layer: a page and the bridge that wakes it always share a
# process, so the bridge wakes that process's hubs directly (offsetsite/live/hub.py); a
# channel-layer message per page was most of a server's time with 500 pages open.
# Between processes (``serve --workers N``) the engine's process publishes one message
# per flush on the "relay" layer, which each other process receives once and hands to
# its own bridge (offsetsite.live.relay).
CHANNEL_LAYERS: dict[str, dict[str, object]] = {}
if redis_url := os.environ.get("OFFSETSITE_REDIS"):
    # redis://host:port[/db]; the prefix keeps two sites (or two test runs) on one Redis apart.
    CHANNEL_LAYERS["relay"] = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 gives up reading after 5 s by default, exactly channels-redis's
            # blocking pop (brpop_timeout = 5 s): an idle receiver would time out every
            # time. A longer socket timeout lets the pop end on its own first.
            "hosts": [{"address": redis_url, "socket_timeout": 30}],
            "prefix": os.environ.get("OFFSETSITE_REDIS_PREFIX", "offsetsite"),
        },
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 5}},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "overview"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [paths.site_dir("static")]
STATIC_ROOT = VAR_DIR / "static"

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

# Behind TLS (docs/security.md): cookies only over HTTPS, plain HTTP redirected, HSTS.
HTTPS = os.environ.get("OFFSETSITE_HTTPS") == "1"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Short by default: a browser keeps refusing plain HTTP for this long, even if TLS is removed.
SECURE_HSTS_SECONDS = int(os.environ.get("OFFSETSITE_HSTS_SECONDS", "3600")) if HTTPS else 0
# These reach beyond this site (every subdomain; the browsers' built-in list): opt in.
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and os.environ.get("OFFSETSITE_HSTS_SUBDOMAINS") == "1"
SECURE_HSTS_PRELOAD = HTTPS and os.environ.get("OFFSETSITE_HSTS_PRELOAD") == "1"
# Only a proxy that sets (and strips client copies of) X-Forwarded-Proto may be trusted.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if os.environ.get("OFFSETSITE_BEHIND_PROXY") == "1" else None
)

OFFSETSITE = {
    "DATA_DIR": Path(os.environ.get("OFFSETSITE_DATA_DIR", os.environ.get("OFFSETSITE_DATA", VAR_DIR / "data"))),
    # Workshop rooms: anonymous visitors produce and consume in their own groups.
    "WORKSHOP": os.environ.get("OFFSETSITE_WORKSHOP") == "1",
    # Anonymous visitors must log in to read pages. Admins may change both at run time
    # (/site/settings/); these are the defaults until they do.
    "READ_LOGIN": os.environ.get("OFFSETSITE_READ_LOGIN") == "1",
    # One produce burst may not ask for more records than this, nor a faster rate.
    "BURST_MAX_RECORDS": int(os.environ.get("OFFSETSITE_BURST_MAX_RECORDS", "10000")),
    "BURST_MAX_RATE": int(os.environ.get("OFFSETSITE_BURST_MAX_RATE", "5000")),
    # Bytes workshop visitors may write an hour, each and all together (core/quota.py).
    "WORKSHOP_VISITOR_BYTES": int(os.environ.get("OFFSETSITE_WORKSHOP_VISITOR_BYTES", str(5 * 1024 * 1024))),
    "WORKSHOP_TOTAL_BYTES": int(os.environ.get("OFFSETSITE_WORKSHOP_TOTAL_BYTES", str(256 * 1024 * 1024))),
    # group.initial.rebalance.delay.ms: Kafka waits 3 s for more members before a new
    # group's first rebalance. A workshop room may prefer 0 for snappier forms.
    "INITIAL_REBALANCE_DELAY_MS": os.environ.get("OFFSETSITE_INITIAL_REBALANCE_DELAY_MS"),
    # Lag history: a thread samples every group's lag into the database.
    "SAMPLER": os.environ.get("OFFSETSITE_SAMPLER", "1") == "1",
    # Live pages: at most this many frames a second per page.
    "LIVE_MAX_FPS": 10,
    # Live frames carry only what changed since the socket's last frame (offsetsite/live/delta.py);
    # "1" sends the whole live region every frame, as before (bench/web.py's baseline).
    "LIVE_FULL_FRAMES": os.environ.get("OFFSETSITE_LIVE_FULL_FRAMES") == "1",
    # Every page's sockets share one hub that renders and diffs once a flush (offsetsite/live/hub.py);
    # "1" gives each socket a hub of its own, as before the hubs (bench/web.py's baseline).
    "LIVE_SOCKET_HUBS": os.environ.get("OFFSETSITE_LIVE_SOCKET_HUBS") == "1",
    # The lab's ticket checkers run in a thread of the server (tests step them themselves).
    "LAB_RUNNER": os.environ.get("OFFSETSITE_LAB_RUNNER", "1") == "1",
    # The workshop room (/lab/room/): at most this many attendees, so a crowd cannot
    # start more checkers than the server can step.
    "ROOM_CAP": int(os.environ.get("OFFSETSITE_ROOM_CAP", "200")),
    # serve --workers N sets these for each worker it starts: worker 0 opens the
    # embedded engine, the others reach it over its API (docs/design.md, Several processes).
    "WORKER": int(os.environ.get("OFFSETSITE_WORKER", "0")),
    "WORKERS": int(os.environ.get("OFFSETSITE_WORKERS", "1")),
    # serve's Kafka listener (offsetsite/kafka_listener.py, docs/kafka-listener.md):
    # "auto" = 127.0.0.1:9092 when free, "HOST:PORT", or "off".
    "KAFKA_LISTENER": os.environ.get("OFFSETSITE_KAFKA_LISTENER", "auto"),
    # A file of NAME:PASSWORD lines: the listener then needs SASL/PLAIN (SASL_PLAINTEXT).
    # A path, not the passwords, so no secret sits in the environment or in `ps`.
    "KAFKA_SASL_USERS": os.environ.get("OFFSETSITE_KAFKA_SASL_USERS", ""),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("OFFSETSITE_LOG_LEVEL", "WARNING")},
}
