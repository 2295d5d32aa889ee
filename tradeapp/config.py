"""Settings read from the environment.

Embedded mode (no DATABASE_URL and no REDIS_URL) runs everything in one process on SQLite:
jobs run in-process, the market is simulated, Socket.IO needs no message queue and payments
use sandbox providers. Production mode is selected by setting DATABASE_URL and REDIS_URL.
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tradeapp import api_dialect

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"
#: providers that move no real money / check no real identity; refused in production by default
SANDBOX_PAYMENT_PROVIDERS = frozenset({"sandbox"})
SANDBOX_PAYOUT_PROVIDERS = frozenset({"sandbox"})
SANDBOX_KYC_PROVIDERS: frozenset[str] = frozenset()  # manual review and onfido are both real checks


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def parse_networks(value: str) -> dict[str, list[str]]:
    """``"BTC:bitcoin;USDT:ethereum,tron"`` → ``{"BTC": ["bitcoin"], "USDT": ["ethereum", "tron"]}``."""
    networks: dict[str, list[str]] = {}
    for part in value.split(";"):
        code, _, names = part.partition(":")
        if code.strip() and names.strip():
            networks[code.strip().upper()] = [n.strip().lower() for n in names.split(",") if n.strip()]
    return networks


def database_url(url: str) -> str:
    """Normalise PostgreSQL URLs to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Configuration for both modes, read once from the environment."""

    def __init__(self) -> None:
        self.INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))
        db_url = os.environ.get("DATABASE_URL", "")
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.EMBEDDED = not (db_url and self.REDIS_URL)
        self.SQLALCHEMY_DATABASE_URI = (
            database_url(db_url) if db_url else (f"sqlite:///{self.INSTANCE_DIR / 'tradeapp.sqlite3'}")
        )
        # A ping before every checkout is one more round trip per request. Without it a connection
        # the server dropped fails one request, and SQLAlchemy then discards the whole pool; with
        # DB_POOL_PRE_PING=true every request pays for never seeing that. Connections are renewed
        # after DB_POOL_RECYCLE seconds (before idle-connection killers in between get to them).
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            "pool_pre_ping": env_bool("DB_POOL_PRE_PING", False),
            "pool_recycle": env_int("DB_POOL_RECYCLE", 300),
        }
        self.SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
        self.SITE_NAME = os.environ.get("SITE_NAME", "tradeapp")
        self.PORT = env_int("PORT", 5000)
        #: the public URL: e-mailed links are built from it, never from the request's Host header;
        #: required in production, http://127.0.0.1:$PORT in embedded mode
        default_base = f"http://127.0.0.1:{self.PORT}" if self.EMBEDDED else ""
        self.BASE_URL = os.environ.get("BASE_URL", default_base).rstrip("/")
        #: reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted
        #: (0: none, the client's own address counts, so forged headers cannot dodge rate limits)
        self.TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

        # Cookies: HttpOnly and SameSite always; Secure unless we serve plain http locally.
        secure = env_bool("SESSION_COOKIE_SECURE", not self.EMBEDDED)
        self.SESSION_COOKIE_SECURE = secure
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_DURATION = timedelta(days=env_int("REMEMBER_DAYS", 30))
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=env_int("SESSION_HOURS", 12))
        self.PREFERRED_URL_SCHEME = "https" if secure else "http"
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 40 * 1024 * 1024)

        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock

        # Mobile tokens
        self.JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY", self.SECRET_KEY)
        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 60))
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=env_int("JWT_REFRESH_DAYS", 7))
        self.JWT_TOKEN_LOCATION = ["headers"]
        self.JWT_ERROR_MESSAGE_KEY = "error"

        # Rate limits and lockout
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;100 per hour")
        self.SIGNUP_RATE_LIMIT = os.environ.get("SIGNUP_RATE_LIMIT", "5 per minute;50 per hour")
        self.RESET_RATE_LIMIT = os.environ.get("RESET_RATE_LIMIT", "5 per minute;30 per hour")
        self.REFRESH_RATE_LIMIT = os.environ.get("REFRESH_RATE_LIMIT", "30 per minute")
        self.LOCKOUT_THRESHOLD = env_int("LOCKOUT_THRESHOLD", 5)
        self.LOCKOUT_BASE_SECONDS = env_int("LOCKOUT_BASE_SECONDS", 60)
        self.LOCKOUT_MAX_SECONDS = env_int("LOCKOUT_MAX_SECONDS", 3600)

        # Passwords
        self.PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 10)
        self.PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")
        self.EMAIL_TOKEN_MAX_AGE = env_int("EMAIL_TOKEN_MAX_AGE", 3 * 24 * 3600)
        self.RESET_TOKEN_MAX_AGE = env_int("RESET_TOKEN_MAX_AGE", 3600)

        # Mail: SMTP in production; embedded mode writes .eml files to the outbox folder.
        self.MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "outbox" if self.EMBEDDED else "smtp")
        self.MAIL_OUTBOX_DIR = Path(os.environ.get("MAIL_OUTBOX_DIR", self.INSTANCE_DIR / "outbox"))
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
        self.MAIL_PORT = env_int("MAIL_PORT", 25)
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "tradeapp <no-reply@tradeapp.local>")
        self.MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 10)

        # Jobs: in-process in embedded mode, RQ on Redis otherwise.
        self.JOBS_INLINE = env_bool("JOBS_INLINE", self.EMBEDDED)

        # Socket.IO
        self.SOCKETIO_MESSAGE_QUEUE = None if self.EMBEDDED else self.REDIS_URL
        #: the message queue's Redis pub/sub channel (Flask-SocketIO's default name), the same in
        #: every process that emits (web, worker, feed) and in the realtime process that delivers
        self.SOCKETIO_CHANNEL = os.environ.get("SOCKETIO_CHANNEL", "flask-socketio")
        #: browsers' sockets are served by the web process itself (embedded mode) or, in
        #: production, by the separate ``realtime`` process; then the web process only emits
        #: through the message queue (write-only) and refuses socket connections
        self.REALTIME_IN_WEB = env_bool("REALTIME_IN_WEB", self.EMBEDDED)
        #: where ``python -m tradeapp.realtime_server`` listens (the reverse proxy routes
        #: ``/socket.io/`` there)
        self.REALTIME_HOST = os.environ.get("REALTIME_HOST", "127.0.0.1")
        self.REALTIME_PORT = env_int("REALTIME_PORT", 5001)
        #: threads that authenticate realtime handshakes (one database query each)
        self.REALTIME_AUTH_THREADS = env_int("REALTIME_AUTH_THREADS", 4)

        # Market feed
        self.MARKET_FEED = os.environ.get("MARKET_FEED", "simulated")
        self.FEED_INTERVAL = float(os.environ.get("FEED_INTERVAL", "1.0"))
        self.FEED_SEED = env_int("FEED_SEED", 42)
        #: a pair whose last tick is older than this is stale: orders on it are refused
        self.FEED_STALE_SECONDS = float(os.environ.get("FEED_STALE_SECONDS", "15"))

        # Orders
        #: market orders fill no further than this fraction from the best price (0.01 = 1 %);
        #: buys hold quantity × ask × (1 + this) plus the fee
        self.ORDER_MAX_SLIPPAGE = Decimal(os.environ.get("ORDER_MAX_SLIPPAGE", "0.01"))
        #: per-request timeout of ccxt exchanges (MARKET_FEED=ccxt); keys, if any, come from
        #: CCXT_<EXCHANGE>_API_KEY / CCXT_<EXCHANGE>_SECRET
        self.CCXT_TIMEOUT_MS = env_int("CCXT_TIMEOUT_MS", 10000)

        # Staff two-factor
        self.TOTP_ISSUER = os.environ.get("TOTP_ISSUER", self.SITE_NAME)
        self.STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", True)

        # Housekeeping
        #: approved/processing work untouched this long is stuck: the recovery job enqueues it again
        self.WORK_STUCK_MINUTES = env_int("WORK_STUCK_MINUTES", 10)
        self.TOKEN_RETENTION_DAYS = env_int("TOKEN_RETENTION_DAYS", 1)

        # OpenAPI (flask-smorest); the docs page is our own, self-hosted.
        self.API_TITLE = "tradeapp API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = None
        self.API_SPEC_OPTIONS = {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
            "info": {"description": api_dialect.description()},
        }

        # Payments (deposits). Card payments go through Stripe when a secret key is set, else the
        # sandbox provider (test card numbers, no network). STRIPE_API_BASE points the stripe
        # library at another server (localstripe in tests).
        self.STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
        self.STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
        self.STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
        self.STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
        self.PAYMENTS_PROVIDER = os.environ.get("PAYMENTS_PROVIDER", "stripe" if self.STRIPE_SECRET_KEY else "sandbox")
        #: shown in bank-transfer instructions
        self.BANK_DETAILS = {
            "beneficiary": os.environ.get("BANK_BENEFICIARY", "tradeapp Client Money Ltd"),
            "iban": os.environ.get("BANK_IBAN", "GB33BUKB20201555555555"),
            "bic": os.environ.get("BANK_BIC", "BUKBGB22"),
            "bank_name": os.environ.get("BANK_NAME", "Demo Bank plc"),
        }
        #: deposit networks per crypto currency, e.g. CRYPTO_NETWORKS="BTC:bitcoin;USDT:ethereum,tron"
        self.CRYPTO_NETWORKS = parse_networks(
            os.environ.get("CRYPTO_NETWORKS", "BTC:bitcoin;ETH:ethereum;USDT:ethereum,tron")
        )

        # Withdrawals: KYC gate, dual approval above this USD-equivalent amount, payout rails
        # (sandbox | manual_bank; PAYOUT_PROVIDER_BANK overrides it for bank withdrawals).
        self.WITHDRAWALS_REQUIRE_KYC = env_bool("WITHDRAWALS_REQUIRE_KYC", True)
        self.WITHDRAWAL_DUAL_APPROVAL_OVER = os.environ.get("WITHDRAWAL_DUAL_APPROVAL_OVER", "10000")
        # Customer account security (issue 20): a new address waits this long before it can be used;
        # withdrawals wait for an e-mailed confirmation (each customer's default; off only with 2FA)
        # that expires after these minutes; above this USD amount withdrawals need two-factor ("" = never).
        self.WITHDRAWAL_ADDRESS_COOLING_HOURS = os.environ.get("WITHDRAWAL_ADDRESS_COOLING_HOURS", "24")
        self.WITHDRAWAL_EMAIL_CONFIRMATION = env_bool("WITHDRAWAL_EMAIL_CONFIRMATION", True)
        self.WITHDRAWAL_CONFIRMATION_MINUTES = env_int("WITHDRAWAL_CONFIRMATION_MINUTES", 30)
        self.WITHDRAWAL_2FA_OVER_USD = os.environ.get("WITHDRAWAL_2FA_OVER_USD", "")
        #: loans above this amount (USD-equivalent) need two different approvers (maker-checker)
        self.LOAN_DUAL_APPROVAL_OVER = os.environ.get("LOAN_DUAL_APPROVAL_OVER", "10000")
        self.PAYOUT_PROVIDER = os.environ.get("PAYOUT_PROVIDER", "sandbox")
        self.PAYOUT_PROVIDER_BANK = os.environ.get("PAYOUT_PROVIDER_BANK", "")

        # KYC submissions: private encrypted storage (never under static/), Fernet keys newest
        # first (comma-separated; rotate by prepending), upload limits and the minimum age.
        self.KYC_STORAGE_DIR = Path(os.environ.get("KYC_STORAGE_DIR", self.INSTANCE_DIR / "kyc"))
        self.KYC_ENCRYPTION_KEYS = os.environ.get("KYC_ENCRYPTION_KEYS", "")
        self.KYC_MAX_FILE_MB = env_int("KYC_MAX_FILE_MB", 8)
        self.KYC_MIN_AGE = env_int("KYC_MIN_AGE", 18)

        # KYC provider: manual (the compliance queue only) or onfido (applicant + check over HTTP,
        # verdict by signed webhook). A "clear" verdict approves on its own only with KYC_AUTO_APPROVE.
        self.KYC_PROVIDER = os.environ.get("KYC_PROVIDER", "manual")
        self.KYC_AUTO_APPROVE = env_bool("KYC_AUTO_APPROVE", False)
        self.ONFIDO_API_URL = os.environ.get("ONFIDO_API_URL", "https://api.eu.onfido.com/v3.6").rstrip("/")
        self.ONFIDO_API_TOKEN = os.environ.get("ONFIDO_API_TOKEN", "")
        self.ONFIDO_WEBHOOK_TOKEN = os.environ.get("ONFIDO_WEBHOOK_TOKEN", "")

        # KYC review: how long an approval counts before the customer must verify again.
        self.KYC_VALIDITY_DAYS = int(os.environ.get("KYC_VALIDITY_DAYS", "730"))

        #: production mode refuses the sandbox (demo, no real money) payment, payout and KYC providers,
        #: and their routes answer 404, unless this is set: for a staging site only, never real money
        self.ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION = env_bool("ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION", False)

        self.TESTING = False
        self.DEBUG = env_bool("FLASK_DEBUG", False)
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()

    def sandbox_providers(self) -> list[str]:
        """The configured providers that are sandboxes (no real money, no real identity check)."""
        found = []
        if self.PAYMENTS_PROVIDER in SANDBOX_PAYMENT_PROVIDERS:
            found.append(f"PAYMENTS_PROVIDER={self.PAYMENTS_PROVIDER}")
        for name in ("PAYOUT_PROVIDER", "PAYOUT_PROVIDER_BANK"):
            if getattr(self, name) in SANDBOX_PAYOUT_PROVIDERS:
                found.append(f"{name}={getattr(self, name)}")
        if self.KYC_PROVIDER in SANDBOX_KYC_PROVIDERS:
            found.append(f"KYC_PROVIDER={self.KYC_PROVIDER}")
        return found

    def check(self) -> None:
        """Refuse unsafe production settings."""
        if self.EMBEDDED or self.TESTING:
            return
        if self.SECRET_KEY == DEFAULT_SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set to a random value in production mode")
        if len(self.SECRET_KEY) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters in production mode")
        if not self.BASE_URL.startswith(("http://", "https://")):
            raise RuntimeError(
                "BASE_URL must be set in production mode (e.g. https://trade.example.com): "
                "e-mailed links are built from it"
            )
        sandboxes = self.sandbox_providers()
        if sandboxes and not self.ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION:
            raise RuntimeError(
                f"production mode refuses sandbox providers ({', '.join(sandboxes)}): anyone could fund an "
                "account with a test card. Configure real providers (STRIPE_SECRET_KEY, PAYOUT_PROVIDER=manual_bank), "
                "or set ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION=true on a staging site without real money"
            )


def sandbox_routes_enabled(config) -> bool:
    """Sandbox pages (test-card payment, demo hooks) exist in embedded mode, or where loudly allowed."""
    return bool(config.get("EMBEDDED") or config.get("ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION"))


class TestConfig(Config):
    """Tests: cheap hashing, no rate limits unless a test enables them, mail to a folder."""

    def __init__(self, database_uri: str, redis_url: str = "", instance_dir: Path | None = None) -> None:
        if instance_dir is not None:
            os.environ.setdefault("INSTANCE_DIR", str(instance_dir))
        super().__init__()
        if instance_dir is not None:
            self.INSTANCE_DIR = Path(instance_dir)
            self.MAIL_OUTBOX_DIR = self.INSTANCE_DIR / "outbox"
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
        self.JWT_SECRET_KEY = self.SECRET_KEY
        self.SQLALCHEMY_DATABASE_URI = database_uri
        # Concurrency tests run 20+ threads at once, each holding a connection.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 30, "max_overflow": 10}
        self.REDIS_URL = redis_url
        self.EMBEDDED = not database_uri.startswith("postgresql")
        self.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"
        self.RATELIMIT_ENABLED = False
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.MAIL_BACKEND = "outbox"
        self.JOBS_INLINE = True
        self.SOCKETIO_MESSAGE_QUEUE = None
        self.REALTIME_IN_WEB = True
        self.SESSION_COOKIE_SECURE = False
        self.REMEMBER_COOKIE_SECURE = False
        self.SERVER_NAME = None
        # The test client's host; on PostgreSQL the suite runs in production mode with the sandbox
        # rails (tests that check the refusal switch this off).
        self.BASE_URL = "http://localhost"
        self.ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION = True
        # The suite's older withdrawal tests go straight to the staff queue; tests of the e-mailed
        # confirmation (tests/account_security) switch it back on, as it is by default.
        self.WITHDRAWAL_EMAIL_CONFIRMATION = False
