"""HTML pages of the meetings package."""

from office.web.views import feature_blueprint

bp = feature_blueprint(
    "meetings",
    __name__,
    "会议",
    ("会议室预订（无冲突）、会议通知、回执、签到、纪要与日历导出。"),
)
