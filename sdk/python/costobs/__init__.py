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

from costobs._api import configure, flush, record, shutdown, stats
from costobs._context import request_context, trace
from costobs._errors import ConfigError, CostObsError, UnsupportedClientError
from costobs._stats import Stats
from costobs._version import VERSION as __version__
from costobs._wrap import wrap

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
