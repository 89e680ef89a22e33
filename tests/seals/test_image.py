"""The drawn seal impression: a red, transparent, deterministic PNG (needs a CJK font)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from seals import image
from tests.conftest import require

SIZE = 400


@pytest.fixture(scope="module", autouse=True)
def _cjk_font() -> None:
    try:
        image.find_cjk_font()
    except image.NoCJKFont:
        require(False, "no CJK font installed (apt-get install fonts-wqy-zenhei)")


def _open(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        img.load()
        return img.copy()


def test_png_is_rgba_with_transparent_corners_and_red_ink():
    img = _open(image.render_seal("示例省人民政府办公厅", "公章"))
    assert img.mode == "RGBA" and img.size == (SIZE, SIZE)
    for corner in ((0, 0), (SIZE - 1, 0), (0, SIZE - 1), (SIZE - 1, SIZE - 1), (8, 8)):
        assert img.getpixel(corner)[3] == 0
    assert img.getchannel("A").histogram()[255] > SIZE * SIZE // 20
    inked = {colour[:3] for _, colour in img.getcolors(SIZE * SIZE) if colour[3] > 0}
    assert inked == {image.SEAL_RED}


def test_ring_and_star_are_where_a_seal_has_them():
    img = _open(image.render_seal("东山县人民政府"))
    centre = SIZE // 2
    assert img.getpixel((centre, centre))[3] == 255  # the star's body
    assert img.getpixel((centre, centre - int(SIZE * 0.12)))[3] == 255  # its top point
    assert img.getpixel((centre - int(SIZE * 0.12), centre - int(SIZE * 0.12)))[3] == 0  # between points
    assert img.getpixel((centre, SIZE - int(SIZE * 0.03)))[3] == 255  # the ring, at the bottom
    assert img.getpixel((centre, centre + int(SIZE * 0.3)))[3] == 0  # no label: empty below the star


def test_label_is_drawn_below_the_star():
    plain = _open(image.render_seal("东山县人民政府"))
    labelled = _open(image.render_seal("东山县人民政府", "合同专用章"))
    band = (SIZE // 4, int(SIZE * 0.72), SIZE * 3 // 4, int(SIZE * 0.83))
    assert plain.crop(band).getchannel("A").getbbox() is None
    assert labelled.crop(band).getchannel("A").getbbox() is not None


def test_output_is_deterministic_and_depends_on_the_name():
    first = image.render_seal("示例市人民政府", "公章")
    assert image.render_seal("示例市人民政府", "公章") == first
    assert image.render_seal("示例县人民政府", "公章") != first
    assert image.render_seal("示例市人民政府", "财务专用章") != first


def test_long_names_and_other_sizes_render():
    img = _open(image.render_seal("中华人民共和国示例省示例市人民政府办公室信息中心", "合同专用章", size=240))
    assert img.size == (240, 240)
    assert img.getpixel((0, 0))[3] == 0


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="不能为空"):
        image.render_seal("  ")
    with pytest.raises(ValueError, match="过长"):
        image.render_seal("长" * (image.MAX_NAME_CHARS + 1))
    with pytest.raises(ValueError, match="尺寸"):
        image.render_seal("示例市人民政府", size=10_000)


def test_missing_cjk_font_says_what_to_install(monkeypatch):
    monkeypatch.setattr(image, "CJK_FONT_PATHS", ())
    monkeypatch.setattr(image, "_fc_match", lambda: None)
    with pytest.raises(image.NoCJKFont, match="fonts-wqy-zenhei"):
        image.find_cjk_font()
    with pytest.raises(image.NoCJKFont, match="fonts-wqy-zenhei"):
        image.render_seal("示例市人民政府")
    with pytest.raises(image.NoCJKFont, match="不存在"):
        image.render_seal("示例市人民政府", font_path="/nonexistent/font.ttc")


def test_a_latin_only_font_is_not_taken_for_a_cjk_one():
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.isfile(latin):
        pytest.skip("DejaVu Sans not installed")
    with pytest.raises(image.NoCJKFont, match="不含中文字形"):
        image.render_seal("示例市人民政府", font_path=latin)
