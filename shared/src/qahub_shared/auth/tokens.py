"""Issue and verify QA Hub's JWTs (ES256, `kid` header). This package is the only importer of `jose`.

Claims of every token: `iss`, `aud` (the services its scopes open), `sub` (username), `jti` (token id),
`iat`, `nbf`, `exp`, `scope` (space-separated, RFC 8693 style), `kind` (`session` | `api`) and, when the
token is restricted to projects, `projects` (a list of patterns).

Verification accepts ES256 only, looks the key up by `kid`, and requires and checks `exp`, `iat`, `iss`,
`aud`, `sub` and `jti`. Everything that fails is a 401 in the error envelope, with the reason. A verified
token is remembered (bounded, until it expires) so a client sending the same token again costs a dict
lookup, not an ECDSA verification; revocation is checked on every request by the caller (`Authenticator`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError

from qahub_shared.auth.keys import ALGORITHM, PublicKey, SigningKey
from qahub_shared.auth.principal import Audience, Principal, Scope, TokenKind, audiences, expand
from qahub_shared.errors import Unauthorized

MAX_TOKEN_BYTES = 8192
CLOCK_LEEWAY_SECONDS = 30


def unauthorized(message: str) -> Unauthorized:
    """401 with the RFC 6750 challenge, so clients know a (better) bearer token is expected."""
    challenge = f'Bearer realm="qahub", error="invalid_token", error_description="{message}"'
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token says: issued by qa_api, signed by `TokenIssuer`."""

    subject: str
    token_id: str
    kind: TokenKind
    scopes: frozenset[Scope]
    projects: tuple[str, ...] | None
    issued_at: datetime
    expires_at: datetime


class TokenIssuer:
    """Signs grants with the first of its keys; publishes all of them."""

    def __init__(self, keys: Sequence[SigningKey], *, issuer: str) -> None:
        if not keys:
            raise ValueError("a token issuer needs at least one signing key")
        self._keys = list(keys)
        self.issuer = issuer

    @property
    def public_keys(self) -> list[PublicKey]:
        return [key.public for key in self._keys]

    def issue(self, grant: Grant) -> str:
        key = self._keys[0]
        opens = audiences(grant.scopes)
        if grant.kind is TokenKind.SESSION:
            # a session can always reach qa_api, where its user manages their tokens
            opens |= {Audience.QA_API}
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": sorted(audience.value for audience in opens),
            "sub": grant.subject,
            "jti": grant.token_id,
            "iat": int(grant.issued_at.timestamp()),
            "nbf": int(grant.issued_at.timestamp()),
            "exp": int(grant.expires_at.timestamp()),
            "scope": " ".join(sorted(scope.value for scope in grant.scopes)),
            "kind": grant.kind.value,
        }
        if grant.projects is not None:
            claims["projects"] = list(grant.projects)
        token: str = jwt.encode(claims, key.signer, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token


class KeySet(Protocol):
    """Where a verifier finds the public key a token names."""

    async def key(self, kid: str) -> PublicKey | None: ...


class StaticKeySet:
    """Keys known up front: the issuer's own, or keys configured in a file."""

    def __init__(self, keys: Sequence[PublicKey]) -> None:
        self._keys = {key.kid: key for key in keys}

    async def key(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)


class TokenVerifier:
    """Verifies tokens presented to one service (`audience`)."""

    def __init__(self, keys: KeySet, *, issuer: str, audience: Audience, cache_size: int = 4096) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at.timestamp() + CLOCK_LEEWAY_SECONDS > datetime.now(UTC).timestamp():
                self._cache.move_to_end(token)
                return cached
            del self._cache[token]
        principal = await self._verify(token)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise unauthorized("The token is too long to be one of ours.")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise unauthorized("The token is not a JWT.") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise unauthorized(f"Tokens signed with {alg!r} are not accepted (only {ALGORITHM}).")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthorized("The token names no signing key (kid).")
        key = await self._keys.key(kid)
        if key is None:
            raise unauthorized("The token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key.verifier,
                algorithms=[ALGORITHM],
                audience=self._audience.value,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "require_jti": True,
                    "leeway": CLOCK_LEEWAY_SECONDS,
                },
            )
        except ExpiredSignatureError:
            raise unauthorized("The token has expired.") from None
        except JWTClaimsError as exc:
            raise unauthorized(f"The token is not valid here: {exc}.") from None
        except JWTError:
            raise unauthorized("The token's signature is invalid.") from None
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        # scopes this version does not know are ignored: a newer issuer may grant more
        known = {scope.value for scope in Scope}
        granted = [Scope(name) for name in str(claims.get("scope", "")).split() if name in known]
        projects = claims.get("projects")
        if projects is not None and not (
            isinstance(projects, list) and all(isinstance(p, str) for p in projects)
        ):
            raise TypeError("projects")
        return Principal(
            subject=str(claims["sub"]),
            token_id=str(claims["jti"]),
            kind=TokenKind(claims.get("kind", TokenKind.API)),
            scopes=expand(granted),
            projects=None if projects is None else tuple(projects),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (KeyError, TypeError, ValueError):
        raise unauthorized("The token's claims are malformed.") from None
