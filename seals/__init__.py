"""Electronic seals and signatures: unit seals on real keys, seal-use approval, verification."""

from seals.views import bp

__all__ = ["bp"]
