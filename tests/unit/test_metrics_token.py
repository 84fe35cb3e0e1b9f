"""A worker's /metrics asks for the metrics token when one is set."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streams.bootstrap import bearer_matches

TOKEN = SecretStr("s3cret-metrics-token")


def test_without_a_token_every_scrape_is_let_in() -> None:
    assert bearer_matches("", None)
    assert bearer_matches("Bearer anything", None)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer wrong", "Basic czNjcmV0LW1ldHJpY3MtdG9rZW4=", "s3cret-metrics-token"],
)
def test_with_a_token_a_scrape_without_it_is_refused(header: str) -> None:
    assert not bearer_matches(header, TOKEN)


@pytest.mark.parametrize("header", ["Bearer s3cret-metrics-token", "bearer  s3cret-metrics-token "])
def test_with_a_token_a_scrape_that_carries_it_is_let_in(header: str) -> None:
    assert bearer_matches(header, TOKEN)
