"""Document circulation (公文流转): outgoing and incoming flows, GB/T 9704 rendering, exchange, archive."""

import documents.demo  # registers the demo documents
import documents.search  # noqa: F401  (registers documents with the search)
from documents.api import bp as api_bp
from documents.views import bp

__all__ = ["api_bp", "bp"]
