"""billplan: billing plans as code, compiled to PSA vendors' APIs."""

import sys

__version__ = "0.1.0"

# httpx imports its own command line (click, pygments, rich's progress bars: about 50 ms)
# whenever click is installed, which the sandbox's server brings; billplan never runs it. A
# None in sys.modules makes that import fail, and httpx then leaves its `main` a stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
