"""Ledgerbridge settings.

Every setting comes from the environment (django-environ) with a safe development default; `.env.example` lists
them all. `DJANGO_ENV=production` switches on the production checks below and refuses to start when a
development default is still in place.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
# A fixed Fernet key so a development database stays readable across restarts. Never valid in production.
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3QtZm9yLXByb2Q="

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# ../shared beside the repository: Xero's OpenAPI specs and documented example payloads (tests and the sandbox).
SHARED_DIR = Path(env.str("LEDGERBRIDGE_SHARED_DIR", default=str(BASE_DIR.parent / "shared")))

# Fernet keys for credentials at rest, newest first (MultiFernet: encrypt with the first, decrypt with any).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[] if PRODUCTION else [DEV_ENCRYPTION_KEY])

if PRODUCTION:
    problems = []
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if DEBUG:
        problems.append("DEBUG must be off")
    if not FIELD_ENCRYPTION_KEYS or DEV_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
        problems.append("FIELD_ENCRYPTION_KEYS must list your own Fernet keys")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "tenants",
    "connections",
    "mappings",
    "sync",
    "reconciliation",
]

SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=not PRODUCTION)
if SANDBOX_ENABLED:
    INSTALLED_APPS += ["sandbox", "sandbox.xero", "sandbox.magento", "sandbox.cin7", "sandbox.gorgias"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "sync.inbound.middleware.WebhookShortcutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.middleware.AdminScopeMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: embedded SQLite for a zero-setup run, PostgreSQL (DATABASE_URL) in production and CI.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a qcluster writes; IMMEDIATE transactions take the write lock up front
    # so two writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, so psycopg prepares a statement once it has run a few times: PostgreSQL
    # then parses and plans the sync path's repeated queries once per connection instead of once per call. Off
    # behind a pooler in transaction mode (PgBouncer), where a prepared statement may meet another connection.
    if env.bool("DB_SERVER_SIDE_BINDING", True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list("PASSWORD_HASHERS", default=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])

# django-allauth: email login, verification mandatory in production, TOTP for every user.
ACCOUNT_ADAPTER = "tenants.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory" if PRODUCTION else "optional")
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Ledgerbridge"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ledgerbridge <no-reply@ledgerbridge.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request bodies: the API refuses anything larger with 413 (core.middleware.BodySizeLimitMiddleware).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Accepted webhook deliveries are counted per process and written at most this many seconds later, in one statement
# (sync.services.inbox.DeliveryTally); 0 writes each delivery's count at once.
WEBHOOK_COUNT_SECONDS = env.float("WEBHOOK_COUNT_SECONDS", default=1.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsAgencyPrincipal"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ledgerbridge API",
    "DESCRIPTION": "Keep commerce, helpdesk, inventory and CRM systems in sync with Xero, per tenant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; each choice set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {"ReconciliationRunStatusEnum": "reconciliation.models.ReconciliationRun.Status"},
}

# django-q2: ORM broker by default so an enqueue commits with the business rows; Redis for several hosts.
Q_BROKER = env.str("Q_BROKER", default="orm")
Q_CLUSTER = {
    "name": "ledgerbridge",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    # Must sit well above timeout: a task still running when `retry` passes is handed out a second time.
    "retry": env.int("Q_RETRY", default=900),
    "max_attempts": 2,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "queue_limit": 8,
    "poll": 0.5,
    "label": "Task queue",
    "ALT_CLUSTERS": {
        # Inbound webhook processing: short tasks, answered fast.
        "webhooks": {"timeout": 60, "retry": 300},
        # Draining jobs to Xero: long tasks, generous retry.
        "sync": {"timeout": 900, "retry": 2700},
    },
}
if Q_BROKER == "redis":
    Q_CLUSTER["redis"] = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
else:
    Q_CLUSTER["orm"] = "default"

# /healthz reports unhealthy when the oldest queued task has waited longer than this.
HEALTHZ_MAX_QUEUE_AGE_SECONDS = env.int("HEALTHZ_MAX_QUEUE_AGE_SECONDS", default=900)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CONTENT_TYPE_NOSNIFF = True

STATICFILES_DIRS = [BASE_DIR / "static"]

# Connections ---------------------------------------------------------------------------------------------------
# External calls: timeouts, retries of idempotent requests (capped exponential backoff with full jitter,
# Retry-After first), and the longest wait a worker sleeps in place before rescheduling instead.
CONNECTIONS_HTTP_TIMEOUT_SECONDS = env.float("CONNECTIONS_HTTP_TIMEOUT_SECONDS", default=30.0)
CONNECTIONS_HTTP_CONNECT_TIMEOUT_SECONDS = env.float("CONNECTIONS_HTTP_CONNECT_TIMEOUT_SECONDS", default=10.0)
CONNECTIONS_HTTP_MAX_ATTEMPTS = env.int("CONNECTIONS_HTTP_MAX_ATTEMPTS", default=4)
CONNECTIONS_BACKOFF_BASE_SECONDS = env.float("CONNECTIONS_BACKOFF_BASE_SECONDS", default=0.5)
CONNECTIONS_BACKOFF_CAP_SECONDS = env.float("CONNECTIONS_BACKOFF_CAP_SECONDS", default=8.0)
CONNECTIONS_RATE_MAX_WAIT_SECONDS = env.float("CONNECTIONS_RATE_MAX_WAIT_SECONDS", default=2.0)
# A granted call slot counts as in flight at most this long (frees slots of a worker that died mid-call).
CONNECTIONS_RATE_LEASE_SECONDS = env.float("CONNECTIONS_RATE_LEASE_SECONDS", default=120.0)
# When a provider reports its day quota spent without saying when it resets, probe again after this long.
CONNECTIONS_DAY_LIMIT_PROBE_SECONDS = env.int("CONNECTIONS_DAY_LIMIT_PROBE_SECONDS", default=3600)
# Idle connections: warned this many days before, disconnected after CONNECTIONS_IDLE_DISCONNECT_DAYS.
CONNECTIONS_IDLE_DISCONNECT_DAYS = env.int("CONNECTIONS_IDLE_DISCONNECT_DAYS", default=60)
CONNECTIONS_IDLE_WARNING_DAYS = env.int("CONNECTIONS_IDLE_WARNING_DAYS", default=7)
# Accept http:// store URLs and non-default API addresses (the sandbox); never in production.
CONNECTIONS_ALLOW_HTTP = env.bool("CONNECTIONS_ALLOW_HTTP", default=not PRODUCTION)
# The client logs one line per external call without query strings; httpx's own INFO line prints full URLs.
LOGGING["loggers"]["httpx"] = {"level": env.str("HTTPX_LOG_LEVEL", default="WARNING")}
# End of Connections ----------------------------------------------------------------------------------------------

# Xero ----------------------------------------------------------------------------------------------------------
# The Xero app's credentials and endpoints. With the sandbox on (development), every endpoint defaults to the
# simulated Xero under SITE_URL/sandbox/xero/ and the credentials to the fixed development app that
# `manage.py sandbox_demo` registers there; production defaults to Xero's real hosts and has no credential default.
DEV_XERO_CLIENT_ID = "LEDGERBRIDGE0DEV0SANDBOX0CLIENT0"
DEV_XERO_CLIENT_SECRET = "dev-sandbox-client-secret-not-for-production"
DEV_XERO_WEBHOOK_KEY = "ZGV2LXNhbmRib3gtd2ViaG9vay1rZXktbm90LWZvci1wcm9kdWN0aW9u"
_xero_dev = SANDBOX_ENABLED and not PRODUCTION
_xero_sandbox = SITE_URL.rstrip("/") + "/sandbox/xero"
XERO_CLIENT_ID = env.str("XERO_CLIENT_ID", default=DEV_XERO_CLIENT_ID if _xero_dev else "")
XERO_CLIENT_SECRET = env.str("XERO_CLIENT_SECRET", default=DEV_XERO_CLIENT_SECRET if _xero_dev else "")
XERO_WEBHOOK_KEY = env.str("XERO_WEBHOOK_KEY", default=DEV_XERO_WEBHOOK_KEY if _xero_dev else "")
XERO_AUTHORIZE_URL = env.str(
    "XERO_AUTHORIZE_URL",
    default=f"{_xero_sandbox}/identity/connect/authorize"
    if _xero_dev
    else "https://login.xero.com/identity/connect/authorize",
)
XERO_TOKEN_URL = env.str(
    "XERO_TOKEN_URL",
    default=f"{_xero_sandbox}/identity/connect/token" if _xero_dev else "https://identity.xero.com/connect/token",
)
XERO_REVOCATION_URL = env.str(
    "XERO_REVOCATION_URL",
    default=f"{_xero_sandbox}/identity/connect/revocation"
    if _xero_dev
    else "https://identity.xero.com/connect/revocation",
)
XERO_CONNECTIONS_URL = env.str(
    "XERO_CONNECTIONS_URL",
    default=f"{_xero_sandbox}/connections" if _xero_dev else "https://api.xero.com/connections",
)
XERO_API_URL = env.str(
    "XERO_API_URL", default=f"{_xero_sandbox}/api.xro/2.0" if _xero_dev else "https://api.xero.com/api.xro/2.0"
)
# Where Xero sends the user back; must be registered on the Xero app exactly as written.
XERO_REDIRECT_URI = env.str("XERO_REDIRECT_URI", default=SITE_URL.rstrip("/") + "/connections/xero/callback/")
# Apps created from March 2026 must ask for the granular scopes (accounting.invoices, accounting.payments, …);
# an older app still on accounting.transactions sets its own list here.
XERO_SCOPES = env.str(
    "XERO_SCOPES",
    default="openid profile email offline_access accounting.invoices accounting.payments accounting.contacts "
    "accounting.settings",
)
# An access token is refreshed when it has less than this many seconds left.
XERO_TOKEN_REFRESH_MARGIN_SECONDS = env.int("XERO_TOKEN_REFRESH_MARGIN_SECONDS", default=60)
# Refresh tokens die after 60 days unused: the proactive refresh renews any token set older than this.
XERO_PROACTIVE_REFRESH_DAYS = env.int("XERO_PROACTIVE_REFRESH_DAYS", default=7)
# How long a worker waits for a sibling that is refreshing the same connection before giving up for now.
XERO_REFRESH_LOCK_TIMEOUT_SECONDS = env.int("XERO_REFRESH_LOCK_TIMEOUT_SECONDS", default=15)
# Attempts at the token endpoint after network errors (each retries the same refresh token: Xero allows 30 min).
XERO_REFRESH_ATTEMPTS = env.int("XERO_REFRESH_ATTEMPTS", default=3)
# Dotted path of an httpx transport class for every call to Xero. Development reaches the sandbox in process
# (sandbox.transport.SandboxTransport): a refresh holds its transaction while the simulated Xero writes, which on
# SQLite would wait on itself over real HTTP. Empty: the network. Refused in production.
XERO_HTTP_TRANSPORT = env.str("XERO_HTTP_TRANSPORT", default="sandbox.transport.SandboxTransport" if _xero_dev else "")
if PRODUCTION and (
    XERO_HTTP_TRANSPORT or XERO_CLIENT_ID == DEV_XERO_CLIENT_ID or XERO_CLIENT_SECRET == DEV_XERO_CLIENT_SECRET
):
    raise ImproperlyConfigured(
        "Refusing to start in production: set XERO_CLIENT_ID/XERO_CLIENT_SECRET and leave XERO_HTTP_TRANSPORT empty."
    )
# End of Xero ---------------------------------------------------------------------------------------------------

# Sync engine ------------------------------------------------------------------------------------------------------
# How long a drain (or a job it took) is held before another worker may take it over after a crash.
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=300)
# Choose and build the next batch while one is at Xero (sync.services.drain._Flight). False sends each batch inline.
SYNC_DRAIN_OVERLAP = env.bool("SYNC_DRAIN_OVERLAP", default=True)
# How many batches may be at Xero at once while overlapping (Xero allows 5 concurrent calls per organisation).
SYNC_DRAIN_IN_FLIGHT = env.int("SYNC_DRAIN_IN_FLIGHT", default=3)
# Multiplies every retry delay (backoff and Retry-After). 1 in production; chaos runs compress time with it.
SYNC_BACKOFF_SCALE = env.float("SYNC_BACKOFF_SCALE", default=1.0)
