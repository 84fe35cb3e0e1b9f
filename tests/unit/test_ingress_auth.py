"""Authentication of forces: OAuth2 access tokens, API keys and client certificates."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from connectors.cli.main import main as dvtrigger
from connectors.ingress.auth import (
    Authenticator,
    Principal,
    Unauthenticated,
    hash_api_key,
    new_api_key,
    peer_certificate,
)
from connectors.ingress.limits import RateLimiter
from streams.config.ingress import IngressSettings
from tests.support.ingress import API_KEYS, AUDIENCE, ISSUER, Issuer, key_hashes


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return Issuer(tmp_path)


def oauth(issuer: Issuer, **extra: Any) -> Authenticator:
    return Authenticator(
        IngressSettings(
            oauth_issuer=ISSUER,
            oauth_audience=AUDIENCE,
            oauth_jwks=str(issuer.jwks),
            oauth_clients={"mps-ingest": "MPS"},
            api_key_hashes=key_hashes(),
            **extra,
        )
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def refusal(auth: Authenticator, headers: dict[str, str], cert: str | None = None) -> str:
    with pytest.raises(Unauthenticated) as refused:
        auth.authenticate(headers, cert)
    return refused.value.reason_class


def test_a_valid_access_token_names_its_clients_force(issuer: Issuer) -> None:
    principal = oauth(issuer).authenticate(bearer(issuer.token()), None)
    assert principal == Principal("MPS", "oauth2")


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://elsewhere.invalid/"},
        {"aud": "another-service"},
        {"ttl_s": -120},  # expired beyond the leeway
    ],
)
def test_a_token_of_another_issuer_audience_or_expired_is_refused(
    issuer: Issuer, claims: dict[str, Any]
) -> None:
    assert refusal(oauth(issuer), bearer(issuer.token(**claims))) == "bad_token"


def test_a_token_without_exp_is_refused(issuer: Issuer) -> None:
    token = issuer.token(exp=None)
    assert refusal(oauth(issuer), bearer(token)) == "bad_token"


def test_a_token_signed_by_another_key_is_refused(issuer: Issuer, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    stranger = Issuer(tmp_path / "other")  # same kid, another key
    assert refusal(oauth(issuer), bearer(stranger.token())) == "bad_token"


def test_unsigned_and_hmac_tokens_are_refused(issuer: Issuer) -> None:
    def b64(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "aud": AUDIENCE, "client_id": "mps-ingest", "exp": time.time() + 60}
    unsigned = f"{b64({'alg': 'none'})}.{b64(claims)}."
    assert refusal(oauth(issuer), bearer(unsigned)) == "bad_token"
    hs = f"{b64({'alg': 'HS256', 'kid': issuer.kid})}.{b64(claims)}.c2ln"
    assert refusal(oauth(issuer), bearer(hs)) == "bad_token"


def test_a_token_of_an_unmapped_client_is_refused(issuer: Issuer) -> None:
    assert refusal(oauth(issuer), bearer(issuer.token("stranger"))) == "unknown_client"


def test_the_force_may_come_from_another_claim(issuer: Issuer) -> None:
    auth = oauth(issuer, oauth_force_claim="azp")
    token = issuer.token("ignored", azp="mps-ingest")
    assert auth.authenticate(bearer(token), None).force == "MPS"


def test_a_bearer_token_without_oauth2_configured_is_refused() -> None:
    auth = Authenticator(IngressSettings())
    assert refusal(auth, bearer("a.b.c")) == "oauth2_not_configured"


def test_api_keys_map_to_their_force_by_digest() -> None:
    auth = Authenticator(IngressSettings(api_key_hashes=key_hashes()))
    for force, key in API_KEYS.items():
        assert auth.authenticate({"x-api-key": key}, None) == Principal(force, "api_key")
    assert refusal(auth, {"x-api-key": API_KEYS["MPS"] + "x"}) == "bad_key"
    assert refusal(auth, {}) == "no_credentials"


def test_every_credential_offered_must_be_valid_and_name_one_force(issuer: Issuer) -> None:
    auth = oauth(issuer)
    key = {"x-api-key": API_KEYS["MPS"]}
    assert refusal(auth, {**key, "authorization": "Basic bXBzOmtleQ=="}) == "unsupported_scheme"
    assert refusal(auth, {**key, "authorization": "Bearer x.y.z"}) == "bad_token"
    both = {**key, **bearer(issuer.token())}
    assert auth.authenticate(both, None).force == "MPS"
    gmp = {"x-api-key": API_KEYS["GMP"], **bearer(issuer.token())}
    assert refusal(auth, gmp) == "conflicting_credentials"


def test_a_new_api_key_is_high_entropy_and_stored_as_its_sha256() -> None:
    key = new_api_key()
    assert len(key) >= 40 and key != new_api_key()
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()


def test_add_key_prints_the_key_once_and_a_settings_line_that_lets_it_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert dvtrigger(["ingress", "add-key", "MPS"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[1].strip()
    line = out[3].strip().removeprefix("DVTRIGGER_INGRESS__API_KEY_HASHES=")
    hashes = json.loads(line.strip("'"))
    auth = Authenticator(IngressSettings(api_key_hashes=hashes))
    assert auth.authenticate({"x-api-key": key}, None).force == "MPS"


def _cert(common_name: str) -> str:
    leaf = trustme.CA().issue_cert(common_name, common_name=common_name)
    return leaf.cert_chain_pems[0].bytes().decode()


def test_client_certificates_map_by_cn_or_fingerprint() -> None:
    by_cn, by_print, stranger = _cert("a.mps.test"), _cert("b.gmp.test"), _cert("c.test")
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(by_print)).hexdigest()
    auth = Authenticator(
        IngressSettings(
            cert_forces={"cn:a.mps.test": "MPS", f"sha256:{fingerprint.upper()}": "GMP"},
            api_key_hashes=key_hashes(),
        )
    )
    assert auth.authenticate({}, by_cn) == Principal("MPS", "mtls")
    assert auth.authenticate({}, by_print) == Principal("GMP", "mtls")
    assert peer_certificate(stranger).common_name == "c.test"
    assert refusal(auth, {}, stranger) == "unknown_certificate"
    # an unmapped certificate does not stop a force that also has a key
    assert auth.authenticate({"x-api-key": API_KEYS["GMP"]}, stranger).method == "api_key"


@pytest.mark.parametrize(
    "values",
    [
        {"cert_forces": {"cn:x": "mps"}},
        {"cert_forces": {"subject:x": "MPS"}},
        {"cert_forces": {"sha256:abc": "MPS"}},
        {"api_key_hashes": {"MPS": ["not-hex"]}},
        {"api_key_hashes": {"metropolitan": ["0" * 64]}},
        {"oauth_clients": {"c": "M"}},
    ],
)
def test_settings_refuse_malformed_maps(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        IngressSettings(**values)


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("MPS", 0.0) for _ in range(3)] == [None, None, None]
    assert limiter.take("MPS", 0.0) == 1
    assert limiter.take("GMP", 0.0) is None
    assert limiter.take("MPS", 0.5) is None
    assert limiter.take("MPS", 0.5) == 1
    assert [limiter.take("MPS", 100.0) for _ in range(4)] == [None, None, None, 1]
