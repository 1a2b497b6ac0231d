"""The OpenID Connect client of single sign-on: the authorization code flow with PKCE (S256),
through authlib (requests) and joserfc.

* Discovery: `<issuer>/.well-known/openid-configuration`, whose `issuer` must be the configured
  one exactly (a document of another provider is refused).
* The authorization request carries `state`, `nonce` and the S256 challenge of a verifier; the
  callback's `code` is exchanged at the token endpoint with the client secret (HTTP Basic) and
  the verifier.
* The ID token is verified: its signature with a key of the provider's JWKS (asymmetric
  algorithms only, never `none` or a shared-secret one), `iss`, `aud` (and `azp` when there are
  several audiences), `exp`, `iat` and the `nonce` of this sign-in.

Everything that fails, from an unreachable provider to a forged token, is an `SsoError` with a
German message for the page; no token or code is ever logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2 import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from config.model import Sso
from web.i18n import N_

log = logging.getLogger(__name__)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY_SECONDS = 60
UNREACHABLE = N_(
    "Der Anmeldedienst ist gerade nicht erreichbar. Bitte versuchen Sie es später noch einmal "
    "oder melden Sie sich mit Benutzername und Passwort an."
)
REFUSED = N_(
    "Die Antwort des Anmeldedienstes ließ sich nicht bestätigen. Es wurde niemand angemeldet. "
    "Bitte versuchen Sie es noch einmal."
)


class SsoError(Exception):
    """Single sign-on failed; `message` is for the page (German, marked for the catalogues:
    the page translates it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the provider's discovery document says (the parts used here)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _get_json(url: str, timeout: int) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("single sign-on: %s unusable: %s", url, type(exc).__name__)
        raise SsoError(UNREACHABLE, f"{url}: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise SsoError(UNREACHABLE, f"{url}: not a JSON object")
    return data


def discover(sso: Sso) -> Metadata:
    url = sso.issuer.rstrip("/") + "/.well-known/openid-configuration"
    data = _get_json(url, sso.timeout_seconds)
    if data.get("issuer") != sso.issuer:
        log.warning("single sign-on: the discovery document names another issuer")
        raise SsoError(REFUSED, "issuer of the discovery document differs")
    fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if not all(isinstance(data.get(name), str) for name in fields):
        raise SsoError(UNREACHABLE, "discovery document incomplete")
    return Metadata(sso.issuer, *(str(data[name]) for name in fields))


def authorization_url(
    sso: Sso, metadata: Metadata, redirect_uri: str, *, state: str, nonce: str, verifier: str
) -> str:
    client = OAuth2Session(
        sso.client_id,
        scope=" ".join(sso.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
    )
    return str(url)


def exchange(
    sso: Sso,
    secret: str | None,
    metadata: Metadata,
    redirect_uri: str,
    *,
    code: str,
    verifier: str,
) -> str:
    """The ID token the token endpoint gives for `code` (not yet verified)."""
    client = OAuth2Session(
        sso.client_id,
        secret,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    try:
        token = client.fetch_token(
            metadata.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            timeout=sso.timeout_seconds,
        )
    except requests.RequestException as exc:
        log.warning("single sign-on: token endpoint unreachable: %s", type(exc).__name__)
        raise SsoError(UNREACHABLE, "token endpoint unreachable") from exc
    except (OAuthError, OAuth2Error, ValueError) as exc:  # refused, or a body that is no JSON
        log.warning("single sign-on: token request refused: %s", type(exc).__name__)
        raise SsoError(REFUSED, f"token request refused: {type(exc).__name__}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoError(REFUSED, "no ID token")
    return id_token


def keys(sso: Sso, metadata: Metadata) -> dict[str, Any]:
    return _get_json(metadata.jwks_uri, sso.timeout_seconds)


def verify_id_token(
    id_token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    nonce: str,
    now: datetime,
) -> dict[str, Any]:
    """The claims of a valid ID token for this client and sign-in; SsoError otherwise."""
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)  # type: ignore[arg-type]
        jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        log.warning("single sign-on: ID token refused: %s", type(exc).__name__)
        raise SsoError(REFUSED, f"ID token refused: {type(exc).__name__}") from exc
    claims = dict(token.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != audience:
        raise SsoError(REFUSED, "ID token for several audiences without this client as azp")
    return claims
