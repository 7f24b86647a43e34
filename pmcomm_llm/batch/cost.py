"""Token totals and an estimated cost, from the API's usage fields and a price table kept as data."""

from __future__ import annotations

from functools import cache
from typing import Any

from pmcomm_llm.core.draft import Usage
from pmcomm_llm.core.resources import load_yaml

__all__ = ["estimate_cost", "is_local_endpoint"]


def is_local_endpoint(base_url: str | None) -> bool:
    """A server on this machine (a local model, or the bundled stand-in): its price is not OpenAI's."""
    from urllib.parse import urlsplit

    if not base_url:
        return False
    host = (urlsplit(base_url).hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


@cache
def _prices() -> dict[str, Any]:
    return load_yaml("prompts", "prices.yaml")


def estimate_cost(usage: Usage, model: str, *, batch: bool = False) -> float | None:
    """Dollars for ``usage`` on ``model`` (longest matching prefix in prices.yaml), or None when unknown."""
    table = _prices()
    match = max((name for name in table["models"] if model.startswith(name)), key=len, default=None)
    if match is None:
        return None
    price = table["models"][match]
    cost = (usage.input_tokens * price["input"] + usage.output_tokens * price["output"]) / 1_000_000
    return round(cost * (table.get("batch_discount", 1.0) if batch else 1.0), 6)
