"""Scripts written without spaces: a Chinese or Japanese test item pasted into a
training row is found by leakage, check and curate --decontaminate.

Han, kana, Thai, Lao, Khmer and Myanmar characters (and Hangul syllables) are one token each, so a
13-gram there is 13 characters (see docs/leakage.md). The items are written
for these tests.
"""

# ruff: noqa: RUF001  (full-width punctuation is the point of these items)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import detect

ZH = "小明有五个苹果，他给了小红两个，又买了三个。请问小明现在有几个苹果？"
JA = "太郎はりんごを五つ持っています。花子に二つあげて、三つ買いました。今いくつ持っていますか。"
EN = (
    "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 "
    "in repairs. How much profit did he make?"
)
CLEAN = [
    "今天天气很好，我们去公园散步吧。",
    "東京は日本の首都で、人口が多い都市です。",
    "小明有五个朋友，他们都喜欢踢足球。",  # shares a few characters with ZH, not 13
    "The weather in Lisbon stays mild for most of the year.",
]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write(tmp_path / "ref.jsonl", [{"text": t} for t in (ZH, JA, EN)])


def planted(tmp_path: Path) -> Path:
    rows = [
        *({"text": t} for t in CLEAN),
        {"text": f"以下是一道数学题。{ZH}答案：六个。"},
        {"text": f"次の問題を解いてください：{JA}答えは六つです。"},
        # Truncated copies: the first 80% of each item.
        {"text": "问题：" + ZH[: len(ZH) * 4 // 5]},
        {"text": JA[: len(JA) * 4 // 5] + "（続く）"},
    ]
    return write(tmp_path / "corpus.jsonl", rows)


def test_chinese_and_japanese_plants_are_ngram_leaks(tmp_path: Path, reference: Path) -> None:
    result = detect(reference, planted(tmp_path))
    found = {leak.item.text: sorted(m.row for m in leak.matches) for leak in result.leaks}
    assert found == {ZH: [4, 6], JA: [5, 7]}
    for leak in result.leaks:
        assert all("ngram" in m.methods for m in leak.matches)
    full = next(m for m in result.leaks[0].matches if m.row == 4)
    assert full.span is not None and full.span.text.startswith(ZH[:10])
    # A Japanese item is 40+ characters: long enough for 13-grams, not "too short".
    assert not result.too_short_items


def test_clean_cjk_rows_are_not_flagged(tmp_path: Path, reference: Path) -> None:
    corpus = write(tmp_path / "clean.jsonl", [{"text": t} for t in CLEAN])
    assert detect(reference, corpus).leaks == []


def test_check_reports_a_chinese_golden_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "golden_sets" / "zh"
    write(golden / "data.jsonl", [{"id": "zh_0", "prompt": ZH, "reference": "6"}])
    data = write(
        tmp_path / "train.jsonl",
        [
            {"prompt": "请解答：" + ZH, "completion": "六个"},
            {"prompt": CLEAN[0], "completion": "好的"},
        ],
    )
    rc = main(["check", str(data), "--golden", str(tmp_path / "golden_sets")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert [line.split(": ")[1].split()[0] for line in out] == ["LEAK001"]
    assert out[0].startswith(f"{data.as_posix()}:1: LEAK001 contains golden item zh_0")


def test_curate_decontaminate_drops_japanese_plants(tmp_path: Path, reference: Path) -> None:
    result = curate(
        [planted(tmp_path)], tmp_path / "out", decontaminate__reference=[str(reference)]
    )
    assert result.removed.get("leakage") == 4
    kept = pq.read_table(tmp_path / "out" / "kept" / "part-00000.parquet").column("text")
    assert sorted(kept.to_pylist()) == sorted(CLEAN)


# Korean is written with spaces between words, but a copy often has them moved
# (띄어쓰기 varies): found by review, a golden item with its spaces removed, or added
# inside words, matched nothing while each word was one token. Hangul syllables are
# now one token each, as Han characters are.
KO = "철수는 사과를 다섯 개 가지고 있었고 영희에게 두 개를 주었습니다. 철수에게 남은 사과는 몇 개입니까?"
KO_SHORT = "대한민국의 수도는 어디입니까?"  # 13 syllables, 3 words


@pytest.mark.parametrize(
    "copy",
    [
        KO.replace(" ", ""),  # spaces removed
        "철수는 사과를 다섯개 가지고 있었고 영희 에게 두개를 주었 습니다. 철수 에게 남은 사과는 몇개 입니까?",
        "문제: " + KO_SHORT.replace(" ", ""),
        "대한 민국의 수도 는 어디 입니까?",
    ],
)
def test_a_korean_copy_with_its_spacing_changed_is_found(tmp_path: Path, copy: str) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": KO}, {"text": KO_SHORT}])
    clean = [
        "오늘은 날씨가 맑고 따뜻해서 공원에 산책을 나가기 좋은 날입니다.",
        "영희는 사과를 좋아하고 철수는 배를 좋아합니다.",  # shares a few words with KO
        "서울은 대한민국의 수도이며 가장 큰 도시입니다.",  # shares a few with KO_SHORT
    ]
    corpus = write(tmp_path / "corpus.jsonl", [{"text": copy}, *({"text": t} for t in clean)])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]


# Found by attack: with each syllable a token, a Korean row that merely shared a few
# words with a golden item was flagged: "대한민국의 수도는" (8 syllables, 2 words) was half
# a short question, and a stock notice of 4 words made a 13-gram of a long item. A
# Hangul syllable carries about a third of a word, so n-grams and spans are measured
# in words there (three syllables a word), as in English.
KO_ITEMS = [
    "대한민국의 수도는 어디입니까?",
    "서울에서 부산까지 기차로 몇 시간 걸리나요?",
    "다음 글을 읽고 글쓴이의 주장을 한 문장으로 요약하시오. 최근 많은 청소년들이 스마트폰을 "
    "사용하는 시간이 늘어나면서 수면 부족 문제가 심각해지고 있다. 자세한 내용은 홈페이지를 "
    "참고하시기 바랍니다.",
    "김치를 담글 때 필요한 재료를 모두 나열하고 각 재료의 역할을 설명하시오.",
    "조선 시대의 과거 제도가 사회 이동에 미친 영향을 두 가지 서술하시오.",
]
KO_CLEAN = [
    "대한민국의 수도는 서울이며 인구는 약 천만 명이다.",
    "서울에서 부산까지 기차 여행을 다녀왔는데 정말 즐거웠어요.",
    "신제품 출시 일정이 변경되었습니다. 자세한 내용은 홈페이지를 참고하시기 바랍니다.",
    "김치를 담글 때 필요한 것은 정성입니다.",
    "조선 시대의 과거 제도에 대해 알아봅시다.",
]


def test_korean_rows_sharing_a_few_words_with_an_item_are_clean(tmp_path: Path) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": t} for t in KO_ITEMS])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in KO_CLEAN])
    assert detect([ref], [corpus]).leaks == []
    # A copy of the long item with its spacing changed, or half of it, is still found.
    long = KO_ITEMS[2]
    half = long[: len(long) // 2 + 8]
    copies = write(
        tmp_path / "copies.jsonl",
        [{"text": "요약 문제: " + long.replace(" ", "")}, {"text": half.replace("읽고 ", "읽고")}],
    )
    found = detect([ref], [copies])
    assert [(m.row, leak.item.text) for leak in found.leaks for m in leak.matches] == [
        (0, long),
        (1, long),
    ]


def test_check_passes_clean_korean_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golden = tmp_path / "golden_sets" / "ko"
    write(golden / "data.jsonl", [{"id": f"k{i}", "prompt": q} for i, q in enumerate(KO_ITEMS)])
    data = write(tmp_path / "train.jsonl", [{"text": t} for t in KO_CLEAN])
    rc = main(["check", str(data), "--golden", str(tmp_path / "golden_sets")])
    assert rc == 0, capsys.readouterr().out


@pytest.mark.parametrize("text", ["大\u1161", "か\u1161\u11a8 and more", "a \ufdfa b\nc"])
def test_a_piece_of_two_words_in_one_span_does_not_crash_the_index(
    tmp_path: Path, text: str
) -> None:
    """Found by attack: a Han character then a conjoining vowel (U+1161) normalized to two
    words with one span, and building the index panicked slicing the text between them."""
    ref = tmp_path / "golden.jsonl"
    ref.write_text(json.dumps({"id": "0", "prompt": text, "reference": "x"}) + "\n")
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"prompt": text, "completion": "x"}) + "\n")
    result = detect(ref, train)
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]


# Found by attack: each kana was a word, so a 19-kana stock notice was a 13-gram and a
# clean row ending with it leaked a golden item that ended with it. A kana is a syllable,
# a third of a word, as a Hangul syllable is.
NOTICE = "くわしくはホームページをごらんください。"
JA_ITEM = (
    "太郎さんは毎朝七時に起きて、駅まで十五分歩きます。電車に乗って会社に行くのに何分かかりますか。"
    + NOTICE
)


def test_japanese_rows_sharing_a_stock_notice_with_an_item_are_clean(tmp_path: Path) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": JA_ITEM}, {"text": JA}])
    clean = [
        "新しい商品の発売日が変更になりました。" + NOTICE,
        "イベントは雨でも行います。" + NOTICE,
        "ごめいわくをおかけしますが、よろしくおねがいいたします。",
    ]
    copies = ["問題：" + JA_ITEM, JA_ITEM[: len(JA_ITEM) * 7 // 10]]
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in clean + copies])
    result = detect([ref], [corpus])
    assert [(m.row, leak.item.row) for leak in result.leaks for m in leak.matches] == [
        (3, 0),
        (4, 0),
    ]


# Found by review: in Thai, Lao, Khmer and Myanmar each character (with its marks) was a
# word, so a 12-14 character stock phrase ("please answer the question") was a 13-gram of
# a long item, and half of a short one by the span criterion: unrelated rows that opened
# with it leaked the item. Such a character is now a third of a word, as a kana is.
ABUGIDAS = {
    "thai": (
        "กรุณาตอบคำถาม",
        "สมชายมีแอปเปิ้ลห้าผล เขาให้น้องสาวไปสองผล แล้วซื้อมาเพิ่มอีกสามผล ตอนนี้สมชายมีแอปเปิ้ลกี่ผล",
        "วันนี้อากาศดีไหม",
        "แมวของฉันชอบนอนบนโซฟาทั้งวัน",
    ),
    "lao": (
        "ກະລຸນາຕອບຄຳຖາມ",
        "ທ້າວສົມມີໝາກມ່ວງຫ້າໜ່ວຍ ລາວໃຫ້ນ້ອງສາວສອງໜ່ວຍ ແລ້ວຊື້ມາຕື່ມອີກສາມໜ່ວຍ ຕອນນີ້ລາວມີໝາກມ່ວງຈັກໜ່ວຍ",
        "ມື້ນີ້ອາກາດດີຫຼາຍບໍ",
        "ແມວຂອງຂ້ອຍມັກນອນ",
    ),
    "khmer": (
        "សូមឆ្លើយសំណួរខាងក្រោម",
        "សុខមានផ្លែស្វាយប្រាំផ្លែ គាត់ឲ្យប្អូនស្រីពីរផ្លែ ហើយទិញបន្ថែមបីផ្លែទៀត តើឥឡូវនេះគាត់មានផ្លែស្វាយប៉ុន្មានផ្លែ",
        "ថ្ងៃនេះអាកាសធាតុល្អទេ",
        "ឆ្មារបស់ខ្ញុំចូលចិត្តដេក",
    ),
    "myanmar": (
        "ကျေးဇူးပြု၍ အောက်ပါမေးခွန်းကို ဖြေဆိုပေးပါ",
        "မောင်မောင်မှာ သရက်သီးငါးလုံးရှိသည်။ သူ့ညီမကို နှစ်လုံးပေးလိုက်ပြီး နောက်ထပ်သုံးလုံးဝယ်ခဲ့သည်။ ယခု သူ့မှာ သရက်သီးဘယ်နှစ်လုံးရှိသလဲ။",
        "ကျွန်ုပ်တို့ မနက်ဖြန် ဈေးသွားမည်",
        "ယနေ့ရာသီဥတုကောင်းသလား",
    ),
}


@pytest.mark.parametrize("script", sorted(ABUGIDAS))
def test_abugida_rows_sharing_a_stock_phrase_are_clean_and_copies_found(
    tmp_path: Path, script: str
) -> None:
    stock, long, short, other = ABUGIDAS[script]
    items = [long, f"{stock} {short}"]
    ref = write(tmp_path / "ref.jsonl", [{"text": t} for t in items])
    rows = [
        f"{stock} {other}",  # the stock phrase and another question: clean
        f"{stock}\n{long[:8]}",  # and a few characters of the long item
        f"1. {long} 2. {other}",  # the long item pasted whole
        f"{other}\n{items[1]}",  # the short one too
    ]
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in rows])
    result = detect([ref], [corpus], methods=("exact", "ngram"))
    assert [(m.row, leak.item.row) for leak in result.leaks for m in leak.matches] == [
        (2, 0),
        (3, 1),
    ]
    # The short item is a few words: too short for a 13-word n-gram.
    assert [i.row for i in result.too_short_items] == [1]
