"""CostObs Python SDK: per-request cost attribution for LLM clients.

```python
import costobs
from openai import OpenAI

costobs.configure(ingest_url="http://localhost:8080", api_key="costobs_dev_secret_key")
client = costobs.wrap(OpenAI(), team="payments", environment="prod")
with costobs.request_context(customer_id="cust-42"):
    client.chat.completions.create(model="gpt-4o", messages=[...], feature="summarize")
costobs.flush()
```
"""

import importlib as _importlib
import typing as _typing

# The exception root is eager and light: the CostObs server derives its own errors from it,
# and its command line must start without the SDK's client machinery. Everything else is
# imported on first use (PEP 562).
from costobs._errors import ConfigError, CostObsError, UnsupportedClientError
from costobs._version import VERSION as __version__

if _typing.TYPE_CHECKING:
    from costobs import integrations as integrations
    from costobs import pricing as pricing
    from costobs._api import configure, flush, record, shutdown, stats
    from costobs._context import request_context, trace
    from costobs._stats import Stats
    from costobs._wrap import wrap

_HOMES = {
    "configure": "costobs._api",
    "flush": "costobs._api",
    "record": "costobs._api",
    "shutdown": "costobs._api",
    "stats": "costobs._api",
    "request_context": "costobs._context",
    "trace": "costobs._context",
    "Stats": "costobs._stats",
    "wrap": "costobs._wrap",
}
_SUBPACKAGES = ("integrations", "pricing")

__all__ = [
    "ConfigError",
    "CostObsError",
    "Stats",
    "UnsupportedClientError",
    "__version__",
    "configure",
    "flush",
    "record",
    "request_context",
    "shutdown",
    "stats",
    "trace",
    "wrap",
]


def __getattr__(name: str) -> _typing.Any:
    if name in _HOMES:
        value = getattr(_importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # once: later lookups skip this hook
        return value
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"costobs.{name}")
    raise AttributeError(f"module 'costobs' has no attribute {name!r}")
