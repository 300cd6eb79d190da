"""Service-account keys for the Google fakes: real RSA keys, so sign-ins are signed for real."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a password


def service_account_key(email: str, token_uri: str = GOOGLE_TOKEN_URI) -> dict[str, str]:
    """A service account's JSON key as Google Cloud's console hands it out, with a fresh RSA key.

    Generating one takes a noticeable fraction of a second: callers that need many keep one.
    """
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "type": "service_account",
        "project_id": email.partition("@")[2].split(".")[0] or "sheetsync",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": "1",
        "token_uri": token_uri,
    }
