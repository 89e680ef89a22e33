"""``python -m office search reindex | verify | drain``."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext


@click.group("search")
def search_group() -> None:
    """Full-text search index (全文检索索引)."""


@search_group.command("reindex")
@click.option("--backend", default=None, help="检索引擎：whoosh / tantivy / postgres（默认 SEARCH_BACKEND）")
@with_appcontext
def reindex_command(backend: str | None) -> None:
    """Rebuild the index beside the live one, then switch readers to it (no downtime)."""
    from office.errors import ServiceError
    from office.search import services

    try:
        name = services.backend_name(backend)
    except ServiceError as err:
        raise click.ClickException(err.message) from None
    started = time.perf_counter()
    with click.progressbar(length=1, label=f"重建 {name} 索引", show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, done, 1)
            bar.update(done - bar.pos)

        n = services.reindex(name, progress=progress)
    took = time.perf_counter() - started
    click.echo(f"已重建 {name} 索引：{n} 件公文，用时 {took:.1f} 秒（{n / max(took, 1e-9):.0f} 件/秒）")


@search_group.command("verify")
@click.option("--backend", default=None, help="检索引擎（默认 SEARCH_BACKEND）")
@with_appcontext
def verify_command(backend: str | None) -> None:
    """Report documents missing from, stale in, or left over in the index; exit 1 if any."""
    from office.search import services

    r = services.verify(backend)
    click.echo(
        f"{r['backend']}：数据库 {r['documents']} 件，索引 {r['indexed']} 件，待处理变更 {r['pending']} 条；"
        f"缺失 {len(r['missing'])}，过期 {len(r['stale'])}，多余 {len(r['extra'])}"
    )
    for label, key in (("缺失", "missing"), ("过期", "stale"), ("多余", "extra")):
        if r[key]:
            click.echo(f"  {label}：{', '.join(map(str, r[key][:50]))}{' …' if len(r[key]) > 50 else ''}")
    if not r["ok"]:
        click.echo("可运行 `python -m office search reindex` 重建索引。")
        sys.exit(1)
    click.echo("索引与数据库一致。")


@search_group.command("drain")
@click.option("--follow", is_flag=True, help="持续运行（扩展部署中的索引工作进程）")
@click.option("--interval", type=float, default=0.5, show_default=True, help="--follow 时的轮询间隔（秒）")
@with_appcontext
def drain_command(follow: bool, interval: float) -> None:
    """Apply the index changes waiting in the outbox (once, or continuously with --follow)."""
    from office.search import services

    while True:
        n = services.drain()
        if n or not follow:
            click.echo(f"已应用 {n} 条索引变更")
        if not follow:
            return
        time.sleep(interval)
