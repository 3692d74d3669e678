"""Optional marks, invisible characters and readings that hide a golden item.

Found by attack (non-Latin scripts): Arabic written with its vowel marks (harakat) on some
letters or a kashida inside words, Hebrew with niqqud, a Thai or Korean copy with an
invisible character before each combining mark or between every code point, and Japanese
with furigana readings after its kanji matched nothing in any scan. The items are written
for these tests.
"""

# ruff: noqa: RUF001, RUF003  (full-width parentheses and spacing accents are the point of some items)
from __future__ import annotations

import json
import pickle
import re
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import JOINERS_SPLIT, LeakageIndex, detect

AR = (
    "كان لدى أحمد خمس عشرة تفاحة، فأعطى أخته ثلاث تفاحات ثم اشترى ثماني تفاحات أخرى من "
    "المتجر. كم تفاحة لدى أحمد الآن؟ اكتب خطوات الحل بالتفصيل."
)
HE = (
    "לדני היו חמישה עשר תפוחים. הוא נתן לאחותו שלושה תפוחים ואחר כך קנה עוד שמונה תפוחים "
    "בחנות. כמה תפוחים יש לדני עכשיו? כתבו את שלבי הפתרון בפירוט."
)


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def harakat(text: str, every: int = 1) -> str:
    """`text` with a vowel mark (fatha, damma or kasra) after every `every`-th Arabic letter."""
    out, n = [], 0
    for c in text:
        out.append(c)
        if "\u0621" <= c <= "\u064a":
            n += 1
            if n % every == 0:
                out.append("\u064e\u064f\u0650"[n % 3])
    return "".join(out)


def tatweel(text: str) -> str:
    """A kashida (U+0640) inside every third word of more than three letters."""
    words = text.split(" ")
    return " ".join(
        w[:2] + "\u0640" + w[2:] if i % 3 == 0 and len(w) > 3 else w for i, w in enumerate(words)
    )


def niqqud(text: str) -> str:
    return "".join(c + ("\u05b7" if "\u05d0" <= c <= "\u05ea" else "") for c in text)


def found_rows(reference: Path, corpus: Path) -> dict[str, list[int]]:
    result = detect(reference, corpus)
    return {leak.item.text: sorted(m.row for m in leak.matches) for leak in result.leaks}


def found_in_an_answer(tmp_path: Path, item: str, copy: str) -> bool:
    """Whether golden ``item`` is found in ``copy``, an answer's text, and in no other row
    (a clean one of the same script beside it)."""
    ref = write(tmp_path / "ref.jsonl", [{"text": item}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"prompt": "Translate into English, please.", "completion": copy + "\n\nDone."},
            {"prompt": "Translate into English, please.", "completion": "مرحبا بكم في المتجر."},
        ],
    )
    return found_rows(ref, corpus) == {item: [0]}


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        (AR, harakat(AR, every=5)),  # vowels on some letters
        (AR, harakat(AR)),  # on every letter
        (AR, tatweel(AR)),  # a kashida in some words
        # Superscript alefs and Quranic pause marks.
        (AR, AR.replace("ل", "ل\u0670").replace(" ", "\u06d6 ")),
        (HE, niqqud(HE)),  # Hebrew with vowel points
        (HE, HE.replace("ה", "ה\u0591").replace("ת", "ת\u05a5")),  # with cantillation
        (harakat(AR), AR),  # the golden item vowelled, the copy plain
        (niqqud(HE), HE),
    ],
)
def test_arabic_and_hebrew_copies_with_optional_marks_are_found(
    tmp_path: Path, item: str, copy: str
) -> None:
    assert found_in_an_answer(tmp_path, item, copy)


def check_and_curate_find_the_copy(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    item: dict[str, str],
    rows: list[dict[str, str]],
) -> None:
    """``check --golden`` names ``item`` once, on the first of ``rows`` (the copy; the
    other row is clean), and ``curate --decontaminate`` removes that row alone."""
    golden = tmp_path / "golden_sets" / "set"
    write(golden / "data.jsonl", [item])
    data = write(tmp_path / "train.jsonl", rows)
    rc = main(["check", str(data), "--golden", str(tmp_path / "golden_sets")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[0].startswith(f"{data.as_posix()}:1: LEAK001 contains golden item {item['id']}")
    assert sum("LEAK001" in line for line in out) == 1
    result = curate([data], tmp_path / "out", decontaminate__reference=[str(golden / "data.jsonl")])
    assert result.removed.get("leakage") == 1


def test_check_and_curate_find_a_vowelled_arabic_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"prompt": "حل المسألة: " + harakat(AR, every=4), "completion": "عشرون"},
        {"prompt": "ما عاصمة مصر؟", "completion": "القاهرة"},
    ]
    check_and_curate_find_the_copy(
        tmp_path, capsys, {"id": "ar_0", "prompt": AR, "reference": "20"}, rows
    )
    kept = pq.read_table(tmp_path / "out" / "kept" / "part-00000.parquet")
    assert kept.column("prompt").to_pylist() == ["ما عاصمة مصر؟"]


# Unrelated text in the same scripts, vowelled: sharing a few common words with the items
# is no leak.
CLEAN_MARKED = [
    harakat("كان لدى المعلم كتاب جديد عن تاريخ المدينة القديمة وأسواقها ومساجدها الجميلة."),
    tatweel("اشترى أحمد كتابا من المكتبة ثم ذهب إلى البيت وقرأ القصة كلها قبل العشاء مع أسرته."),
    niqqud("הילדים הלכו לים ביום שישי ושיחקו בחול עד השקיעה, ואחר כך חזרו הביתה לארוחת ערב."),
]


def test_unrelated_vowelled_arabic_and_hebrew_rows_are_clean(tmp_path: Path) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": AR}, {"text": HE}, {"text": harakat(AR)}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in CLEAN_MARKED])
    assert found_rows(ref, corpus) == {}


# Found by re-attack: an Arabic item with its letters swapped for ones written alike (each
# swap through the whole text), or marked with marks a hand-made list left out (Quranic
# marks of Arabic Extended-A, a Syriac vowel), matched nothing in any scan.
AR2 = (
    "قال المعلم إن الطلاب الذين أنهوا الواجب مبكرا يمكنهم الخروج إلى الساحة، أما الآخرون "
    "فعليهم البقاء في الفصل حتى ينتهوا من حل جميع الأسئلة المطلوبة منهم اليوم."
)
FA = (
    "علی پانزده سیب داشت. او سه سیب به خواهرش داد و سپس هشت سیب دیگر از مغازه خرید. "
    "علی اکنون چند سیب دارد؟ مراحل حل را با جزئیات بنویسید و پاسخ نهایی را مشخص کنید."
)
UR = (
    "احمد کے پاس پندرہ سیب تھے۔ اس نے اپنی بہن کو تین سیب دیے اور پھر دکان سے آٹھ سیب "
    "اور خریدے۔ اب احمد کے پاس کل کتنے سیب ہیں؟ حل کے تمام مراحل لکھیں۔"
)
SYR = (
    "ܐܝܬ ܗܘܐ ܠܕܢܝܐܝܠ ܚܡܫܥܣܪ ܬܦܘܚܐ ܘܝܗܒ ܠܚܬܗ ܬܠܬܐ ܘܙܒܢ ܬܡܢܝܐ ܐܚܪܢܐ ܡܢ ܫܘܩܐ ܟܡܐ ܬܦܘܚܐ "
    "ܐܝܬ ܠܗ ܗܫܐ ܟܬܘܒ ܟܠ ܫܘܪܓܐ"
)


def swap(text: str, pairs: str) -> str:
    """``text`` with each letter of ``pairs`` ("ab cd": a to b, c to d) swapped."""
    return text.translate({ord(p[0]): p[1] for p in pairs.split()})


def marked(text: str, mark: str, every: int = 3) -> str:
    """``mark`` after every ``every``-th letter of ``text`` (Arabic or Syriac)."""
    out, n = [], 0
    for c in text:
        out.append(c)
        if unicodedata.category(c) == "Lo":
            n += 1
            if n % every == 0:
                out.append(mark)
    return "".join(out)


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        (AR2, swap(AR2, "يی")),  # Persian yeh for Arabic
        (AR2, swap(AR2, "يی كک")),
        (AR2, swap(AR2, "أا إا آا")),  # hamzas dropped
        (AR2, AR2.replace("ال", "ٱل")),  # alef wasla
        (AR, swap(AR, "ىي")),  # alef maksura as yeh
        (AR, swap(AR, "ةه")),  # ta marbuta as heh
        (AR, swap(AR, "أا")),
        (FA, swap(FA, "یي کك")),  # Persian in Arabic letters
        (UR, swap(UR, "یي کك ہه")),  # Urdu in Arabic letters
        (swap(AR2, "يی"), AR2),  # the golden item in Persian letters, the copy Arabic
    ],
    ids=["yeh", "yeh-kaf", "hamza", "wasla", "maksura", "marbuta", "alef", "fa", "ur", "gold"],
)
def test_arabic_script_copies_with_letters_written_alike_are_found(
    tmp_path: Path, item: str, copy: str
) -> None:
    assert found_in_an_answer(tmp_path, item, copy)


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        (AR, marked(AR, "\u08f0")),
        (AR, marked(AR, "\u08d4", every=4)),
        (AR, marked(AR, "\u08e4")),
        (AR, marked(AR, "\u08fe")),
        (marked(AR, "\u08f1", every=4), AR),  # the golden item so marked
        (SYR, marked(SYR, "\u0730")),  # a Syriac vowel
    ],
    ids=["08F0", "08D4", "08E4", "08FE", "gold-08F1", "syriac-0730"],
)
def test_copies_with_other_right_to_left_marks_are_found(
    tmp_path: Path, item: str, copy: str
) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": item}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": "Copied: " + copy}])
    assert found_rows(ref, corpus) == {item: [0]}


def test_unrelated_persian_and_arabic_rows_are_clean(tmp_path: Path) -> None:
    # Other sentences sharing common words (and the folded letters) with the items.
    clean = [
        "مریم دیروز به کتابخانه رفت و سه کتاب درباره تاریخ ایران و یک کتاب شعر امانت گرفت.",
        "او سیب را به مادرش داد و گفت که فردا دوباره به مغازه خواهد رفت تا نان بخرد.",
        "قال الطبيب إن المريض يحتاج إلى الراحة في البيت حتى نهاية الأسبوع القادم.",
        "ذهب الطلاب إلى الساحة بعد الدرس ولعبوا كرة القدم مع المعلم حتى المساء.",
        "ہم نے کل بازار سے کچھ کتابیں خریدیں اور شام کو دوستوں کے ساتھ چائے پی۔",
    ]
    ref = write(tmp_path / "ref.jsonl", [{"text": t} for t in (AR, AR2, FA, UR)])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": swap(t, "يی كک")} for t in clean])
    assert found_rows(ref, corpus) == {}


TH = (
    "สมชายมีแอปเปิ้ลสิบห้าลูก เขาให้น้องสาวไปสามลูก แล้วซื้อเพิ่มจากร้านค้าอีกแปดลูก "
    "ตอนนี้สมชายมีแอปเปิ้ลทั้งหมดกี่ลูก จงแสดงวิธีคิดอย่างละเอียด"
)
KO = (
    "철수는 사과를 열다섯 개 가지고 있었는데 동생에게 세 개를 주고 가게에서 여덟 개를 더 "
    "샀습니다. 철수가 지금 가지고 있는 사과는 모두 몇 개입니까? 풀이 과정을 쓰세요."
)
JA = (
    "東京駅から新幹線に乗って大阪まで行きました。途中で富士山がとてもきれいに見えたので、"
    "写真をたくさん撮りました。大阪に着いてから、友だちと一緒にたこ焼きを食べに行きました。"
)
# The soft hyphen, zero-width non-joiner and joiner, word joiner and U+FEFF.
INVISIBLE = ["\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff"]


def before_marks(text: str, hidden: str) -> str:
    return "".join(hidden + c if unicodedata.category(c) in ("Mn", "Mc") else c for c in text)


@pytest.mark.parametrize("hidden", INVISIBLE)
def test_a_thai_copy_with_an_invisible_character_before_each_mark_is_found(
    tmp_path: Path, hidden: str
) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": TH}, {"text": KO}, {"text": JA}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"prompt": "ช่วยดูข้อความนี้หน่อย", "completion": f"ข้อความคือ: {before_marks(TH, hidden)} จบ"},
            {"prompt": "ช่วยดูข้อความนี้หน่อย", "completion": hidden.join(TH)},
            {"prompt": "Look at this text.", "completion": hidden.join(TH.split(" "))},
        ],
    )
    assert found_rows(ref, corpus) == {TH: [0, 1, 2]}


@pytest.mark.parametrize(
    "hidden",
    ["\u0605", "\u2800", "\ufff9", "\ufffb", "\U00013430"],
    ids=["0605", "2800", "FFF9", "FFFB", "13430"],
)
def test_a_copy_with_a_format_character_or_blank_braille_before_each_mark_is_found(
    tmp_path: Path, hidden: str
) -> None:
    # Found by re-attack: format characters outside the invisible set, and the blank
    # braille pattern, before each Thai mark each made the marks tokens of their own.
    ref = write(tmp_path / "ref.jsonl", [{"text": TH}, {"text": KO}, {"text": JA}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"prompt": "ช่วยดูข้อความนี้หน่อย", "completion": f"ข้อความคือ: {before_marks(TH, hidden)} จบ"},
            {
                "prompt": "Look at this.",
                "completion": hidden.join(unicodedata.normalize("NFD", KO)),
            },
        ],
    )
    assert found_rows(ref, corpus) == {TH: [0], KO: [1]}


@pytest.mark.parametrize("item", [KO, JA], ids=["ko", "ja"])
def test_a_decomposed_copy_with_a_soft_hyphen_between_its_code_points_is_found(
    tmp_path: Path, item: str
) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": TH}, {"text": KO}, {"text": JA}])
    copy = "\u00ad".join(unicodedata.normalize("NFD", item))
    corpus = write(
        tmp_path / "corpus.jsonl",
        [{"prompt": "Look at this text please.", "completion": f"The text is: {copy} End."}],
    )
    assert found_rows(ref, corpus) == {item: [0]}


READINGS = {
    "東京駅": "とうきょうえき",
    "新幹線": "しんかんせん",
    "乗": "の",
    "大阪": "おおさか",
    "行": "い",
    "途中": "とちゅう",
    "富士山": "ふじさん",
    "見": "み",
    "写真": "しゃしん",
    "撮": "と",
    "着": "つ",
    "一緒": "いっしょ",
    "焼": "や",
    "食": "た",
}


def furigana(text: str, form: str) -> str:
    """``text`` with the reading of each word of :data:`READINGS` written in ``form``."""
    words = "|".join(sorted(READINGS, key=len, reverse=True))
    return re.sub(words, lambda m: form.format(k=m[0], r=READINGS[m[0]]), text)


def japanese_found_with_furigana(tmp_path: Path, form: str) -> bool:
    """Whether the Japanese item is found in a copy with its readings written in ``form``,
    and in no other row (a clean Japanese one beside it)."""
    ref = write(tmp_path / "ref.jsonl", [{"text": JA}, {"text": KO}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"prompt": "次の文章を英語に訳してください。", "completion": furigana(JA, form)},
            {"prompt": "次の文章を英語に訳してください。", "completion": "今日は晴れです。"},
        ],
    )
    return found_rows(ref, corpus) == {JA: [0]}


@pytest.mark.parametrize(
    "form",
    [
        "{k}（{r}）",
        "{k}({r})",
        "<ruby>{k}<rt>{r}</rt></ruby>",
        "<ruby>{k}<rp>（</rp><rt>{r}</rt><rp>）</rp></ruby>",
        "<ruby>{k}<rp>(<rt>{r}<rp>)</ruby>",  # end tags left out, as HTML allows
    ],
    ids=["full-width", "ascii", "ruby", "ruby-rp", "ruby-no-end-tags"],
)
def test_a_japanese_copy_with_furigana_is_found(tmp_path: Path, form: str) -> None:
    assert japanese_found_with_furigana(tmp_path, form)


@pytest.mark.parametrize(
    "form",
    [
        "{k}《{r}》",  # Aozora Bunko
        "｜{k}《{r}》",
        "{k} ({r})",  # a space before the parenthesis
        " {k}[{r}]",  # Anki
        "{k}［{r}］",
        "{k}【{r}】",
        "{k}〔{r}〕",
        "{k}﹙{r}﹚",
        "<ruby>{k}<rtc>{r}</rtc></ruby>",
        "<ruby>{k}<rt><b>{r}</b></rt></ruby>",  # a tag inside the reading
        "&lt;ruby&gt;{k}&lt;rt&gt;{r}&lt;/rt&gt;&lt;/ruby&gt;",  # ruby escaped
    ],
    ids=[
        "aozora",
        "aozora-bar",
        "space-paren",
        "anki",
        "fw-square",
        "lenticular",
        "tortoise",
        "small-paren",
        "rtc",
        "rt-with-tag",
        "escaped",
    ],
)
def test_a_japanese_copy_with_furigana_in_other_brackets_or_markup_is_found(
    tmp_path: Path, form: str
) -> None:
    # Found by re-attack: each form hid the item from every scan.
    assert japanese_found_with_furigana(tmp_path, form)


def test_a_reading_with_a_middle_dot_or_a_space_is_taken_out() -> None:
    import pyarrow as pa

    from curagate.leakage.texts import without_readings

    rows = [
        "東京駅（とうきょう・えき）から",
        "東京駅（とうきょう えき）から",
        "【注意】東京駅【とうきょうえき】から【重要】です。",  # brackets of text stay
        "問題【注意】をよく読んで［答え］を書く。",  # no reading: not taken out
    ]
    out = without_readings(pa.array(rows))
    assert out is not None
    assert out.to_pylist() == ["東京駅から", "東京駅から", "【注意】東京駅から【重要】です。", ""]


def test_unrelated_japanese_rows_with_furigana_are_clean(tmp_path: Path) -> None:
    # Same words, readings and stock phrases, other sentences: no leak once the readings go.
    clean = [
        "東京駅（とうきょうえき）で友だちに会いました。新幹線（しんかんせん）はとても速いです。",
        "<ruby>富士山<rt>ふじさん</rt></ruby>の写真（しゃしん）を見（み）せてください。",
        "大阪（おおさか）の食（た）べ物はおいしいので、また行（い）きたいと思いました。",
        "途中(とちゅう)で雨が降ってきたので、一緒(いっしょ)に喫茶店で休みました。",
    ]
    ref = write(tmp_path / "ref.jsonl", [{"text": JA}, {"text": "富士山は日本で一番高い山です。"}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in clean])
    assert found_rows(ref, corpus) == {}


# Found by attack: Persian writes a zero-width non-joiner (U+200C) inside words (after a
# verb's prefix `mi`, before the plural `ha`); format characters go before tokenizing, so the
# item's words were joined, and a copy typed with a space for each joiner (as many keyboards
# do) matched nothing.
ZWNJ = "\u200c"
FA_ZW = (
    "مریم می‌خواهد برای بچه‌ها سیب‌ها و پرتقال‌ها را از مغازه‌ها بخرد. او می‌داند که "
    "بچه‌ها میوه‌ها را دوست دارند و هر روز می‌خورند. مریم چند سیب می‌خرد اگر هر بچه سه "
    "سیب بخواهد؟ مراحل حل را بنویسید."
)
EN_ZW = (
    "Na" + ZWNJ + "talia sold clips to forty-eight of her fri" + ZWNJ + "ends in April, and "
    "then she sold half as many clips in May. How many clips did Na" + ZWNJ + "talia sell "
    "altogether in April and May?"
)


def leaks_of(reference: Path, corpus: Path) -> list[tuple[str, str, list[int]]]:
    """Each leaked item's text and part with the rows it was found in: one entry per item."""
    result = detect(reference, corpus)
    assert len(result.items) == 2  # the rows, not the views with joiners split
    return [
        (leak.item.text, leak.item.part, sorted(m.row for m in leak.matches))
        for leak in result.leaks
    ]


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        (FA_ZW, FA_ZW.replace(ZWNJ, " ")),  # a space for each joiner
        (FA_ZW, FA_ZW),  # the joiners kept
        (FA_ZW, FA_ZW.replace(ZWNJ, "")),  # the words joined
        (FA_ZW, swap(FA_ZW.replace(ZWNJ, " "), "یي کك")),  # spaced, in Arabic letters
        (EN_ZW, EN_ZW.replace(ZWNJ, "")),  # joiners stuffed inside English words
        (EN_ZW, EN_ZW),
    ],
    ids=["fa-spaced", "fa-kept", "fa-joined", "fa-spaced-arabic", "en-clean", "en-kept"],
)
def test_a_copy_with_a_space_for_each_zero_width_non_joiner_is_found_once(
    tmp_path: Path, item: str, copy: str
) -> None:
    prompt = "این متن را ترجمه کنید."
    rows = [
        {"prompt": prompt, "completion": copy + "\n\nپایان."},
        {"prompt": prompt, "completion": "مریم به مغازه رفت و نان خرید."},
    ]
    assert_found_once(tmp_path, item, rows)


def assert_found_once(tmp_path: Path, item: str, rows: list[dict[str, str]]) -> None:
    """``item`` (beside an Arabic one) is found in ``rows[0]`` alone, reported once, as the
    item (its text and part), not as the view with spaces."""
    ref = write(tmp_path / "ref.jsonl", [{"text": item}, {"text": AR}])
    corpus = write(tmp_path / "corpus.jsonl", rows)
    assert leaks_of(ref, corpus) == [(item, "prompt", [0])]


def test_check_and_curate_find_a_persian_copy_with_spaces_for_its_joiners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"prompt": "مسئله را حل کنید: " + FA_ZW.replace(ZWNJ, " "), "completion": "دوازده"},
        {"prompt": "پایتخت ایران کجاست؟", "completion": "تهران"},
    ]
    check_and_curate_find_the_copy(
        tmp_path, capsys, {"id": "fa_0", "prompt": FA_ZW, "reference": "12"}, rows
    )


def test_unrelated_persian_rows_with_joiners_are_clean(tmp_path: Path) -> None:
    clean = [
        "بچه‌ها دیروز به پارک رفتند و با دوستان‌شان بازی کردند تا هوا تاریک شد.",
        "او می‌گوید که کتاب‌ها را فردا به کتابخانه برمی‌گرداند و کتاب‌های تازه می‌گیرد.",
        "میوه‌ها را بشویید و در یخچال بگذارید تا برای شام آماده باشند.",
    ]
    ref = write(tmp_path / "ref.jsonl", [{"text": FA_ZW}, {"text": FA}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [{"text": t} for t in clean] + [{"text": t.replace(ZWNJ, " ")} for t in clean],
    )
    assert found_rows(ref, corpus) == {}


# Found by re-attack: the view with joiners split was made only for a ZWNJ right between two
# letters, so an item whose joiners are doubled, beside a bidi mark (as pasted from a bidi
# editor) or after a digit (`۲۰‌درصد`) had none, and its copy with spaces was missed; so was
# an item typed with a zero-width joiner or a soft hyphen for the half-space.
RLM, LRM, ZWJ, SHY = "\u200f", "\u200e", "\u200d", "\u00ad"
FA_DIGITS = (
    "فروشگاه ۲۰" + ZWNJ + "درصد تخفیف داد و مریم ۳" + ZWNJ + "تا کتابها و ۵" + ZWNJ + "تا "
    "دفترها را خرید. او برای هر کتاب ۱۲۰" + ZWNJ + "هزار تومان پرداخت کرد و برای هر دفتر "
    "۴۰" + ZWNJ + "هزار تومان. مریم در مجموع چقدر پول داد؟"
)


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        (FA_ZW.replace(ZWNJ, ZWNJ * 2), FA_ZW.replace(ZWNJ, " ")),
        (FA_ZW.replace(ZWNJ, ZWNJ * 2), FA_ZW.replace(ZWNJ, "  ")),
        (FA_ZW.replace(ZWNJ, ZWNJ + RLM), FA_ZW.replace(ZWNJ, " ")),
        (FA_ZW.replace(ZWNJ, LRM + ZWNJ), FA_ZW.replace(ZWNJ, " ")),
        (FA_DIGITS, FA_DIGITS.replace(ZWNJ, " ")),
        (FA_ZW.replace(ZWNJ, ZWJ), FA_ZW.replace(ZWNJ, " ")),
        (FA_ZW.replace(ZWNJ, SHY), FA_ZW.replace(ZWNJ, " ")),
    ],
    ids=["doubled", "doubled-two-spaces", "with-rlm", "after-lrm", "after-digits", "zwj", "shy"],
)
def test_a_spaced_copy_of_an_item_with_joiners_in_other_company_is_found_once(
    tmp_path: Path, item: str, copy: str
) -> None:
    assert_found_once(tmp_path, item, [{"text": copy}, {"text": "مریم به مغازه رفت و نان خرید."}])


def test_only_a_half_space_inside_a_word_is_split() -> None:
    from curagate.leakage import _joiners_split

    assert _joiners_split("کتاب" + ZWNJ + RLM + "ها") == "کتاب  ها"  # offsets kept
    assert _joiners_split("۲۰" + ZWNJ + "درصد") == "۲۰ درصد"
    assert _joiners_split("کتاب" + SHY + "ها") == "کتاب ها"
    # A joiner at a word's edge is a break already; ZWJ and the soft hyphen only between
    # Arabic-script letters (an emoji sequence, a hyphenation point in English: no view).
    assert _joiners_split("کتاب" + ZWNJ + " ها") is None
    assert _joiners_split("infor" + SHY + "mation, man" + ZWJ + "kind") is None
    assert _joiners_split("\U0001f468" + ZWJ + "\U0001f469") is None


# Found by re-attack: a copy that keeps the joiners matches the item and its view with
# joiners split whole (ratio 1 both), and was reported with the view's numbers: 35 shared
# n-grams of the item's 25, a 47-word span of a 37-word item.
def test_a_copy_that_keeps_the_joiners_is_reported_with_the_items_own_numbers(
    tmp_path: Path,
) -> None:
    ref = write(tmp_path / "ref.jsonl", [{"text": FA_ZW}, {"text": AR}])
    corpus = write(
        tmp_path / "corpus.jsonl",
        [{"text": FA_ZW}, {"text": FA_ZW.replace(ZWNJ, " ")}, {"text": "سلام دنیا"}],
    )
    (leak,) = detect(ref, corpus).leaks
    kept, spaced = leak.matches
    assert (leak.item.ngrams, leak.item.words) == (25, 37)
    assert kept.row == 0
    assert (kept.shared_ngrams, kept.ratio) == (25, 1.0)
    assert kept.span is not None
    assert kept.span.words == 37
    # Only the view matches the spaced copy whole: its numbers (documented).
    assert spaced.row == 1
    assert (spaced.shared_ngrams, spaced.ratio) == (35, 1.0)
    # The index's own scan too (one batch of keys, no other texts of a row).
    from curagate.leakage import LeakageIndex

    index = LeakageIndex()
    index.add_texts([FA_ZW, AR])
    (hit,) = index.scan(pa.array([FA_ZW], pa.large_string()))
    assert (hit.item, hit.shared_ngrams, hit.ratio) == (0, 25, 1.0)


# Found by review: a golden *answer* with zero-width non-joiners was indexed with its words
# joined only, so a training row holding it typed with a space for each joiner matched
# nothing; the answers get the view with joiners split as the prompts do.
def test_a_copy_of_a_golden_answer_with_a_space_for_each_joiner_is_found_once(
    tmp_path: Path,
) -> None:
    ref = write(
        tmp_path / "ref.jsonl",
        [{"prompt": "مسئله را حل کنید.", "answer": FA_ZW}, {"prompt": AR, "answer": "عشرون"}],
    )
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"prompt": "این متن را ترجمه کنید.", "completion": FA_ZW.replace(ZWNJ, " ")},
            {"prompt": "این متن را ترجمه کنید.", "completion": FA_ZW},
            {"prompt": "این متن را ترجمه کنید.", "completion": "مریم به مغازه رفت و نان خرید."},
        ],
    )
    result = detect(ref, corpus)
    found = [
        (leak.item.text, leak.item.part, sorted(m.row for m in leak.matches))
        for leak in result.leaks
    ]
    # Reported once, as the answer (not the view with spaces), and the view is no answer.
    assert found == [(FA_ZW, "answer", [0, 1])]
    assert [i.text for i in result.answer_items] == [FA_ZW]
    # The view is its answer for the boilerplate limit, not a second answer sharing its
    # n-grams (an answer with one joiner shares all but a few with its view).
    answer = FA + " او می" + ZWNJ + "خواهد."
    one = write(tmp_path / "one.jsonl", [{"prompt": "مسئله را حل کنید.", "answer": answer}])
    rows = write(tmp_path / "rows.jsonl", [{"text": answer}, {"text": FA}])
    strict = detect(one, rows, max_ngram_items=1)
    assert [sorted(m.row for m in leak.matches) for leak in strict.leaks] == [[0, 1]]
    # Shipped to a worker (pickled), a hit on the view is still the answer's.
    built = LeakageIndex.build(ref)
    copy = pickle.loads(pickle.dumps(built))
    assert [i.part for i in copy.items][-2:] == ["answer", JOINERS_SPLIT]
    assert copy.answer_items == built.answer_items
    assert [i.text for i in copy.answer_items] == [FA_ZW]
    keys = pa.array([FA_ZW.replace(ZWNJ, " "), "مریم به مغازه رفت."], pa.large_string())
    answer = built.answer_items[0].index
    assert [(x.record, x.item) for x in copy.scan(keys)] == [(0, answer)]
    assert [(x.record, x.item) for x in built.scan(keys)] == [(0, answer)]


# Found by attack: NFKC writes an Arabic presentation form of a haraka on its own (U+FE70
# ARABIC FATHATAN ISOLATED FORM, ...) as a space and the mark, so one after every third
# letter cut each word in pieces and the copy matched nothing.
@pytest.mark.parametrize(
    "form",
    ["\ufe70", "\ufe72", "\ufe74", "\ufe76", "\ufe78", "\ufe7a", "\ufe7c", "\ufe7e", "\ufc60"],
    ids=["FE70", "FE72", "FE74", "FE76", "FE78", "FE7A", "FE7C", "FE7E", "FC60"],
)
def test_a_copy_with_isolated_forms_of_harakat_is_found(tmp_path: Path, form: str) -> None:
    assert found_in_an_answer(tmp_path, AR, marked(AR, form))
    assert found_in_an_answer(tmp_path, marked(AR, form, every=4), AR)


# Found by attack: NFKC writes every spacing accent (´ U+00B4, ¨, ˜, Greek's tonos, the
# kana voicing marks ゛ U+309B and ゜ U+309C...) as a space and the mark, as it does a
# haraka's isolated form, so one inside each word cut it in two and the copy matched
# nothing. Each is now read as its bare mark: `e´` is `é` (then `e`), `か゛` is `が`.
EN_ACCENTED = (
    "A farmer had fifteen apples in a basket. She gave three of them to her sister, then "
    "bought eight more at the market on Saturday morning. How many apples does the farmer "
    "have now? Show every step of your reasoning."
)
JA_KANA = (
    "きのうのごごにともだちといっしょにでんしゃでとおくのやまへでかけて、ぎんいろのかわの"
    "そばでおべんとうをたべながら、ぱんだのはなしやじぶんたちのゆめについてながいじかんはなし"
    "あいました。"
)


def spaced_accents(text: str, accent: str, every: int = 3) -> str:
    """`text` with `accent` after every `every`-th ASCII letter."""
    out, n = [], 0
    for c in text:
        out.append(c)
        if c.isascii() and c.isalpha():
            n += 1
            if n % every == 0:
                out.append(accent)
    return "".join(out)


def spacing_voicing(text: str) -> str:
    """`text` with each voiced kana written as the plain kana and ゛ (`が` as `か゛`), each
    semi-voiced one with ゜ (`ぱ` as `は゜`)."""
    decomposed = unicodedata.normalize("NFD", text)
    return decomposed.replace("\u3099", "\u309b").replace("\u309a", "\u309c")


@pytest.mark.parametrize(
    "accent",
    ["\u00b4", "\u00a8", "\u02dc", "\u00b8", "\u0384", "\u1fbf", "\u203e", "\uffe3"],
    ids=["00B4", "00A8", "02DC", "00B8", "0384", "1FBF", "203E", "FFE3"],
)
def test_an_english_copy_with_spacing_accents_inside_words_is_found(
    tmp_path: Path, accent: str
) -> None:
    assert found_in_an_answer(tmp_path, EN_ACCENTED, spaced_accents(EN_ACCENTED, accent))
    assert found_in_an_answer(tmp_path, spaced_accents(EN_ACCENTED, accent, every=4), EN_ACCENTED)


def test_a_kana_copy_with_spacing_voicing_marks_is_found(tmp_path: Path) -> None:
    copy = spacing_voicing(JA_KANA)
    assert "\u309b" in copy and "\u309c" in copy
    assert found_in_an_answer(tmp_path, JA_KANA, copy)
    assert found_in_an_answer(tmp_path, copy, JA_KANA)


def test_unrelated_rows_with_spacing_accents_are_clean(tmp_path: Path) -> None:
    en = (
        "The committee reviewed the annual budget and approved new funding for the city "
        "library, the public parks and the repair of several old bridges near the river."
    )
    ja = (
        "あさはやくおきてかぞくみんなでごはんをたべてから、がっこうまでのみちをゆっくり"
        "あるいて、ぶんぼうぐやさんでぺんとのーとをかいました。"
    )
    ref = write(tmp_path / "ref.jsonl", [{"text": EN_ACCENTED}, {"text": JA_KANA}])
    rows = [spaced_accents(en, "\u00b4"), spacing_voicing(ja), en, ja]
    corpus = write(tmp_path / "corpus.jsonl", [{"text": t} for t in rows])
    assert found_rows(ref, corpus) == {}
