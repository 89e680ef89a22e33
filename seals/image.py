"""The seal impression: a red round official seal drawn from the unit's name, as a PNG.

Drawn rather than uploaded so every unit's seal follows the usual layout of a round official
seal (ring, unit name along the upper arc, five-pointed star, optional purpose below) and can
be re-created from the name alone. Output is byte-for-byte deterministic for the same input,
font file and Pillow version.

Everything is drawn as a coverage mask at 4x and box-downsampled, then used as the alpha of a
single red: edges are anti-aliased and the background stays fully transparent.
"""

from __future__ import annotations

import functools
import io
import math
import os
import shutil
import subprocess

from PIL import Image, ImageDraw, ImageFont

__all__ = ["SEAL_RED", "NoCJKFont", "find_cjk_font", "render_seal"]

SEAL_RED = (0xD9, 0x00, 0x1B)
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
MAX_NAME_CHARS = 40
_SUPERSAMPLE = 4
_NO_FONT = (
    "未找到可用的中文字体，无法生成印章图片。请管理员安装中文字体，例如：apt-get install fonts-wqy-zenhei"
)
_ARC_DEGREES = 240.0  # from 210° (lower left) over the top to -30° (lower right)


class NoCJKFont(RuntimeError):
    """No font with Chinese glyphs: the seal cannot be drawn (an installation problem)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _NO_FONT)


@functools.lru_cache(maxsize=32)
def _usable_face(path: str) -> int | None:
    """The face index to use in ``path`` (Simplified Chinese face of a .ttc), or None if no CJK glyphs."""
    faces: list[tuple[int, str]] = []
    for index in range(16):
        try:
            font = ImageFont.truetype(path, 32, index=index)
        except OSError:
            break
        faces.append((index, font.getname()[0] or ""))
        if not path.lower().endswith((".ttc", ".otc")):
            break
    if not faces:
        return None
    index = next((i for i, family in faces if " SC" in family), faces[0][0])
    font = ImageFont.truetype(path, 32, index=index)
    # A font without the glyph draws .notdef for "国" too, exactly like for a noncharacter.
    wanted, missing = font.getmask("国"), font.getmask("\U0010fffd")
    if wanted.getbbox() is None or (wanted.size == missing.size and bytes(wanted) == bytes(missing)):
        return None
    return index


def _fc_match() -> str | None:
    """fontconfig's pick for Simplified Chinese.

    ``:lang=zh-cn``, not ``:lang=zh``: fontconfig has no plain "zh" coverage set, so with
    wqy-zenhei installed ``:lang=zh`` still returns DejaVu Sans.
    """
    fc_match = shutil.which("fc-match")
    if not fc_match:
        return None
    try:
        done = subprocess.run(
            [fc_match, "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = done.stdout.strip()
    return path or None


def find_cjk_font() -> str:
    """Path of an installed font with Chinese glyphs; raises :class:`NoCJKFont` if there is none."""
    for path in (*CJK_FONT_PATHS, _fc_match()):
        if path and os.path.isfile(path) and _usable_face(path) is not None:
            return path
    raise NoCJKFont()


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    index = _usable_face(path)
    if index is None:
        raise NoCJKFont(
            f"字体文件 {path} 不含中文字形，无法生成印章图片。请改用中文字体（如 fonts-wqy-zenhei）"
        )
    return _load_font(path, size, index)


@functools.lru_cache(maxsize=64)
def _load_font(path: str, size: int, index: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _glyph(font: ImageFont.FreeTypeFont, char: str, box: int, x_scale: float, bold: int) -> Image.Image:
    """One character as a square coverage mask, centred on its em box, optionally narrowed."""
    image = Image.new("L", (box, box), 0)
    ImageDraw.Draw(image).text(
        (box / 2, box / 2), char, font=font, fill=255, anchor="mm", stroke_width=bold, stroke_fill=255
    )
    if x_scale < 0.999:
        narrow = image.resize((max(1, round(box * x_scale)), box), Image.Resampling.BICUBIC)
        image = Image.new("L", (box, box), 0)
        image.paste(narrow, ((box - narrow.width) // 2, 0))
    return image


def _stamp(canvas: Image.Image, mask: Image.Image, centre: tuple[float, float]) -> None:
    canvas.paste(255, (round(centre[0] - mask.width / 2), round(centre[1] - mask.height / 2)), mask)


def _star(cx: float, cy: float, outer: float) -> list[tuple[float, float]]:
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(54))  # regular pentagram
    points = []
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        angle = math.radians(90 + 36 * k)
        points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
    return points


def _arc_layout(count: int, radius: float, height: float) -> tuple[float, float, float]:
    """(pitch in degrees, glyph height, horizontal scale) so ``count`` characters fit the arc.

    Short names are spread out (up to 1.45x their natural spacing, as engraved seals do);
    long ones are first narrowed to 0.6 of their width, then made smaller.
    """
    natural = math.degrees(height * 1.05 / radius)
    if count == 1:
        return 0.0, height, 1.0
    fit = _ARC_DEGREES / (count - 1)
    if natural <= fit:
        return min(fit, natural * 1.45), height, 1.0
    x_scale = max(0.6, fit / natural)
    if natural * x_scale > fit:
        height *= fit / (natural * x_scale)
    return fit, height, x_scale


def render_seal(
    unit_name: str,
    label: str | None = None,
    *,
    size: int = 400,
    font_path: str | None = None,
) -> bytes:
    """A PNG (RGBA, transparent outside the ink) of a round official seal for ``unit_name``."""
    name = "".join(unit_name.split()) if unit_name else ""
    if not name:
        raise ValueError("单位名称不能为空")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"单位名称过长（最多 {MAX_NAME_CHARS} 个字）")
    if not 64 <= size <= 2048:  # drawn at 4x: 2048 px is already a 67 MB canvas
        raise ValueError("印章图片尺寸应在 64 到 2048 像素之间")
    label = (label or "").strip() or None
    path = font_path or find_cjk_font()
    if not os.path.isfile(path):
        raise NoCJKFont(f"字体文件 {path} 不存在，无法生成印章图片")

    full = size * _SUPERSAMPLE
    canvas = Image.new("L", (full, full), 0)
    draw = ImageDraw.Draw(canvas)
    cx = cy = full / 2
    outer = full * 0.485
    ring = full * 0.034
    draw.ellipse((cx - outer, cy - outer, cx + outer, cy + outer), fill=255)
    draw.ellipse((cx - outer + ring, cy - outer + ring, cx + outer - ring, cy + outer - ring), fill=0)

    # Unit name: glyph tops face the ring, read left to right from 210° to -30°.
    height = full * 0.145
    text_radius = outer - ring - full * 0.022 - height / 2
    pitch, height, x_scale = _arc_layout(len(name), text_radius, height)
    text_radius = outer - ring - full * 0.022 - height / 2
    font = _font(path, round(height))
    box = round(height * 1.6)
    bold = max(1, round(height * 0.025))
    start = 90 + pitch * (len(name) - 1) / 2
    for i, char in enumerate(name):
        angle = start - pitch * i
        glyph = _glyph(font, char, box, x_scale, bold).rotate(angle - 90, Image.Resampling.BICUBIC)
        rad = math.radians(angle)
        _stamp(canvas, glyph, (cx + text_radius * math.cos(rad), cy - text_radius * math.sin(rad)))

    star_radius = full * 0.155
    draw.polygon(_star(cx, cy, star_radius), fill=255)

    if label:
        label_height = full * 0.115
        max_width = full * 0.5
        label_font = _font(path, round(label_height))
        width = draw.textlength(label, font=label_font)
        if width > max_width:
            label_font = _font(path, max(8, round(label_height * max_width / width)))
        draw.text(
            (cx, cy + full * 0.275),
            label,
            font=label_font,
            fill=255,
            anchor="mm",
            stroke_width=max(1, round(label_height * 0.02)),
            stroke_fill=255,
        )

    alpha = canvas.resize((size, size), Image.Resampling.BOX)
    image = Image.new("RGBA", (size, size), (*SEAL_RED, 0))
    image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
