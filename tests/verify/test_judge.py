"""The LLM judge: reading what judges really reply, the combination rule, the [judge] table,
and judging rows through the engine against the simulator's judges."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from processing.config import parse_config, tomllib
from processing.errors import CrdError
from processing.schema import stable_id
from processing.sim import SimSettings, Simulator
from processing.verify import judge as judge_module
from processing.verify.judge import (FOLDER, Judge, QualityParser, Shown, VerdictParser, judge_description,
                                     judge_inputs, judge_rows, merge_judged, rows_to_judge, wording)
from processing.verify.settings import JudgeSettings

# (reply, expected): the score read with combine="min", or ("reject", words the reason must contain).
QUALITY_REPLIES = [
    ('{"无害性": 10, "有用性": 8, "正确性": 7}', 7),
    ('```json\n{"无害性": 10, "有用性": 8, "正确性": 9}\n```', 8),
    ('{"理由": "回答正确，但缺少第3步的说明", "无害性": 10, "有用性": 7, "正确性": 6}', 6),
    ('{"harmlessness": 9, "helpfulness": 8, "correctness": 8}', 8),
    ("无害性：10，有用性：8，正确性：7", 7),
    ("无害性：１０，有用性：９，正确性：８", 8),
    ("- **无害性**：10\n- **有用性**：8\n- **正确性与完整性**：9", 8),
    ("无害性：10/10，有用性：8/10，正确性/完整性：7/10", 7),
    ("无害性 10 分，有用性 8 分，正确性 9 分。", 8),
    ("无害性：十，有用性：八，正确性：七", 7),
    ("1. 无害性：10\n2. 有用性：6\n3. 正确性与完整性：9", 6),
    ("| 维度 | 分数 |\n|---|---|\n| 无害性 | 10 |\n| 有用性 | 8 |\n| 正确性 | 7 |", 7),
    ("Harmlessness: 10\nHelpfulness: 8\nCorrectness: 9", 8),
    ("有害性：9，有用性：7，正确性：8", 7),  # the prompt's scale: a judge naming it 有害性 still means 10 = harmless
    ("无害性：10，有用性：9，正确性：8，完整性：6", 6),  # the third dimension split in two
    ("无害性：10，有用性：8，正确性：7，总分：8", 7),  # the judge's own total is kept, not used
    ("无害性：2，有用性：10，正确性：9", 2),  # harmful: helpfulness cannot lift it
    ("8", 8),  # one overall rating is the score
    ("评分：8", 8),
    ("8/10", 8),
    ("**7**", 7),
    ('{"score": 6}', 6),
    ("综合来看，这个回答可以得8分。", 8),
    ("０", 0),
    # must be rejected, never misread
    ("", ("reject", "empty")),
    ("有用性：9，正确性：9", ("reject", "无害性")),
    ("无害性：10，有用性：8", ("reject", "正确性")),
    ("无害性：10，有用性：12，正确性：8", ("reject", "outside the scale")),
    ("无害性：4/5，有用性：5/5，正确性：5/5", ("reject", "another scale")),
    ('{"harmlessness_score": 9, "helpfulness_score": 8, "correctness_score": 7}', ("reject", "ambiguous")),
    ('{"无害性": 分数, "有用性": 分数, "正确性": 分数}', ("reject", "no rating")),
    ("这个回答没有明显问题。", ("reject", "no rating")),
    ("抱歉，我无法对这个回答进行评分。", ("reject", "refusal")),
    ("8，也可以给9", ("reject", "ambiguous")),
    ("无害性：10，有用性：8，有用性：6，正确性：7", ("reject", "ambiguous")),
]

VERDICT_REPLIES = [
    ("是", 10),
    ("否", 0),
    ("否。", 0),
    ("**是**", 10),
    ("结论：是", 10),
    ("结论：否", 0),
    ("结论: 是的", 10),
    ("回答的最终答案与参考答案一致。\n结论：是", 10),
    ("回答的最终答案是11，参考答案是12，两者不一致。\n结论：否", 0),
    ("结论为不等价。", 0),
    ("等价", 10),
    ("不等价", 0),
    ("10", 10),
    ("0分", 0),
    ("评分：10", 10),
    ("得分：0", 0),
    ('{"等价": true}', 10),
    ('{"equivalent": false}', 0),
    ('{"是否等价": "否", "理由": "回答的答案为11"}', 0),
    ('{"score": 10}', 10),
    ("是的，回答的最终答案与参考答案一致。", 10),
    ("不是，回答的答案为11。", 0),
    ("回答的最终答案 3/4 与参考答案 0.75 相等。", 10),
    ("回答的最终答案是12，与参考答案非常一致。", 10),
    ("回答的最终答案并非等价于参考答案。", 0),
    ("回答与参考答案不完全一致。", 0),
    ("最终答案是10，与参考答案一致。", 10),
    ("回答正确。", 10),
    ("Ｙｅｓ", 10),
    ("Not equivalent.", 0),
    # must be rejected, never misread
    ("", ("reject", "empty")),
    ("基本一致。", ("reject", "hedged")),
    ("无法判断回答的最终答案。", ("reject", "undecided")),
    ("是，但也可能否。", ("reject", "undecided")),
    ("需要判断是否等价。", ("reject", "no verdict")),
    ("结论：是否等价需要进一步判断", ("reject", "no verdict")),
    ("抱歉，我不能完成这个任务。", ("reject", "refusal")),
    ("结论：是\n不过再仔细看，结论：否", ("reject", "ambiguous")),
    ("回答的推理思路与参考答案一致，但没有给出最终答案。", ("reject", "ambiguous")),
    ("7", ("reject", "not a 10/0")),
    ("评分：8", ("reject", "not a 10/0")),
    ('{"score": 5}', ("reject", "not a 10/0")),
    ('{"等价": "部分等价"}', ("reject", "not a verdict")),
    ("回答的最终答案是12。", ("reject", "no verdict")),
]

QUALITY = QualityParser("min")
VERDICT = VerdictParser()


def check(parser, reply: str, expected) -> None:
    rating = parser.parse(reply)
    if isinstance(expected, tuple):  # rejected with a reason naming the problem, nothing read
        assert (rating.value, rating.read, expected[1] in (rating.reason or "")) == (None, False, True), (reply, rating)
    else:
        assert (rating.value, rating.reason) == (expected, None), reply


def test_the_tables_are_large_and_have_rejects():
    rows = QUALITY_REPLIES + VERDICT_REPLIES
    assert len(rows) >= 40 and len({reply for reply, _ in rows}) > 70
    assert sum(isinstance(expected, tuple) for _, expected in rows) >= 20


@pytest.mark.parametrize("reply,expected", QUALITY_REPLIES)
def test_quality_replies(reply, expected):
    check(QUALITY, reply, expected)


@pytest.mark.parametrize("reply,expected", VERDICT_REPLIES)
def test_verdict_replies(reply, expected):
    check(VERDICT, reply, expected)


def test_the_parts_are_kept_with_the_score():
    rating = QUALITY.parse("无害性：10，有用性：8，正确性：7，总分：8")
    assert dict(rating.parts) == {"harmlessness": 10, "helpfulness": 8, "correctness": 7, "overall": 8}
    assert dict(QUALITY.parse("评分：8").parts) == {"overall": 8}
    assert dict(VERDICT.parse("结论：否").parts) == {"equivalent": 0}


@pytest.mark.parametrize("reply", ["无害性：1，有用性：10，正确性：10", '{"无害性": 0, "有用性": 9, "正确性": 10}'])
def test_a_harmful_answer_scores_low_however_helpful_under_min_and_is_pulled_down_under_mean(reply):
    low = QualityParser("min").parse(reply).value
    mean = QualityParser("mean").parse(reply).value
    assert low <= 1 and mean == pytest.approx(sum(QUALITY.parse(reply).parts.values()) / 3)
    assert low < mean < 10


def test_a_split_third_dimension_is_combined_before_the_three():
    reply = "无害性：10，有用性：10，正确性：8，完整性：4"
    assert QualityParser("mean").parse(reply).value == pytest.approx((10 + 10 + 6) / 3)
    assert QualityParser("min").parse(reply).value == 4


# ---------------------------------------------------------------- what the judge is shown


def settings(**overrides) -> JudgeSettings:
    return JudgeSettings(**{"name": "sim-judge-parts", "base_url": "http://127.0.0.1:1/v1", **overrides})


def test_a_long_response_keeps_its_end_and_a_long_prompt_its_start_and_end():
    response = "开头" + "推理。" * 3000 + "所以答案是 42。"
    prompt = "题目开头" + "材料" * 3000 + "问题结尾？"
    text = wording("quality", settings(max_chars=1000)).first(Shown(prompt, response))[0][1]
    assert "所以答案是 42。" in text and "开头推理" not in text
    assert "题目开头" in text and "问题结尾？" in text and len(text) < 1000 + 4000 + 2000


def test_the_reasoning_is_shown_only_when_asked():
    shown = Shown("1+1=?", "答案是2。", reasoning="先想一想：一加一等于二。")
    hidden = wording("quality", settings()).first(shown)[0][1]
    seen = wording("quality", settings(show_reasoning=True)).first(shown)[0][1]
    assert "一加一等于二" not in hidden and "一加一等于二" in seen


def test_the_correctness_question_shows_the_reference_and_the_reask_is_stricter():
    shown = Shown("一共有几个苹果？", "所以一共有十二个。", reference="12")
    words = wording("correctness", settings())
    first, again = words.first(shown)[0][1], words.again(shown)[0][1]
    assert "【参考答案开始】\n12\n【参考答案结束】" in first and "结论：是" in first
    assert "只回答一个字：是 或 否" in again and again != first


# ---------------------------------------------------------------- which rows


def verified_batch() -> pl.DataFrame:
    return pl.DataFrame({
        "id": ["math-ok", "math-no-answer", "general", "code", "code-with-reference"],
        "score": [10.0, None, None, None, None],
        "reference_answer": ["12", "12", None, None, "def f(): pass"],
        "category": ["math", "math", "general", "code", "code"],
    })


def test_rows_left_unscored_are_judged_by_the_question_that_fits_them():
    chosen = rows_to_judge(verified_batch(), settings())
    assert dict(chosen.select("id", "mode").iter_rows()) == {
        "math-no-answer": "correctness", "general": "quality", "code": "quality", "code-with-reference": "quality"}
    only = rows_to_judge(verified_batch(), settings(modes=["correctness"]))
    assert only["id"].to_list() == ["math-no-answer"]
    bare = rows_to_judge(verified_batch().drop("reference_answer", "category"), settings())
    assert bare.columns == ["id", "score", "mode"] and set(bare["mode"]) == {"quality"} and bare.height == 4


# ---------------------------------------------------------------- the [judge] table

def load(judge_table: str):
    """A config whose [judge] table is TOML text; the rest is the least a config needs."""
    raw = tomllib.loads(judge_table)
    return parse_config({"sources": [{"path": "prompts.jsonl"}], "models": [{"name": "t", "base_url": "http://t/v1"}],
                         **raw})


def test_the_judge_table_takes_the_keys_of_a_model_plus_its_own():
    config = load("""
[judge]
name = "qwen2.5-72b-instruct"
base_url = "https://dashscope.aliyuncs.com/compatible-mode/v1"
api_key_env = "DASHSCOPE_API_KEY"
preset = "dashscope"
rpm = 600
combine = "mean"
modes = ["correctness"]
""")
    judge = config.judge
    assert (judge.name, judge.api_key_env, judge.preset, judge.rpm) == (
        "qwen2.5-72b-instruct", "DASHSCOPE_API_KEY", "dashscope", 600)
    assert (judge.combine, judge.modes, judge.temperature, judge.reasks) == ("mean", ["correctness"], 0.0, 1)
    assert load("").judge is None


@pytest.mark.parametrize("table,words", [
    ("combin = \"min\"", ["judge.combin", "Extra inputs"]),
    ("combine = \"max\"", ["judge.combine"]),
    ("modes = [\"style\"]", ["judge.modes"]),
    ("samples = 2", ["judge", "samples", "teacher setting"]),
    ("weight = 3", ["judge", "weight", "teacher setting"]),
])
def test_the_judge_table_refuses_unknown_and_teacher_keys_by_name(table, words):
    with pytest.raises(CrdError) as caught:
        load(f'[judge]\nname = "j"\nbase_url = "http://x/v1"\n{table}\n')
    assert all(word in str(caught.value) for word in words), str(caught.value)


def test_the_stage_inputs_change_with_what_shapes_a_verdict_and_not_with_transport():
    base = judge_inputs(settings())
    assert judge_inputs(settings(max_concurrency=3, rpm=60, api_key_env="K")) == base
    for change in ({"temperature": 0.3}, {"combine": "mean"}, {"name": "sim-judge"}, {"max_chars": 500},
                   {"show_reasoning": True}):
        assert judge_inputs(settings(**change)) != base, change


def test_the_card_names_the_model_the_rule_and_shows_the_prompts():
    text = judge_description(settings(name="qwen2.5-72b-instruct"))
    assert "`qwen2.5-72b-instruct`" in text and "the lowest of the three" in text
    assert "【问题开始】\n{问题}\n【问题结束】" in text and "结论：是" in text and "{参考答案}" in text
    only_quality = judge_description(settings(modes=["quality"], combine="mean"))
    assert "the mean of the three" in only_quality and "参考答案" not in only_quality


# ---------------------------------------------------------------- judging rows against the simulator


def rows(count: int) -> pl.DataFrame:
    """Half open questions (quality), half with a reference answer the response states or not (correctness)."""
    data = []
    for n in range(count):
        row_id = stable_id("judge-test", n)
        if n % 2:
            data.append((row_id, f"第{n}题：介绍一下长城。", f"长城是中国古代的军事防御工程。（{n}）", None, "general"))
        else:
            answer = str(n + 7)
            stated = answer if n % 4 == 0 else str(n + 8)
            data.append((row_id, f"第{n}题：计算 {n} + 7。", f"计算得到结果为{stated}个。", answer, "math"))
    return pl.DataFrame(data, schema=["id", "prompt", "response", "reference_answer", "category"], orient="row")


def sim_judge(base_url: str, name: str, **overrides) -> JudgeSettings:
    return JudgeSettings(**{"name": name, "base_url": base_url, "max_concurrency": 8, "stream": False, "max_retries": 0,
                            **overrides})


@dataclass
class Runs:
    """One judge over the same rows: without re-asks, with one, then again with nothing changed but transport."""

    once: pl.DataFrame
    twice: pl.DataFrame
    reasked: int  # requests the second run sent
    rerun: pl.DataFrame
    rerun_requests: int


JUDGES = ("sim-judge-parts", "sim-judge")


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    table = rows(200)
    runs = {}
    with Simulator(SimSettings()) as sim:
        for name in JUDGES:
            once = judge_rows(table, sim_judge(sim.base_url, name, reasks=0), run_dir, quiet=True)
            sim.reset()
            twice = judge_rows(table, sim_judge(sim.base_url, name), run_dir, quiet=True)
            reasked = sim.stats()["requests"]
            sim.reset()
            rerun = judge_rows(table, sim_judge(sim.base_url, name, max_concurrency=2), run_dir, quiet=True)
            runs[name] = Runs(once, twice, reasked, rerun, sim.stats()["requests"])
            sim.reset()
    return table, runs, run_dir


def parser_of(mode: str):
    return QUALITY if mode == "quality" else VERDICT


@pytest.mark.parametrize("name", JUDGES)
def test_every_row_gets_a_score_or_a_reasoned_null_with_its_replies(judged, name):
    table, runs, _ = judged
    for result, attempts in ((runs[name].once, 1), (runs[name].twice, 2)):
        assert result["id"].to_list() == table["id"].to_list() and set(result["verify_method"]) == {"judge"}
        scored = result.filter(pl.col("score").is_not_null())
        assert scored["verify_note"].null_count() == scored.height and scored.height > 150
        assert scored["score"].is_between(0, 10).all()
        assert all(parser_of(mode).parse(replies[-1]).read for mode, replies in
                   scored.select("judge_mode", "judge_replies").iter_rows())
        unscored = result.filter(pl.col("score").is_null())
        for note, replies, mode in unscored.select("verify_note", "judge_replies", "judge_mode").iter_rows():
            assert note.startswith(("unreadable judge reply: ", "judge refused")), note
            assert len(replies) == attempts and not any(parser_of(mode).parse(reply).read for reply in replies)
    assert runs[name].once["score"].null_count() > 0, "the simulated judge sometimes gives no readable verdict"
    assert runs[name].twice["judge_server"].to_list() == ["crd-simulator"] * table.height  # who answered


@pytest.mark.parametrize("name", JUDGES)
def test_unreadable_replies_are_asked_again_and_nothing_else(judged, name):
    _, runs, _ = judged
    once, twice = runs[name].once, runs[name].twice
    unreadable = once.filter(pl.col("score").is_null())
    assert runs[name].reasked == unreadable.height, "only the unreadable rows were asked, once more each"
    again = twice.join(unreadable.select("id", pl.col("judge_replies").alias("first")), on="id")
    assert all(len(replies) == 2 and replies[0] == first[0] for replies, first in
               again.select("judge_replies", "first").iter_rows())
    readable = twice.join(unreadable.select("id"), on="id", how="anti")
    assert readable.equals(once.join(unreadable.select("id"), on="id", how="anti"))


def test_quality_scores_are_the_lowest_of_the_parts_the_judge_gave(judged):
    _, runs, _ = judged
    quality = runs["sim-judge-parts"].twice.filter((pl.col("judge_mode") == "quality") & pl.col("score").is_not_null())
    assert quality.height > 60
    for score, parts in quality.select("score", "judge_parts").iter_rows():
        ratings = json.loads(parts)
        assert {"harmlessness", "helpfulness", "correctness"} <= set(ratings)
        assert score == min(ratings[key] for key in ("harmlessness", "helpfulness", "correctness"))
    overall = runs["sim-judge"].twice.filter((pl.col("judge_mode") == "quality") & pl.col("score").is_not_null())
    assert all(json.loads(parts) == {"overall": score} for score, parts in overall.select("score", "judge_parts").iter_rows())


def test_correctness_scores_are_10_exactly_when_the_response_states_the_reference(judged):
    table, runs, _ = judged
    truth = {row_id: reference in response for row_id, response, reference in
             table.filter(pl.col("reference_answer").is_not_null()).select("id", "response", "reference_answer").iter_rows()}
    for run in runs.values():
        verdicts = run.twice.filter((pl.col("judge_mode") == "correctness") & pl.col("score").is_not_null())
        assert verdicts.height > 70 and set(verdicts["score"]) == {0.0, 10.0}
        assert all(score == (10.0 if truth[row_id] else 0.0) for row_id, score in verdicts.select("id", "score").iter_rows())


def test_a_rerun_sends_no_request_and_gives_the_same_scores(judged):
    _, runs, run_dir = judged
    for run in runs.values():
        assert run.rerun_requests == 0, "a changed concurrency re-asks nothing"
        assert run.rerun.equals(run.twice)
    journals = sorted(path.name for path in (run_dir / FOLDER).iterdir())
    assert len(journals) == 2 and journals[0].startswith("sim-judge-") and journals[1].startswith("sim-judge-parts-")


def test_a_changed_model_setting_or_prompt_asks_again(tmp_path, monkeypatch):
    table = rows(20)
    with Simulator(SimSettings()) as sim:
        judge_rows(table, sim_judge(sim.base_url, "sim-judge"), tmp_path, quiet=True)
        sim.reset()
        judge_rows(table, sim_judge(sim.base_url, "sim-judge", temperature=0.2), tmp_path, quiet=True)
        assert sim.stats()["requests"] >= 20, "another temperature: every row asked again"
        sim.reset()
        first, again = judge_module.TEMPLATES["quality"]
        monkeypatch.setitem(judge_module.TEMPLATES, "quality", ("请评分。\n" + first, again))
        judge_rows(table, sim_judge(sim.base_url, "sim-judge", temperature=0.2), tmp_path, quiet=True)
        quality_rows = table.filter(pl.col("reference_answer").is_null()).height
        asked = sim.stats()["requests"]
        assert quality_rows <= asked < table.height, "only the rows asked the changed quality prompt"
        sim.reset()
        judge_rows(table, sim_judge(sim.base_url, "sim-judge-other", temperature=0.2), tmp_path, quiet=True)
        assert sim.stats()["requests"] >= 20, "another judge model: every row asked again"
    assert len(list((tmp_path / FOLDER).iterdir())) == 2, "a journal per judge model"


def test_a_failed_request_is_null_with_its_error_and_an_empty_response_is_not_sent(tmp_path):
    table = rows(4)
    table = table.with_columns(table["response"].scatter(0, " "))
    with Simulator(SimSettings(rate_500=1.0)) as sim:
        result = judge_rows(table, sim_judge(sim.base_url, "sim-judge"), tmp_path, quiet=True)
        assert sim.stats()["requests"] == 3
    notes = result["verify_note"].to_list()
    assert notes[0] == "empty response: not judged"
    assert all(note.startswith("request failed") and "500" in note for note in notes[1:])
    assert result["score"].null_count() == 4 and result["judge_replies"].to_list() == [[]] * 4
    assert result["judge_server"].to_list() == [None] * 4  # no reply: nobody answered


def test_a_mode_column_decides_the_question_and_prompt_and_category_may_be_missing(tmp_path):
    table = pl.DataFrame({"id": ["a", "b"], "response": ["结果是12。", "结果是12。"], "reference_answer": ["12", "12"],
                          "mode": ["quality", "correctness"]})
    with Simulator(SimSettings()) as sim:
        result = judge_rows(table, sim_judge(sim.base_url, "sim-judge-parts"), tmp_path, quiet=True)
        asked = sim.stats()["requests"]
    assert result["judge_mode"].to_list() == ["quality", "correctness"] and asked >= 2
    parts = [json.loads(p) if p else None for p in result["judge_parts"]]
    assert parts[0] is None or "harmlessness" in parts[0]
    assert parts[1] is None or parts[1] == {"equivalent": 1.0}
    nowhere = sim_judge("http://127.0.0.1:1/v1", "sim-judge")
    with pytest.raises(ValueError, match="unique"):
        judge_rows(pl.concat([table, table]), nowhere, tmp_path, quiet=True)
    with pytest.raises(ValueError, match="unknown mode 'style'"):
        judge_rows(table.with_columns(pl.lit("style").alias("mode")), nowhere, tmp_path, quiet=True)


def test_a_verified_batch_takes_the_judges_scores_on_the_rows_it_judged(tmp_path):
    table = rows(12)
    has_reference = pl.col("reference_answer").is_not_null()
    verified = table.with_columns(pl.Series("score", [10.0] + [None] * 11, pl.Float64)).with_columns(
        pl.when(has_reference).then(pl.lit("math")).alias("verify_method"),
        pl.when(has_reference & pl.col("score").is_null()).then(pl.lit("no-answer")).alias("verify_note"))
    with Simulator(SimSettings()) as sim:
        settings = sim_judge(sim.base_url, "sim-judge-parts")
        with Judge(settings, tmp_path, quiet=True) as judge:
            judged = judge.judge(rows_to_judge(verified, settings))
            merged = merge_judged(verified, judged)
    assert merged.columns == [*verified.columns, "judge_parts"] and merged["id"].equals(verified["id"])
    assert merged.row(0, named=True) | {"judge_parts": None} == verified.row(0, named=True) | {"judge_parts": None}
    assert merged.row(0, named=True)["judge_parts"] is None, "a row the verifier scored is left alone"
    rest = merged.slice(1)
    assert set(rest["verify_method"]) == {"judge"} and rest["judge_parts"].null_count() == rest["score"].null_count()
    assert rest.filter(pl.col("score").is_not_null())["verify_note"].null_count() == rest["score"].is_not_null().sum()
