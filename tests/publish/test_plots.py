"""Card figures: Chinese names render (no missing glyph), colours follow names across builds."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.colors import to_hex

from processing.publish.plots import cjk_style, name_colours, write_plots

TEACHERS = ["deepseek-r1", "qwq-32b", "智谱-glm-z1", "通义千问-qwen3"]


def rows(models: list[str]) -> pl.DataFrame:
    return pl.DataFrame({
        "model": [models[i % len(models)] for i in range(40)],
        "source": [["数学题库", "考试题", "alpaca"][i % 3] for i in range(40)],
        "reasoning_chars": [2 * (i + 1) for i in range(40)],  # the card passes lengths, not texts
        "score": [[10.0, 0.0, None][i % 3] for i in range(40)],
    })


def missing_glyph_warnings(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def draw_chinese_title() -> None:
    figure, axis = plt.subplots()
    axis.set_title("教师模型 通义千问")
    figure.canvas.draw()
    plt.close(figure)


def test_default_matplotlib_font_lacks_chinese_glyphs():
    """The control: without the bundled font, the same label draws boxes and warns."""
    assert missing_glyph_warnings(draw_chinese_title)


def test_chinese_labels_render_with_the_bundled_font():
    def draw():
        with cjk_style():
            draw_chinese_title()

    assert missing_glyph_warnings(draw) == []


def test_card_figures_with_chinese_names_have_every_glyph(tmp_path):
    written = []
    assert missing_glyph_warnings(lambda: written.extend(write_plots(rows(TEACHERS), tmp_path))) == []
    assert sorted(written) == ["images/reasoning_length.png", "images/scores.png"]
    for image in written:
        assert (tmp_path / image).read_bytes().startswith(b"\x89PNG")


def test_colours_differ_within_a_figure_and_ignore_order():
    colours = name_colours(TEACHERS * 2)
    assert len({to_hex(c) for c in colours.values()}) == len(TEACHERS)
    assert name_colours(reversed(TEACHERS)) == colours


def test_a_teacher_keeps_its_colour_when_others_join_or_leave():
    before = name_colours(TEACHERS)
    after = name_colours(TEACHERS[1:] + ["kimi-k2", "minimax-m1"])
    assert {name: after[name] for name in TEACHERS[1:]} == {name: before[name] for name in TEACHERS[1:]}
