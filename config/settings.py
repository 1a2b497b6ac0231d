"""Deployment settings and secrets, read once from the environment into a typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import Secret

from config.model import HotlineConfig, load_config

DEFAULT_DATABASE_URL = "sqlite:///var/hotline.sqlite3"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"

# Every variable the service reads, with what it is for; docs/configuration.md must list each one
# (tests/test_docs.py checks).
ENVIRONMENT = {
    "HOTLINE_CONFIG": "path of the line/team configuration file (default: the shipped one)",
    "HOTLINE_DATABASE_URL": f"SQLAlchemy database URL (default: {DEFAULT_DATABASE_URL})",
    "HOTLINE_PUBLIC_URL": "base URL Twilio calls; webhook signatures are checked against it",
    "HOTLINE_FALLBACK_PUBLIC_URL": "base URL of the other host, which Twilio's fallback URLs "
    "name (hotline twilio configure); unset: the same host",
    "TWILIO_ACCOUNT_SID": "Twilio account; without it and the token: simulation mode",
    "TWILIO_AUTH_TOKEN": "Twilio auth token (signs webhooks, authenticates REST calls)",
    "TWILIO_AUTH_TOKEN_SECONDARY": "a second accepted webhook token, while rotating the token",
    "HOTLINE_MODE": "production or development (default); production refuses missing secrets",
    "HOTLINE_SECRET_KEY": "key for sessions and keyed hashes",
    "HOTLINE_ENCRYPTION_KEY": "key for data encrypted at rest (client phone numbers, messages)",
    "HOTLINE_TWILIO_API_URL": "send Twilio REST calls to this Twilio-compatible server instead",
    "HOTLINE_SMTP_URL": "mail server for e-mail notices: smtp://user:pass@host:587 or smtps://…:465",
    "HOTLINE_MAIL_FROM": "sender address of e-mail notices (default: hotline@ the public host)",
    "HOTLINE_METRICS_TOKEN": "bearer token /metrics asks for; unset: open in development, "
    "not served in production",
    "HOTLINE_SSO_CLIENT_SECRET": "the OpenID Connect client secret of single sign-on ([sso])",
}


# In simulation mode (no Twilio credentials) webhooks are signed with this well-known token,
# so the simulator and local tools can produce valid requests. Never accepted in production.
DEVELOPMENT_AUTH_TOKEN = "konex-development-token"  # noqa: S105 - public by design
MODES = ("development", "production")


class SettingsError(Exception):
    """An environment variable has an unusable value."""


@dataclass(frozen=True)
class Settings:
    config: HotlineConfig
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = DEFAULT_PUBLIC_URL
    # The base URL of another host, for Twilio's fallback URLs; None: none (the same host).
    fallback_public_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = field(default=None, repr=False)
    secret_key: Secret | None = field(default=None, repr=False)
    encryption_key: Secret | None = field(default=None, repr=False)
    twilio_api_url: str | None = None
    twilio_auth_token_secondary: Secret | None = field(default=None, repr=False)
    mode: str = "development"
    smtp_url: Secret | None = field(default=None, repr=False)  # holds the SMTP password
    mail_from: str | None = None
    metrics_token: Secret | None = field(default=None, repr=False)
    sso_client_secret: Secret | None = field(default=None, repr=False)

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def fallback_base(self) -> str:
        """The base URL of Twilio's fallback URLs: the other host's, or (without one) this."""
        return self.fallback_public_url or self.public_url

    def webhook_tokens(self) -> tuple[str, ...]:
        """Tokens a Twilio signature may be made with: the auth token (and, while rotating,
        the secondary one); without credentials, the development token."""
        tokens = [str(t) for t in (self.twilio_auth_token, self.twilio_auth_token_secondary) if t]
        return tuple(tokens) or (DEVELOPMENT_AUTH_TOKEN,)

    def check_production(self) -> None:
        """Production needs real secrets; refuse to start without them."""
        if not self.production:
            return
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                ("HOTLINE_SECRET_KEY", self.secret_key),
                ("HOTLINE_ENCRYPTION_KEY", self.encryption_key),
                (
                    "HOTLINE_SSO_CLIENT_SECRET",
                    self.sso_client_secret or not self.config.sso.enabled,
                ),
            )
            if not value
        ]
        if missing:
            raise SettingsError(f"HOTLINE_MODE=production needs {', '.join(missing)}")
        for name, url in (
            ("HOTLINE_PUBLIC_URL", self.public_url),
            ("HOTLINE_FALLBACK_PUBLIC_URL", self.fallback_public_url),
        ):
            if url is not None and not url.startswith("https://"):
                raise SettingsError(f"HOTLINE_MODE=production needs an https:// {name}")

    @property
    def simulation(self) -> bool:
        """No Twilio credentials: nothing leaves the machine; messages go to the outbox."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def secret(name: str) -> Secret | None:
            value = text(name)
            return Secret(value) if value else None

        def base_url(name: str) -> str | None:
            value = text(name)
            if value is None:
                return None
            if not value.startswith(("http://", "https://")):
                raise SettingsError(f"{name}: must start with http:// or https://")
            return value.rstrip("/")

        public_url = base_url("HOTLINE_PUBLIC_URL") or DEFAULT_PUBLIC_URL
        mode = text("HOTLINE_MODE") or "development"
        smtp_url = text("HOTLINE_SMTP_URL")
        if smtp_url and not smtp_url.startswith(("smtp://", "smtps://")):
            raise SettingsError("HOTLINE_SMTP_URL: must start with smtp:// or smtps://")
        if mode not in MODES:
            raise SettingsError(f"HOTLINE_MODE: must be one of {', '.join(MODES)}")
        settings = cls(
            config=load_config(text("HOTLINE_CONFIG")),
            database_url=text("HOTLINE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            public_url=public_url,
            fallback_public_url=base_url("HOTLINE_FALLBACK_PUBLIC_URL"),
            twilio_account_sid=text("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=secret("TWILIO_AUTH_TOKEN"),
            secret_key=secret("HOTLINE_SECRET_KEY"),
            encryption_key=secret("HOTLINE_ENCRYPTION_KEY"),
            twilio_api_url=text("HOTLINE_TWILIO_API_URL"),
            twilio_auth_token_secondary=secret("TWILIO_AUTH_TOKEN_SECONDARY"),
            mode=mode,
            smtp_url=secret("HOTLINE_SMTP_URL"),
            mail_from=text("HOTLINE_MAIL_FROM"),
            metrics_token=secret("HOTLINE_METRICS_TOKEN"),
            sso_client_secret=secret("HOTLINE_SSO_CLIENT_SECRET"),
        )
        settings.check_production()
        return settings

    def sqlite_path(self) -> Path | None:
        """The database file for a SQLite URL (created on demand), else None."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        rest = self.database_url.removeprefix(prefix).split("?", 1)[0]
        return None if rest in ("", ":memory:") else Path(rest)
