"""Electronic seals and signatures: unit seals on real keys, seal-use approval, verification."""

from seals.api import bp as api_bp
from seals.api import pki_bp
from seals.views import bp

__all__ = ["api_bp", "bp", "pki_bp"]
