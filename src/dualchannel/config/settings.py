"""Settings for dualchannel, read from the environment (see README: Configuration)."""

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dualchannel.core.audit_keys import read_audit_keys

from .env import env_bool, env_int, env_json_map, env_list, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = PACKAGE_DIR.parent.parent
VAR_DIR = Path(env_str("DUALCHANNEL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
DEMO_MODE = env_bool("DEMO_MODE", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or DEMO_MODE or env_bool("DUALCHANNEL_TESTING", False):
        SECRET_KEY = "insecure-demo-key-never-use-in-production"
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set outside DEBUG/DEMO_MODE")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "dualchannel.config.apps.AdminConfig",  # django.contrib.admin behind the second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "dualchannel.core",
    "dualchannel.registry",
    "dualchannel.catalog",
    "dualchannel.notifications",
    "dualchannel.integration",
    "dualchannel.payments",  # the personal part paid on the phone [CX art. 22]
    "dualchannel.documents",
    "dualchannel.portal",
    "dualchannel.eligibility",
    "dualchannel.monitoring",
    "dualchannel.complaints",
    "dualchannel.inventory",
    "dualchannel.prescriptions",
    "dualchannel.settlement",
    "dualchannel.analytics",  # statistics and reports over the apps below [SD §10]
    "dualchannel.inspection",
    "dualchannel.demo",  # manage.py demo_load; no models, imports nothing until run
]

# The bundled simulators of the national platform and the e-prescription centre (app
# dualchannel.simulators, /simulators/...): installed and routed only when this is on.
# Default: on in DEMO_MODE and tests, off elsewhere; on in production it warns (simulators.W001).
DUALCHANNEL_TESTING = env_bool("DUALCHANNEL_TESTING", False)
SIMULATORS_ENABLED = env_bool("SIMULATORS_ENABLED", DEMO_MODE or DUALCHANNEL_TESTING)
if SIMULATORS_ENABLED:
    INSTALLED_APPS.append("dualchannel.simulators")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body: size limit (413), NUL characters, tokens in the address.
    "dualchannel.core.request_guard.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle/absolute session lifetime, then two-factor sign-in (see core/security.py).
    "django_otp.middleware.OTPMiddleware",
    "dualchannel.core.security.SessionLifetimeMiddleware",
    "dualchannel.core.security.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dualchannel.core.middleware.DomainErrorMiddleware",
    "dualchannel.core.middleware.ApiErrorShapeMiddleware",
    # AxesMiddleware last: it turns a locked-out login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dualchannel.config.urls"
WSGI_APPLICATION = "dualchannel.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dualchannel.core.context_processors.portal",
            ],
        },
    },
]

# SQLite by default (zero set-up); PostgreSQL in production and CI through DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite as a server's database: WAL lets readers run beside the one writer; IMMEDIATE takes
    # the write lock when a transaction begins, so two writers queue (for up to ``timeout``
    # seconds) instead of one failing with "database is locked" when its read turns into a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command=(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    )


def _pg_session(*pairs: str) -> None:
    """Append ``name=value`` settings to every PostgreSQL connection's startup options."""
    if pairs:
        options = DATABASES["default"].setdefault("OPTIONS", {})
        flags = " ".join(f"-c {pair}" for pair in pairs)
        options["options"] = f"{options.get('options', '')} {flags}".strip()


if "postgresql" in DATABASES["default"]["ENGINE"] and env_bool("DB_PREPARED_STATEMENTS", True):
    # Parameters bound by the server and a statement run five times on a connection prepared
    # there (psycopg's prepare_threshold): PostgreSQL then parses and plans it once per connection
    # instead of on every run. The counter's joined reads spent 2–4 ms each in the planner, more
    # than in their execution (issue 15). Needs the connection to itself between statements: off
    # (DB_PREPARED_STATEMENTS=0) behind a pooler in transaction mode without prepared-statement
    # support (PgBouncer before 1.21, or without max_prepared_statements).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=env_int("DB_PREPARE_THRESHOLD", 5)
    )

if "postgresql" in DATABASES["default"]["ENGINE"]:
    # The planner's settings of every connection (PostgreSQL's own defaults assume spinning
    # disks and compile big queries to machine code): with random_page_cost 4 a city's year of
    # the persons' months (a range of the primary key) was read by a scan of the whole table,
    # 0.9 s against 0.1 s by the key, and JIT compilation added 0.5 s to the statistics'
    # queries (issue 13 §6). DB_SESSION_SETTINGS="" keeps the server's.
    _pairs = env_list("DB_SESSION_SETTINGS", ["random_page_cost=1.1", "jit=off"])
    for _pair in _pairs:
        if not re.fullmatch(r"[a-z_][a-z0-9_.]*=[A-Za-z0-9_.]+", _pair):
            raise ImproperlyConfigured(
                f"DB_SESSION_SETTINGS: {_pair!r} is not name=value (comma-separated)"
            )
    _pg_session(*_pairs)

# core.locks: check that every row lock follows the one lock order (tests and development).
LOCK_ORDER_CHECKS = env_bool("LOCK_ORDER_CHECKS", DEBUG or env_bool("DUALCHANNEL_TESTING", False))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env_bool("DUALCHANNEL_TESTING", False):
    # Tests create many users; a slow password hash only costs time there.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# "default": per-process memory for what a worker may keep to itself. "shared": counters every
# worker must see alike (the complaint form's per-address limit), in the database (the table is
# made by complaints migration 0002 and by the test database's set-up; the project has no Redis).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "dualchannel_shared_cache",
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lockout after repeated failed logins (pages and the API token endpoint alike).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
# Lock a username per client address, so nobody can lock out a colleague from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dualchannel.core.views.locked_out"
# Also counts one address's failures across usernames (AXES_IP_FAILURE_LIMIT below).
AXES_HANDLER = "dualchannel.core.security.AddressAwareAxesHandler"
# The client's address as the complaint throttle reads it: behind TRUSTED_PROXY_COUNT proxies the
# client's own entry of X-Forwarded-For, else REMOTE_ADDR (clients behind one proxy are apart).
AXES_CLIENT_IP_CALLABLE = "dualchannel.core.client_address.client_address"
AXES_VERBOSE = False

API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 12)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads live outside the web root and are never served as static files.
MEDIA_ROOT = VAR_DIR / "private"
WHITENOISE_USE_FINDERS = DEBUG or DEMO_MODE

# --- Production hardening: HTTPS, cookies, CSP, sessions, docs, second factor --------------
# See README "Security" and deploy/production.env.example (passes `check --deploy`).
_RELAXED = DEBUG or DEMO_MODE or env_bool("DUALCHANNEL_TESTING", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets X-Forwarded-Proto itself and strips the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Addresses: behind TRUSTED_PROXY_COUNT reverse proxies that each append the address they saw
# to X-Forwarded-For, the client is the entry that many from the right (core.client_address);
# 0 (the default): the header is the client's own claim and is ignored, REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not _RELAXED)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A form posted from a stale page (rotated token, expired session): a Chinese page, nothing written.
CSRF_FAILURE_VIEW = "dualchannel.core.views.csrf_failure"

# Request size: a multipart request (one 10 MB upload plus its fields) up to MAX_REQUEST_BYTES;
# any other body (JSON, forms) up to DATA_UPLOAD_MAX_MEMORY_SIZE. Larger answers 413.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 12 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 2 * 1024 * 1024)
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Signed-in sessions end after this much inactivity, and in any case this long after login.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", 12)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
# The pages use no inline script, style or event handler: everything comes from our origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
    },
}
# Swagger docs (/api/v1/docs, openapi.json): open in DEBUG/DEMO_MODE, else signed-in staff only.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", DEBUG or DEMO_MODE)
# Failed logins from one address across all usernames before the address is locked out.
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 20)
# Two-factor sign-in (TOTP) for agency officers and administrators; see core/security.py.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "双通道管理平台")
# --- end of production hardening ------------------------------------------------------------

# --- Integrations: every one is simulated or off by default -------------------------------

# Public address of this deployment, printed in QR codes of signed documents.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# National insurance platform (reference/nhsa-interface.md). Empty URL = the built-in simulator
# (SIMULATORS_ENABLED); without the simulators, a call to the platform stops (ImproperlyConfigured).
NHSA_PLATFORM_URL = env_str("NHSA_PLATFORM_URL", "")
NHSA_TRANSPORT = env_str("NHSA_TRANSPORT", "simulator")  # simulator | oauth2 | tif
NHSA_RECEIVER_SYSTEM_CODE = env_str("NHSA_RECEIVER_SYSTEM_CODE", "SIMULATOR")
NHSA_SIGNTYPE = env_str("NHSA_SIGNTYPE", "SM2")
NHSA_ENCRYPT = env_bool("NHSA_ENCRYPT", False)
NHSA_APP_ID = env_str("NHSA_APP_ID", "")
NHSA_APP_SECRET = env_str("NHSA_APP_SECRET", "")
NHSA_TIMEOUT_SECONDS = env_int("NHSA_TIMEOUT_SECONDS", 15)
NHSA_TOKEN_URL = env_str("NHSA_TOKEN_URL", "")  # OAuth2; default: platform URL + /oauth/token
NHSA_SINGLE_ENDPOINT = env_bool("NHSA_SINGLE_ENDPOINT", False)  # one URL for every infno
NHSA_SM2_PRIVATE_KEY = env_str("NHSA_SM2_PRIVATE_KEY", "")  # hex; signs input (cainfo)
NHSA_SM2_PUBLIC_KEY = env_str("NHSA_SM2_PUBLIC_KEY", "")
NHSA_SM4_KEY = env_str("NHSA_SM4_KEY", "")  # hex; required when NHSA_ENCRYPT is on
NHSA_DEVICE_MAC = env_str("NHSA_DEVICE_MAC", "")
NHSA_DEVICE_IP = env_str("NHSA_DEVICE_IP", "")

# E-prescription centre (医保电子处方中心, integration/rxcentre). Empty URL = built-in simulator
# (SIMULATORS_ENABLED), as for the national platform.
RX_CENTRE_URL = env_str("RX_CENTRE_URL", "")  # POST <RX_CENTRE_URL>/<api>, e.g. .../uploadChk
RX_CENTRE_APP_ID = env_str("RX_CENTRE_APP_ID", "DUALCHANNEL")  # appId registered with the centre
RX_CENTRE_VERSION = env_str("RX_CENTRE_VERSION", "1.0.0")
RX_CENTRE_TIMEOUT_SECONDS = env_int("RX_CENTRE_TIMEOUT_SECONDS", 15)
RX_CENTRE_ENCRYPT = env_bool("RX_CENTRE_ENCRYPT", False)  # data as SM4 ciphertext (encType SM4)
# Keys default to the national platform's; set these where the centre issued its own.
RX_CENTRE_SM2_PRIVATE_KEY = env_str("RX_CENTRE_SM2_PRIVATE_KEY", NHSA_SM2_PRIVATE_KEY)  # signData
RX_CENTRE_SM2_PUBLIC_KEY = env_str("RX_CENTRE_SM2_PUBLIC_KEY", NHSA_SM2_PUBLIC_KEY)
RX_CENTRE_SM4_KEY = env_str("RX_CENTRE_SM4_KEY", NHSA_SM4_KEY)  # hex; required with ENCRYPT

# Hospital systems: demo (built-in HIS stand-in) | fhir (a FHIR R4 server or bundle folder).
HIS_ADAPTER = env_str("HIS_ADAPTER", "demo")
FHIR_BASE_URL = env_str("FHIR_BASE_URL", "")
# The hospitals whose system that is, by 定点机构编码 or credit code (default: the demo's
# 武汉演示协和医院); any other hospital's physicians see no hospital-system data.
HIS_HOSPITALS = env_list("HIS_HOSPITALS", ["H42010200001"])
# A hospital's own FHIR server, by the code above (JSON); the others use FHIR_BASE_URL.
FHIR_BASE_URLS = env_json_map("FHIR_BASE_URLS")

# Notifications. SMS provider "log" writes to the log and is allowed only in DEMO_MODE/tests.
SMS_PROVIDER = env_str("SMS_PROVIDER", "log")
WECHAT_ENABLED = env_bool("WECHAT_ENABLED", False)
WECHAT_API_BASE = env_str("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
# The demo's official account is the bundled simulator's (real WeChat: set the id and secret).
WECHAT_APP_ID = env_str("WECHAT_APP_ID", "wxdemo0000000000" if DEMO_MODE else "")
WECHAT_APP_SECRET = env_str("WECHAT_APP_SECRET", "demo-secret" if DEMO_MODE else "")
# Web authorisation (网页授权) that binds a patient's openid in the portal: the authorize page
# the browser is sent to and the API base of sns/oauth2/access_token. Real WeChat by default;
# the demo uses the bundled simulator (/simulators/wechat/...) at PUBLIC_BASE_URL.
_WECHAT_SIM = f"{PUBLIC_BASE_URL}/simulators/wechat" if DEMO_MODE else ""
WECHAT_OAUTH_AUTHORIZE_URL = env_str(
    "WECHAT_OAUTH_AUTHORIZE_URL",
    f"{_WECHAT_SIM}/connect/oauth2/authorize"
    if _WECHAT_SIM
    else "https://open.weixin.qq.com/connect/oauth2/authorize",
)
WECHAT_OAUTH_API_BASE = env_str("WECHAT_OAUTH_API_BASE", _WECHAT_SIM or WECHAT_API_BASE).rstrip("/")
# The ids the SMS operator and the official account gave each template, by template code, as
# JSON ({"eligibility.approved": "SMS_2950001"}); a code not listed uses its built-in id.
SMS_TEMPLATE_IDS = env_json_map("SMS_TEMPLATE_IDS")
WECHAT_TEMPLATE_IDS = env_json_map("WECHAT_TEMPLATE_IDS")

# Online payment of the personal part [CX art. 22] (app dualchannel.payments). A real provider is
# configuration only: WeChat Pay API v3 (直连商户, H5) with the merchant's ids and key files. An
# empty WECHATPAY_BASE_URL = the bundled simulator (SIMULATORS_ENABLED), answered in process.
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "wechatpay")
PAYMENT_NOTIFY_BASE_URL = env_str("PAYMENT_NOTIFY_BASE_URL", PUBLIC_BASE_URL).rstrip("/")
PAYMENT_NOTIFY_MAX_AGE_SECONDS = env_int("PAYMENT_NOTIFY_MAX_AGE_SECONDS", 300)  # older: a replay
WECHATPAY_BASE_URL = env_str("WECHATPAY_BASE_URL", "").rstrip("/")  # https://api.mch.weixin.qq.com
WECHATPAY_MCH_ID = env_str("WECHATPAY_MCH_ID", "")
WECHATPAY_APP_ID = env_str("WECHATPAY_APP_ID", "")
WECHATPAY_API_V3_KEY = env_str("WECHATPAY_API_V3_KEY", "")  # 32 bytes; decrypts callbacks
WECHATPAY_MERCHANT_SERIAL_NO = env_str("WECHATPAY_MERCHANT_SERIAL_NO", "")
WECHATPAY_MERCHANT_PRIVATE_KEY_PATH = env_str("WECHATPAY_MERCHANT_PRIVATE_KEY_PATH", "")  # PEM
# The platform certificate or the 微信支付公钥 (PEM) and its serial (Wechatpay-Serial).
WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = env_str("WECHATPAY_PLATFORM_PUBLIC_KEY_PATH", "")
WECHATPAY_PLATFORM_SERIAL_NO = env_str("WECHATPAY_PLATFORM_SERIAL_NO", "")
WECHATPAY_TIMEOUT_SECONDS = env_int("WECHATPAY_TIMEOUT_SECONDS", 15)
# The simulator sends its callbacks at once (tests turn it off to send them late, twice, forged).
WXPAY_SIMULATOR_AUTO_NOTIFY = env_bool("WXPAY_SIMULATOR_AUTO_NOTIFY", True)

# Signing keys of physicians are stored encrypted with this key (Fernet, urlsafe base64).
DOCUMENT_KEY_ENCRYPTION_KEY = env_str("DOCUMENT_KEY_ENCRYPTION_KEY", "")

# Audit ledger (core.audit): HMAC keys and head checkpoints live outside the database, so a
# database writer can neither re-hash the chain nor rewind it unseen (README: Audit ledger).
_AUDIT_DEV = DEBUG or DEMO_MODE or env_bool("DUALCHANNEL_TESTING", False)
AUDIT_HMAC_KEYS, AUDIT_HMAC_KEY_ID = read_audit_keys(
    env_str("AUDIT_HMAC_KEYS", ""),
    env_str("AUDIT_HMAC_KEY_ID", ""),
    secret_key=SECRET_KEY,
    insecure_default_ok=_AUDIT_DEV,
)
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))
# Minutes between the worker's checkpoints; 0 = none (tests write their own).
AUDIT_CHECKPOINT_MINUTES = env_int(
    "AUDIT_CHECKPOINT_MINUTES", 0 if env_bool("DUALCHANNEL_TESTING", False) else 10
)
if env_bool("DUALCHANNEL_TESTING", False) and "postgresql" in DATABASES["default"]["ENGINE"]:
    # The test runner empties tables with TRUNCATE, which the ledger's trigger otherwise refuses.
    _pg_session("dualchannel.allow_audit_truncate=on")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Axes logs usernames and addresses at INFO/WARNING; keep personal data out of logs.
    # httpx logs every request's address at INFO: WeChat's appsecret, OAuth code and
    # access_token travel in the query string, so only its warnings are kept.
    "loggers": {"axes": {"level": "ERROR"}, "httpx": {"level": "WARNING"}},
}
