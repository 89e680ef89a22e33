"""HTML pages of the documents package."""

from office.web.views import feature_blueprint

bp = feature_blueprint(
    "documents",
    __name__,
    "公文",
    (
        "拟稿、核稿、会签、签发、编号、用印、分发；"
        "签收、登记、拟办、批办、承办、传阅、办结；"
        "按 GB/T 9704-2012 生成红头文件，单位间交换与归档。"
    ),
)
