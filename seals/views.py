"""HTML pages of the seals package."""

from office.web.views import feature_blueprint

bp = feature_blueprint(
    "seals",
    __name__,
    "印章",
    ("单位电子印章（密钥与 X.509 证书）、用印审批、签章与任何人可复核的验证。"),
)
