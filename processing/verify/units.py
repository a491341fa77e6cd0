"""Units and measure words that follow a number in Chinese answers (`825米`, `12个`, `3 km`)."""

from __future__ import annotations

import re

# Longest first, so 平方米 wins over 米 and 千克 over 克.
MEASURE_WORDS = sorted(
    """
    平方千米 平方公里 平方厘米 平方分米 平方毫米 平方米 立方厘米 立方分米 立方米 千米每小时 公里每小时 米每秒
    千米 公里 厘米 分米 毫米 微米 米 里 公顷 亩 千克 公斤 毫克 克 斤 吨 毫升 升 元钱 块钱 元 角 分钱
    小时 分钟 秒钟 秒 星期 周 天 日 月 年 岁 度 倍 人次 个 人 名 位 只 头 匹 条 本 支 枝 张 块 片 件 辆 台 架
    艘 棵 株 朵 颗 粒 盒 箱 袋 包 瓶 桶 杯 碗 盘 筐 篮 捆 束 双 对 副 套 份 篇 页 首 幅 封 间 层 栋 座 户
    家 道 题 次 遍 场 趟 回 步 圈 组 排 行 列 段 节 课 种 根 筒 顶 把
    """.split(),
    key=len,
    reverse=True,
)
MEASURE_WORD = "(?:" + "|".join(MEASURE_WORDS) + ")"

# What may follow a Chinese numeral for it to count as a number: a measure word, a
# fraction word or punctuation and the end. `一共`, `一样`, `一些` are left alone.
NUMERAL_FOLLOWER = rf"{MEASURE_WORD}|[。，、；;,.!！?？\s)）]|$"

# Latin units, removed after a number. Several letters are unambiguous; a single letter
# (`m`, `g`, `s`, `h`, `t`, `L`) is only a unit when the reference is a plain number,
# because `-3 m` in an algebra answer is −3·m (Math-Verify drops the m either way).
_SEVERAL_LETTERS = r"(?:km/h|m/s|cm|mm|dm|km|kg|mg|ml|mL|min|kW|kWh)(?:\^\{?[23]\}?)?"
_ONE_LETTER = r"(?:m|g|s|h|t|L|l)(?:\^\{?[23]\}?)?"
_AFTER_NUMBER = r"(?<=[\d}%.])\s*"
_STRICT = re.compile(rf"{_AFTER_NUMBER}{_SEVERAL_LETTERS}\s*$")
_LENIENT = re.compile(rf"{_AFTER_NUMBER}(?:{_SEVERAL_LETTERS}|{_ONE_LETTER})(?:/{_ONE_LETTER})?\s*$")


def strip_latin_unit(text: str, lenient: bool) -> str:
    """`3 km` → `3`; `825 m` → `825` only when `lenient` (the reference is a plain number)."""
    return (_LENIENT if lenient else _STRICT).sub("", text)
