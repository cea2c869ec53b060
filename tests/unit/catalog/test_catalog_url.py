"""A catalog URL that cannot be parsed is a Weir error that never quotes the URL."""

from __future__ import annotations

import pytest

from weir.catalog import Catalog
from weir.core.errors import CatalogError


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:pw-Secret1@127.0.0.1:abc/db",  # a port that is not a number
        "postgresql://postgres:pw-Secret1@127.0.0.1:99999999999/db",  # one out of range
        "postgresql:/postgres:pw-Secret1@127.0.0.1/db",  # not a URL SQLAlchemy can read
    ],
)
def test_an_unreadable_catalog_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(CatalogError) as caught:
        Catalog.open(url)
    assert "pw-Secret1" not in caught.value.message + (caught.value.fix or "")
    assert "catalog" in caught.value.message
