"""HTML pages of the supervision package."""

from office.web.views import feature_blueprint

bp = feature_blueprint(
    "supervision",
    __name__,
    "督查督办",
    ("领导批示与会议决定形成督办事项：分解、牵头与协办单位、工作日期限、进展报告、催办、延期与办结审核。"),
)
