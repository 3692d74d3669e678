from __future__ import annotations

import re

import pytest

from curagate.gate import metrics as gm


def test_normalized_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert gm.exact_match("The Answer: Paris!", "answer paris") == 1.0
    assert gm.exact_match("Paris", "London") == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("-18", "18"),
        ("0.3", "3"),
        ("2.50", "250"),
        ("1.2", "12"),
        ("-7", "7"),
        ("1,8", "18"),
        ("1.000.5", "1000.5"),
        ("18 apples", "18"),
        ("", "0"),
        # found by attack: a reference 5e-05 (Python's text of 0.00005) was "5e05" after
        # normalization, as was the answer 5e+05; and the signs and points of numbers in
        # a text reference were dropped
        ("5e+05", "5e-05"),
        ("1e3", "1e-3"),
        ("5 degrees", "-5 degrees"),
        ("15 kg", "1.5 kg"),
        ("-5 degrees", "5 degrees"),
        # found by attack: normalization erased the dots, commas and dashes inside a run
        # of digits the number rule could not read as one number
        ("100.0.1", "10.0.0.1"),
        ("19.216.81.1", "192.168.1.1"),
        ("1.0.0.01", "10.0.0.1"),
        ("555-12-34", "555-1234"),
        ("version 1,5.3", "version 1.5.3"),
        ("2024-0-105", "2024-01-05"),
        ("10,0000", "1,00,000"),
        ("covid19", "covid-19"),
        # found by the re-attack: zeros written on purpose (a ZIP code, agent 007, Python
        # 3.10, section 2.10) are compared as written, not by the value without them
        ("zip 2134", "zip 02134"),
        ("Agent 7", "Agent 007"),
        ("Python 3.1", "Python 3.10"),
        ("section 2.1", "section 2.10"),
        ("1.000 total", "1 total"),
        ("18.0 apples", "18 apples"),
    ],
)
def test_exact_match_compares_numbers_by_value_not_by_their_digits(
    prediction: str, reference: str
) -> None:
    assert gm.exact_match(prediction, reference) == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("18.0", "18"),
        ("$18", "18"),
        ("-$18", "-18"),
        ("$-18", "-18"),
        ("1,000", "1000"),
        ("1,234.50", "1234.5"),
        ("18.", "18"),
        (" +3 ", "3"),
        (".5", "0.5"),
        ("5e-5", "0.00005"),
        ("0.00005", "5E-05"),
        ("-5 Degrees!", "-5 degrees"),
        ("1,000 apples", "1000 apples"),
        # found by attack: a number in a text reference written otherwise
        ("answer 1e5", "answer 100000"),
        ("zip 02134", "zip 02134"),
        ("Python 3.10", "python 3.10"),
        ("(-5) degrees.", "-5 degrees"),
        ("The IP is 10.0.0.1.", "IP is 10.0.0.1"),
        ("Version 1.5.3", "version 1.5.3"),
    ],
)
def test_exact_match_accepts_the_same_number_written_otherwise(
    prediction: str, reference: str
) -> None:
    assert gm.exact_match(prediction, reference) == 1.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("102 m", "10\u00b2 m"),
        ("10\u00b2 m", "102 m"),
        ("x2", "x\u00b2"),
        ("H2O", "H\u2082O"),
        ("step 1", "step \u2460"),
        ("12", "\u00b9\u00b2"),
    ],
)
def test_a_word_whose_digits_nfkc_changes_is_not_the_plain_digit_word(
    prediction: str, reference: str
) -> None:
    # Found by attack: NFKC was applied to whole words, so 10\u00b2 (ten squared) read as
    # 102, x\u00b2 as x2, and each matched the other. Such a word is compared as written.
    assert gm.exact_match(prediction, reference) == 0.0
    assert gm.exact_match(reference, reference) == 1.0


@pytest.mark.parametrize(
    ("output", "labels", "named"),
    [
        ("10\u00b2", ["102", "5"], None),
        ("It is 10\u00b2.", ["102", "5"], None),
        ("x\u00b2", ["x2", "y"], None),
        ("10\u00b2", ["10\u00b2", "5"], "10\u00b2"),
        ("It is 10\u00b2.", ["10\u00b2", "5"], "10\u00b2"),
        ("\uff11\uff10\uff12", ["102", "5"], "102"),
    ],
)
def test_a_label_is_not_named_by_digits_nfkc_makes(
    output: str, labels: list[str], named: str | None
) -> None:
    # Found by the re-attack: match_label read answers in NFKC, so 10\u00b2 (ten squared)
    # named the label 102, as exact_match no longer matched it. Fullwidth digits keep theirs.
    assert gm.match_label(output, labels) == named


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("北京。", "北京"),
        ("東京。", "東京"),
        ("« Paris »", "Paris"),
        ("«bleu»", "bleu"),
        ("Paris\u200b", "Paris"),
        ("\ufeffParis", "Paris"),
        ("“18”", "18"),
        ("7。", "7"),
        ("« 18 »", "18"),
        ("(18)", "18"),
        ("1\u200b8", "18"),
        ("“18” apples", "18 apples"),
        ("18。 apples", "18 apples"),
        ("「東京」です", "「東京」です"),
        ("Straße", "STRASSE"),
    ],
)
def test_exact_match_drops_punctuation_of_any_script(prediction: str, reference: str) -> None:
    # Found by attack: only ASCII punctuation was dropped, though the docs say punctuation
    # is removed after NFKC, so an ideographic stop, guillemets, curly quotes or a
    # zero-width space made a right answer wrong (in field_f1 too).
    assert gm.exact_match(prediction, reference) == 1.0
    assert gm.field_f1({"a": prediction}, {"a": reference}) == 1.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("\u201318", "18"),  # an en dash before a number: a minus sign, or no number
        ("<18", "18"),  # symbols are no punctuation
        ("~18", "18"),
        # Found by re-attack: marks Unicode files as punctuation that are a number's unit
        ("18%", "18"),
        ("18\u2030", "18"),
        ("#18", "18"),
        ("5\u2033", "5"),
        ("18\uff05", "18"),
        ("北京", "上海"),
        ("東京", "京都"),
        ("١٩", "18"),  # digits of every script are kept, by value
        ("Москва", "Минск"),
    ],
)
def test_exact_match_keeps_letters_digits_and_symbols_of_any_script(
    prediction: str, reference: str
) -> None:
    assert gm.exact_match(prediction, reference) == 0.0


def test_exact_match_and_labels_read_text_alike() -> None:
    # One normalizer: a label key is the exact_match text with the articles kept.
    for text in ["« Paris »", "北京。", "Paris\u200b", "Not “positive”!", "A", "Straße"]:
        assert gm.label_key(text) == ("text", gm.normalize_text(text, drop_articles=False))
    assert gm.match_label("北京。", ["北京", "上海"]) == "北京"


def test_a_word_with_a_superscript_reads_its_other_characters_in_nfkc() -> None:
    # Found by the re-attack: such a word was compared wholly as written, so a fullwidth
    # \uff38\u00b2 was not X\u00b2 (NFKC folds the letter; only the superscript stays).
    assert gm.exact_match("\uff38\u00b2", "X\u00b2") == 1.0
    assert gm.exact_match("\uff11\uff10\u00b2 m", "10\u00b2 m") == 1.0
    assert gm.exact_match("X2", "\uff38\u00b2") == 0.0


def test_fullwidth_digits_are_still_the_number_they_write() -> None:
    # Fullwidth digits are decimal digits, only wider: NFKC keeps their value.
    assert gm.exact_match("\uff11\uff18 apples", "18 apples") == 1.0
    assert gm.exact_match("\uff11\uff18", "18") == 1.0


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("Not positive", None),
        ("It isn't positive.", None),
        ("It is not a positive review", None),
        ("never Positive", None),
        ("It isn\u2019t Positive", None),
        ("No. Negative", "Negative"),
        ("Positive, not negative", "Positive"),
        # (a label after "not" was a second label named: unparsed, and scored wrong)
        ("It is about Positive, not Negative", "Positive"),
        ("Not negative: Positive", "Positive"),
    ],
)
def test_a_label_after_a_negation_word_is_not_a_mention(output: str, named: str | None) -> None:
    # Found by attack: "Not positive" named Positive. A label right after a negation word
    # (articles between allowed) is not a mention of it.
    assert gm.match_label(output, ["Positive", "Negative"]) == named


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("Nicht Positive", None),
        ("Das ist keine positive Bewertung.", None),
        ("Ce n'est pas Positive.", None),
        ("Ce n\u2019est pas positive", None),
        ("Non positive", None),
        ("Non-positive", None),
        ("No es Positive", None),
        ("no está positive", None),
        ("non è Positive", None),
        ("Não é Positive", None),
        ("这不是 Positive", None),
        ("非 Positive", None),
        ("没有 Positive", None),
        ("Positive ではない", None),
        # The other label still counts where one is denied.
        ("Negative, nicht Positive", "Negative"),
        ("C'est Negative, pas Positive.", "Negative"),
        ("Es Negative, no Positive", "Negative"),
        ("Negative, non Positive", "Negative"),
        ("Negative, não Positive", "Negative"),
        ("是 Negative\uff0c 不是 Positive", "Negative"),
        ("Positive ではなく Negative", "Negative"),
        # A negation whose reach ends, or a word that is none, denies nothing.
        ("Non, Positive", "Positive"),
        ("nicht nur positive", "Positive"),
        ("非常 Positive", "Positive"),
    ],
)
def test_negations_of_other_languages_deny_the_label_after_them(
    output: str, named: str | None
) -> None:
    # Found by attack: negations were English only, so "Nicht Positive", "Ce n'est pas
    # Positive.", "No es Positive" and "non positive" named Positive, while "Non-positive"
    # (the same answer) named none.
    assert gm.match_label(output, ["Positive", "Negative"]) == named


def test_a_number_label_is_denied_in_other_languages_too() -> None:
    assert gm.match_label("nicht 5", ["5", "6"]) is None
    assert gm.match_label("6, pas 5", ["5", "6"]) == "6"
    assert gm.match_label("不是 5", ["5", "6"]) is None
    assert gm.match_label("5 ではない", ["5", "6"]) is None


@pytest.mark.parametrize(
    ("output", "labels", "named"),
    [
        ("Not Sci/Tech.", ["World", "Sports", "Business", "Sci/Tech"], None),
        ("The sentiment is not **positive**.", ["Positive", "Negative"], None),
        ('Not "positive"', ["Positive", "Negative"], None),
        ("not (Positive)", ["Positive", "Negative"], None),
        ("not non-toxic", ["toxic", "non-toxic"], None),
        ('not "1"', ["1", "2"], None),
        # What ends the reach still does: a stop, a comma, a colon, a dash standing alone.
        ("No, positive", ["Positive", "Negative"], "Positive"),
        ("No - Negative", ["Positive", "Negative"], "Negative"),
        ("Not sure; positive", ["Positive", "Negative"], "Positive"),
        ("not only positive", ["Positive", "Negative"], "Positive"),
        ('2, not "1"', ["1", "2"], "2"),
        # Any script's quotes and brackets too (the second re-attack: curly quotes, as
        # models write them, named the label denied), and its stops end the reach.
        ("Not \u201cpositive\u201d.", ["Positive", "Negative"], None),
        ("Not \u2018positive\u2019", ["Positive", "Negative"], None),
        ("not \u00abpositive\u00bb", ["Positive", "Negative"], None),
        ("not \u300cpositive\u300d", ["Positive", "Negative"], None),
        (
            "no \u201ccontradiction\u201d here, entailment",
            ["entailment", "contradiction"],
            "entailment",
        ),
        ("Not positive\u3002 Negative", ["Positive", "Negative"], "Negative"),
        ("no \u2013 negative", ["Positive", "Negative"], "Negative"),
        ("It isn\u2019t positive", ["Positive", "Negative"], None),
    ],
)
def test_punctuation_around_a_label_does_not_end_a_negations_reach(
    output: str, labels: list[str], named: str | None
) -> None:
    # Found by the re-attack: the negation was looked for in the answer with every ASCII
    # punctuation mark a break, the mention in it with punctuation dropped, so quotes,
    # emphasis or a slash between "not" and the label named the label denied (a whole gate
    # passed answering "Not Sci/Tech." to every item).
    assert gm.match_label(output, labels) == named


def test_a_label_that_begins_with_a_negation_word_is_still_named() -> None:
    labels = ["Spam", "Not spam"]
    assert gm.match_label("It is not spam.", labels) == "Not spam"
    assert gm.match_label("Spam", labels) == "Spam"
    assert gm.match_label("not 5", ["5", "6"]) is None
    assert gm.match_label("6, not 5", ["5", "6"]) == "6"


@pytest.mark.parametrize(
    ("output", "labels", "named"),
    [
        # A stop or comma between two words parts them (found by attack: "Negative\uff0c不是"
        # was read as one word "negative不是", naming nothing; "Positive,not negative"
        # as "positivenot negative", naming Negative).
        ("Negative\uff0c\u4e0d\u662f", ["Positive", "Negative"], "Negative"),
        ("Negative\u3002\u4e0d\u662f Positive", ["Positive", "Negative"], "Negative"),
        ("Positive,not negative", ["Positive", "Negative"], "Positive"),
        ("Answer:Positive", ["Positive", "Negative"], "Positive"),
        # A stop inside an abbreviation or a number, a comma or colon between digits, join.
        ("It is U.S. news", ["U.S. news", "World news"], "U.S. news"),
        ("It is US news", ["U.S. news", "World news"], "U.S. news"),
        ("version v1.2", ["v1.2", "v2.0"], "v1.2"),
        ("at 10:30", ["10:30 slot", "11:30 slot", "10", "30"], None),
    ],
)
def test_a_stop_or_comma_between_words_parts_them(
    output: str, labels: list[str], named: str | None
) -> None:
    assert gm.match_label(output, labels) == named


@pytest.mark.parametrize(
    ("output", "named"),
    [
        # A Latin label written right after or before Chinese or Japanese (no space: those
        # scripts have none) is a mention (found by attack: "\u7b54\u6848\u662fPositive",
        # "the answer is Positive", named nothing).
        ("\u7b54\u6848\u662fPositive", "Positive"),
        ("\u7b54\u6848\u662fPositive\u3002", "Positive"),
        ("Positive\u5427", "Positive"),
        ("\u7b54\u3048\u306fNegative\u3067\u3059", "Negative"),
        ("\uc815\ub2f5\uc740Positive\uc785\ub2c8\ub2e4", "Positive"),
        ("\u4e0d\u662fPositive", None),
        ("\u662fNegative\u4e0d\u662fPositive", "Negative"),
        ("Positive\u3067\u306f\u306a\u3044", None),
        # Latin letters around it still make it part of a longer word.
        ("Positively", None),
        ("xPositive", None),
    ],
)
def test_a_latin_label_right_beside_cjk_is_named(output: str, named: str | None) -> None:
    assert gm.match_label(output, ["Positive", "Negative"]) == named


def test_a_number_label_right_beside_cjk_is_named() -> None:
    assert gm.match_label("\u7b54\u6848\u662f5", ["5", "6"]) == "5"
    assert gm.match_label("\u4e0d\u662f5", ["5", "6"]) is None
    assert gm.match_label("15", ["5", "6"]) is None


@pytest.mark.parametrize(
    ("output", "named"),
    [
        # "\u65e0\u975e" is "nothing but": no negation (found by attack: read as one,
        # so "\u65e0\u975e\u662f Positive", "it is nothing but Positive", named nothing).
        ("\u65e0\u975e\u662f Positive", "Positive"),
        ("\u65e0\u975e\u662fPositive", "Positive"),
        ("\u7121\u975e\u662f Positive", "Positive"),
        ("\u65e0\u975e Positive", "Positive"),
        # The negations themselves still deny.
        ("\u975e Positive", None),
        ("\u5e76\u975e Positive", None),
        ("\u65e0 Positive", None),
    ],
)
def test_wufei_nothing_but_is_no_negation(output: str, named: str | None) -> None:
    assert gm.match_label(output, ["Positive", "Negative"]) == named


@pytest.mark.parametrize(
    "output",
    [
        # A negated modal before "be" denies the label as "isn't" does (found by attack:
        # "It can't be Positive" and "It cannot be Positive" named Positive).
        "It can't be Positive",
        "It can\u2019t be Positive",
        "It cannot be Positive",
        "It can not be Positive",
        "It won't be Positive",
        "It couldn't be Positive",
        "It shouldn't be positive.",
        "It wouldn't be a positive review",
        "It hasn't been Positive",
        "It isn't Positive",
        "It is not Positive",
    ],
)
def test_a_negated_be_denies_the_label(output: str) -> None:
    assert gm.match_label(output, ["Positive", "Negative"]) is None
    assert gm.match_label(output + ", Negative", ["Positive", "Negative"]) == "Negative"


def test_be_after_a_negation_denies_only_what_follows_it() -> None:
    labels = ["Positive", "Negative"]
    assert gm.match_label("It can't be anything but Positive", labels) == "Positive"
    assert gm.match_label("Positive. It can't be Negative", labels) == "Positive"
    assert gm.match_label("To be Positive", labels) == "Positive"


def test_match_label_reads_the_one_label_named() -> None:
    labels = ["Science", "Science and technology", "Business"]
    assert gm.match_label("science and technology.", labels) == "Science and technology"
    # "Science" inside "Science and technology" is not a second label.
    assert gm.match_label("It is Science and technology", labels) == "Science and technology"
    assert gm.match_label("The topic: business, business.", labels) == "Business"
    assert gm.match_label("no idea", labels) is None


@pytest.mark.parametrize(
    "output",
    [
        "Positive or Negative, I cannot tell.",
        "It is about Business, or science",
        "Science and technology, or just Science",
    ],
)
def test_match_label_reads_no_label_from_an_answer_naming_several(output: str) -> None:
    labels = ["Science", "Science and technology", "Business", "Positive", "Negative"]
    assert gm.match_label(output, labels) is None


def test_macro_f1_matches_hand_computed_value() -> None:
    refs = ["a", "a", "b", "b", "c"]
    preds = ["a", "b", "b", "b", None]
    # a: p=1 r=.5 f=2/3; b: p=2/3 r=1 f=.8; c: f=0 -> mean = (2/3 + .8 + 0) / 3
    assert gm.macro_f1(preds, refs, ["a", "b", "c"]) == pytest.approx((2 / 3 + 0.8) / 3)


def test_per_class_precision_recall() -> None:
    pc = gm.per_class(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert pc["a"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1.0}
    assert pc["b"]["precision"] == 1.0 and pc["b"]["recall"] == 0.5


def test_confusion_matrix_counts_unparsed_answers_as_none() -> None:
    cm = gm.confusion_matrix(["a", None, "a"], ["a", "b", "b"], ["a", "b"])
    assert cm == {"a": {"a": 1, "b": 0, "(none)": 0}, "b": {"a": 1, "b": 0, "(none)": 1}}


def test_lcs_length() -> None:
    assert gm.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert gm.lcs_length([], ["x"]) == 0


def test_rouge_l_f1() -> None:
    # LCS "the cat on the mat" = 5 of 6 and 5 of 5 tokens: articles count, as in rouge-score.
    assert gm.rouge_l("The cat sat on the mat", "the cat on the mat") == pytest.approx(
        2 * (5 / 6) * 1.0 / (5 / 6 + 1.0)
    )
    assert gm.rouge_l("", "x") == 0.0


PAIRS = [
    ("The cat sat on the mat", "the cat on the mat"),
    ("A quick brown fox; jumps over the lazy dog!", "the quick brown dog jumps on a fox"),
    ("Order #987654 ships on 2024-05-01.", "order 987654 shipped 2024 05 01"),
    ("it's 100% worth it", "It is worth it, 100 percent"),
    ("an answer", "a different answer entirely"),
    ("", "empty prediction"),
    ("snake_case and CamelCase", "snake case and camelcase"),
]


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
@pytest.mark.slow
def test_rouge_l_equals_rouge_score_on_ascii_text(prediction: str, reference: str) -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"]
    assert gm.rouge_l(prediction, reference) == pytest.approx(expected.fmeasure)


def test_rouge_l_keeps_non_ascii_words_where_rouge_score_drops_them() -> None:
    assert gm.rouge_l("猫 在 垫子 上", "猫 在 垫子 上") == 1.0
    assert gm.rouge_l("café au lait", "cafe au lait") == pytest.approx(2 * (2 / 3) ** 2 / (4 / 3))


def test_json_parse_accepts_one_code_fence() -> None:
    assert gm.parse_json('```json\n{"a": 1}\n```') == (True, {"a": 1})
    assert gm.parse_json("{'a': 1}") == (False, None)


@pytest.mark.parametrize("levels", [950, 100_000])
def test_a_json_answer_nested_past_the_limit_is_invalid_not_a_crash(levels: int) -> None:
    # A candidate answering with deeply nested JSON crashed the gate (RecursionError while
    # parsing, or while scoring at 950 levels): exit 3 instead of a score.
    assert gm.parse_json("[" * levels + "]" * levels) == (False, None)
    assert gm.parse_json("[" * 127 + "]" * 127)[0]


def test_schema_compliance() -> None:
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    assert gm.schema_valid({"name": "x"}, schema) == 1.0
    assert gm.schema_valid({"name": 3}, schema) == 0.0


def test_field_f1_reads_a_string_field_as_exact_match_does() -> None:
    # found by attack on exact_match: normalized, "100.0.1" was "10.0.0.1" here too
    assert gm.field_f1({"ip": "100.0.1"}, {"ip": "10.0.0.1"}) == 0.0
    assert gm.field_f1({"weight": "1,000 kg"}, {"weight": "1000 kg"}) == 1.0
    assert gm.field_f1({"zip": "2134"}, {"zip": "02134"}) == 0.0
    assert gm.field_f1({"city": "The London!"}, {"city": "london"}) == 1.0
    # found by the re-attack: a value that is only an article ("A" as a grade) was empty
    # once normalized, so "the" and "" were right; exact_match keeps the articles there
    assert gm.field_f1({"grade": "the"}, {"grade": "A"}) == 0.0
    assert gm.field_f1({"grade": ""}, {"grade": "A"}) == 0.0
    assert gm.field_f1({"grade": "a."}, {"grade": "A"}) == 1.0


def test_field_f1_compares_nested_fields() -> None:
    ref = {"name": "Ada Lovelace", "born": {"year": 1815, "city": "London"}}
    assert (
        gm.field_f1({"name": "ada lovelace", "born": {"year": 1815, "city": "London"}}, ref) == 1.0
    )
    # 2 of 3 fields right, no extra fields: P=1 R=2/3
    assert gm.field_f1({"name": "Ada Lovelace", "born": {"year": 1815}}, ref) == pytest.approx(0.8)
    assert gm.field_f1(None, ref) == 0.0
    # A null answer to a null reference is right: it scored 0 while exact_match said 1.
    assert gm.field_f1(None, None) == 1.0


def test_refusal_detector() -> None:
    assert gm.is_refusal("I'm sorry, but I can't help with that.")
    assert gm.is_refusal("I cannot provide instructions for building weapons.")
    assert not gm.is_refusal("Sure! Here is a recipe for pancakes.")


def test_format_compliance_and_answer_extraction() -> None:
    assert gm.format_compliance("  #### 42 ", r"####\s*\d+") == 1.0
    assert gm.format_compliance("42", r"####\s*\d+") == 0.0
    assert gm.extract_answer("a #### 1 then #### 1,234", r"####\s*([\d,]+)") == "1,234"
    assert gm.extract_answer("no number", r"####\s*(\d+)") == ""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("-1", "-1"),
        ("1", "1"),
        ("The answer is -1.", "-1"),
        ("+1", "1"),
        ("1.0", "1"),
        ("-1 or 1", None),
        ("-1, 1", None),
        ("Score: -1, final", "-1"),
    ],
)
def test_signed_number_labels_are_read_by_value(output: str, expected: str | None) -> None:
    # Normalization drops the sign: "-1" read as "1" overwrote one label with the other.
    assert gm.match_label(output, ["-1", "1"]) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [("A", "A"), ("(B)", "B"), ("b.", "B"), ("...", None), ("", None), ("the", None)],
)
def test_letter_labels_are_letters_not_articles(output: str, expected: str | None) -> None:
    # "A" normalized to "" (an article), so "..." and "" were read as label A.
    assert gm.match_label(output, ["A", "B"]) == expected


def test_labels_reading_alike_are_ambiguous_not_the_last_one() -> None:
    # Multiple-choice options are not refused at load: one written twice names neither.
    assert gm.match_label("Yes", ["Yes", "yes!", "No"]) == "Yes"  # written exactly so
    assert gm.match_label("YES", ["Yes", "yes!", "No"]) is None
    assert gm.match_label("no", ["Yes", "yes!", "No"]) == "No"


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        (["Positive", "Positive", "Negative"], "'Positive' and 'Positive'"),
        (["Positive", "positive"], "'Positive' and 'positive'"),
        (["1", "1.0"], "'1' and '1.0'"),
        (["+", "-"], "'+'"),
        (["...", "ok"], "'...'"),
        (["", "ok"], "''"),
        (["(none)", "ok"], "'(none)'"),
        (["(none) ", "ok"], "'(none) '"),
        (["\uff08none\uff09", "ok"], "'\uff08none\uff09'"),
    ],
)
def test_check_labels_refuses_labels_no_answer_can_tell_apart(labels: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        gm.check_labels(labels)


def test_check_labels_accepts_signed_numbers_and_letters() -> None:
    gm.check_labels(["-1", "0", "1"])
    gm.check_labels(["A", "B", "C", "D"])
    gm.check_labels(["Science", "Science and technology"])


def test_macro_f1_counts_each_class_once() -> None:
    refs = ["Positive", "Negative"]
    preds = ["Positive", "Positive"]
    once = gm.macro_f1(preds, refs, ["Positive", "Negative"])
    assert gm.macro_f1(preds, refs, ["Positive", "Positive", "Negative"]) == once


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        '{"score": NaN}',
        '{"score": Infinity}',
        "[-Infinity]",
        '{"score": 1e999}',
        '{"ok": true, "ok": false}',
        '{"a": {"b": 1, "b": 1}}',
    ],
)
def test_parse_json_accepts_only_strict_json(text: str) -> None:
    # Python's json reads NaN/Infinity, overflows 1e999 to inf and keeps the last of
    # duplicate keys: none is JSON (RFC 8259) a consumer of the model's answers can read.
    assert gm.parse_json(text) == (False, None)


@pytest.mark.parametrize(
    ("answer", "reference", "equal"),
    [
        ({"ok": 1}, {"ok": True}, False),
        ({"ok": True}, {"ok": 1}, False),
        ([0], [False], False),
        ({"n": 1.0}, {"n": 1}, True),
        ({"n": [1, {"m": "x"}]}, {"n": [1, {"m": "x"}]}, True),
        ({"n": [1, 2]}, {"n": [2, 1]}, False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        (None, None, True),
    ],
)
def test_json_equal_tells_booleans_from_numbers(answer, reference, equal: bool) -> None:
    assert gm.json_equal(answer, reference) is equal


def test_field_f1_tells_booleans_from_numbers_and_reads_1_0_as_1() -> None:
    assert gm.field_f1({"ok": 1}, {"ok": True}) == 0.0
    assert gm.field_f1({"n": 1.0}, {"n": 1}) == 1.0
    assert gm.field_f1({"n": [1.0, True]}, {"n": [1, True]}) == 1.0
    assert gm.field_f1({"n": [1, 1]}, {"n": [1, True]}) == 0.0


def test_field_f1_keeps_empty_objects_and_dotted_keys_apart() -> None:
    # Found by attack: an empty object had no fields (`{"error": {}}` scored 1.0 against
    # `{"result": {}}`, a missing `"tags": {}` was never counted), and paths were joined
    # with dots (`{"user.name": ...}` was `{"user": {"name": ...}}`).
    assert gm.field_f1({"result": {}}, {"error": {}}) == 0.0
    assert gm.field_f1({"name": "Bob"}, {"name": "Bob", "tags": {}}) == pytest.approx(2 / 3)
    dotted = {"user.name": "Ann", "user.id": 7}
    assert gm.field_f1({"user": {"name": "Ann", "id": 7}}, dotted) == 0.0
    assert gm.field_f1(dotted, dotted) == 1.0 and gm.field_f1({}, {}) == 1.0
    assert gm.field_f1({"a": {}}, {"a": {}}) == 1.0


def test_a_fenced_answer_is_read_as_the_fence_regex_read_it() -> None:
    # The regex ^```(?:json)?\s*(.*?)\s*```$ was cubic (24 s on a fence and 4,000 spaces);
    # the answers are the same.
    for text, value in [
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```{"a": 1}```', {"a": 1}),
        ("```jsonx```", None),
        ("``````", None),
        ("  ```\n[1]\n```  ", [1]),
        ('x```{"a": 1}```', None),
        ("```" + " " * 50_000 + "}", None),
    ]:
        ok, parsed = gm.parse_json(text)
        assert (parsed if ok else None) == value, text[:20]


def test_structured_json_exact_match_is_type_exact() -> None:
    from curagate.gate.config import GoldenSetGate
    from curagate.gate.tasks.base import Answer, get_task

    spec = GoldenSetGate(name="s", task="structured_json")
    task = get_task("structured_json")
    item = {"id": "1", "prompt": "p", "reference": {"valid": True}}
    wrong = task.score(Answer(item, spec, '{"valid": 1}')).values
    assert (wrong["exact_match"], wrong["field_f1"]) == (0.0, 0.0)
    right = task.score(Answer(item, spec, '{"valid": true}')).values
    assert (right["exact_match"], right["field_f1"]) == (1.0, 1.0)
    nan = task.score(Answer(item, spec, '{"valid": true, "p": NaN}')).values
    assert (nan["json_valid_rate"], nan["exact_match"]) == (0.0, 0.0)


def test_field_f1_tells_a_string_from_the_value_it_spells() -> None:
    # "75001" is not 75001, "true" is not true, "null" is not null: all reduced to one
    # text key, every field of the wrong type scored as right.
    ref = {"zip": 75001, "ok": True, "n": None}
    assert gm.field_f1({"zip": "75001", "ok": "true", "n": "null"}, ref) == 0.0
    assert gm.field_f1({"zip": 75001, "ok": True, "n": None}, ref) == 1.0
    assert gm.field_f1({"city": "PARIS"}, {"city": "paris"}) == 1.0  # strings still normalized


@pytest.mark.parametrize(
    ("pattern", "output", "expected"),
    [
        # The answer in the second alternative: the first group took no part (None).
        (r"####\s*(\d+)|answer: (\d+)", "answer: 42", "42"),
        (r"####\s*(\d+)|answer: (\d+)", "#### 7", "7"),
        # An optional group that matched nothing: nothing was extracted.
        (r"answer:\s*(\d+)?", "answer: none", ""),
        (r"answer:\s*\d+", "answer: 5", "answer: 5"),
    ],
)
def test_extract_answer_takes_the_group_that_matched(
    pattern: str, output: str, expected: str
) -> None:
    assert gm.extract_answer(output, pattern) == expected


def test_the_judge_prompt_is_filled_once_never_inside_an_answer() -> None:
    from curagate.gate.judge import DEFAULT_PROMPT, render

    question, a, b = "Explain {answer_a}", "use {answer_b} and {question}", "BASE"
    (msg,) = render(DEFAULT_PROMPT, question, a, b)
    text = msg["content"]
    assert question in text and a in text and b in text
    assert text.count("BASE") == 1


def test_a_number_reference_is_scored_as_the_number_the_golden_set_holds() -> None:
    # Found by attack: a reference 0.00005 in the golden file was scored as "5e-05" (as
    # json.dumps writes it): the answer 5e+05 matched it and the right answer did not.
    from curagate.gate.config import parse_gate
    from curagate.gate.evaluate import score_set

    spec = parse_gate(
        "schema_version: 1\nname: t\ngolden_sets:\n  - name: s\n    task: generation\n"
        "    metrics: {exact_match: {min: 1.0}}\n"
    ).golden_sets[0]
    items = [
        {"id": "a", "prompt": "p", "reference": 0.00005},
        {"id": "b", "prompt": "p", "reference": 1e20},
    ]
    scored = score_set(spec, items, ["5e+05", "1e20"], ["0.00005", "100000000000000000000"], None)
    assert scored.candidate.values["exact_match"] == [0.0, 1.0]
    assert scored.base.values["exact_match"] == [1.0, 1.0]
    assert [gm.plain_number(i["reference"]) for i in items] == ["0.00005", "100000000000000000000"]
