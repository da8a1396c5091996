"""Signing keys: ES256 (ECDSA on P-256) private keys in PEM, their public halves as a JWK Set.

A key's `kid` is its RFC 7638 thumbprint, so the same key always has the same id, wherever it is loaded.
A PEM file may hold several private keys: the first signs, all are published. That is how keys rotate
without downtime (docs/security.md): publish the new key second, let verifiers pick it up, move it first,
and drop the old one once the tokens it signed have expired.

`python -m qahub_shared.auth.keys generate FILE` writes a new key (mode 0600) unless FILE exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk

ALGORITHM = "ES256"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(crv: str, x: str, y: str) -> str:
    """RFC 7638: sha256 of the required members of an EC JWK in lexicographic order, base64url."""
    canonical = json.dumps({"crv": crv, "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A key tokens are verified with, as published in the JWK Set."""

    kid: str
    jwk: dict[str, str]
    verifier: Any
    """The python-jose key object (built once, not per token)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    signer: Any
    public: PublicKey


def _public_key(numbers: ec.EllipticCurvePublicNumbers) -> PublicKey:
    x = _b64url(numbers.x.to_bytes(32, "big"))
    y = _b64url(numbers.y.to_bytes(32, "big"))
    kid = thumbprint("P-256", x, y)
    public = {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return PublicKey(kid=kid, jwk=public, verifier=jwk.construct(public, ALGORITHM))


def load_signing_keys(pem_text: str) -> list[SigningKey]:
    """Every EC P-256 private key in a PEM text, in order. Raises ValueError on anything else."""
    keys: list[SigningKey] = []
    for block in _PEM_BLOCK.finditer(pem_text):
        try:
            private = serialization.load_pem_private_key(block.group(0).encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"unreadable private key in PEM block {len(keys) + 1}: {exc}") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ValueError(f"PEM block {len(keys) + 1} is not an EC P-256 private key (ES256 needs one)")
        public = _public_key(private.public_key().public_numbers())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        keys.append(SigningKey(kid=public.kid, signer=jwk.construct(pem, ALGORITHM), public=public))
    if not keys:
        raise ValueError(
            "no private key found (expected PKCS#8 or SEC1 PEM blocks, as `python -m qahub_shared.auth.keys "
            "generate` writes them)"
        )
    return keys


def generate_pem() -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_from_jwk(member: Mapping[str, Any]) -> PublicKey:
    """One member of a published JWK Set. Raises ValueError unless it is an ES256 P-256 public key."""
    if member.get("kty") != "EC" or member.get("crv") != "P-256":
        raise ValueError("not an EC P-256 key")
    if member.get("alg", ALGORITHM) != ALGORITHM or "d" in member:
        raise ValueError("not an ES256 public key")
    x, y = str(member.get("x", "")), str(member.get("y", ""))
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64url_decode(x), "big"), int.from_bytes(_b64url_decode(y), "big"), ec.SECP256R1()
    )
    numbers.public_key()  # raises ValueError when the point is not on the curve
    key = _public_key(numbers)
    if member.get("kid") not in (None, key.kid):
        raise ValueError("kid does not match the key's thumbprint")
    return key


def jwk_set(keys: Sequence[PublicKey]) -> dict[str, list[dict[str, str]]]:
    return {"keys": [key.jwk for key in keys]}


def _generate(path: Path) -> int:
    if path.exists():
        print(f"{path} exists; leaving it as it is", file=sys.stderr)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(generate_pem())
    print(f"wrote a new ES256 signing key to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "generate":
        print("usage: python -m qahub_shared.auth.keys generate FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(_generate(Path(sys.argv[2])))
