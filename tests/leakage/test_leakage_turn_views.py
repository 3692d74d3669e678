"""A short golden question (no 13-gram, under the span's 8 words) that is a whole user turn
is found by the views of a conversation's turns (curagate.leakage.texts): in a chat whose
first role is not one the views know, in a quarantined chat, in a chat stored as one text
in a chat template, and in a turn wrapped in web markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.leakage import detect

Q = "What is the capital city of Peru?"


def _files(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "g1", "prompt": Q, "reference": "Lima"}) + "\n")
    corpus = tmp_path / "train.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ref, corpus


def _chat(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


@pytest.mark.parametrize(
    "row",
    [
        # OpenAssistant's `prompter` first: `^` matched only the key's first line, so a
        # first role the views did not know turned them all off, a later `user` turn's too
        _chat(("prompter", "Hi, I have some geography questions for you to answer."),
              ("assistant", "Sure."), ("user", Q), ("assistant", "Lima.")),
        # a `prompter` turn is the user's
        _chat(("prompter", Q), ("assistant", "Lima is the capital.")),
        # quarantined for its format (an empty system prompt): scanned only as its strings
        # joined, "user" and the question on lines of their own, with no turn views
        _chat(("system", ""), ("user", Q), ("assistant", "Lima.")),
        # ... or for a role the readers refuse, the question its second user turn
        _chat(("narrator", "A quiz."), ("user", "Hi there"), ("assistant", "Hello!\nAsk away."),
              ("user", Q), ("assistant", "Lima.")),
        # a valid row whose text opens with a line that is no turn
        {"text": f"Chat log 12\nprompter: Hello.\nassistant: Hi.\nuser: {Q}\nassistant: Lima."},
    ],
)  # fmt: skip
def test_a_whole_user_turn_after_an_unknown_role_or_in_a_quarantined_chat_is_found(
    tmp_path: Path, row: dict[str, Any]
) -> None:
    # a control: the question inside a longer user turn is no whole turn
    near = _chat(("system", ""), ("user", f"Quick one. {Q} Thanks."), ("assistant", "Lima."))
    ref, corpus = _files(tmp_path, [row, near])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


def test_check_gives_a_quarantined_chat_its_leak_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/leakage.md: a quarantined row holding a golden item is its FMT finding and a
    # LEAK001; `check` gave FMT005 only.
    ref, corpus = _files(tmp_path, [_chat(("system", ""), ("user", Q), ("assistant", "Lima."))])
    assert main(["check", str(corpus), "--golden", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "FMT005" in out and "LEAK001" in out, out


@pytest.mark.parametrize(
    "text",
    [
        f"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n{Q}<|im_end|>\n"
        "<|im_start|>assistant\nLima<|im_end|>",  # ChatML
        f"### Human: {Q}\n### Assistant: Lima",
        f"Below is an instruction.\n\n### Instruction:\n{Q}\n\n### Response:\nLima",  # Alpaca
        f"<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi! </s><s>[INST] {Q} [/INST]"
        " Lima </s>",  # Llama 2, the second user turn
        f"<s>[INST] {Q} [/INST] Lima</s>",  # Mistral
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        f"{Q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nLima<|eot_id|>",  # Llama 3
        f"<start_of_turn>user\n{Q}<end_of_turn>\n<start_of_turn>model\nLima<end_of_turn>",  # Gemma
        # Found by attack: these templates opened no user turn.
        f"<|system|>\nBe brief.</s>\n<|user|>\n{Q}</s>\n<|assistant|>\nLima</s>",  # Zephyr
        f"<|system|>\nBe brief.<|end|>\n<|user|>\n{Q}<|end|>\n<|assistant|>\nLima<|end|>",  # Phi-3
        f"<|prompter|>{Q}<|endoftext|><|assistant|>Lima<|endoftext|>",  # OpenAssistant
        f"<\uff5cbegin\u2581of\u2581sentence\uff5c>Be brief.<\uff5cUser\uff5c>{Q}"
        "<\uff5cAssistant\uff5c>Lima<\uff5cend\u2581of\u2581sentence\uff5c>",  # DeepSeek-V3
        "<|start|>system<|message|>You are ChatGPT.<|end|><|start|>user<|message|>"
        f"{Q}<|end|><|start|>assistant<|channel|>final<|message|>Lima<|return|>",  # gpt-oss
        "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
        f"<|start_of_role|>user<|end_of_role|>{Q}<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>Lima<|end_of_text|>",  # Granite
        "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
        f"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{Q}<|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Lima<|END_OF_TURN_TOKEN|>",  # Command-R
        "<|begin_of_text|><|header_start|>user<|header_end|>\n\n"
        f"{Q}<|eot|><|header_start|>assistant<|header_end|>\n\nLima<|eot|>",  # Llama 4
        f"<s>User: {Q}\nAssistant: Lima</s>",  # a role on the BOS line
    ],
)
def test_a_whole_user_turn_of_a_chat_in_a_template_is_found(tmp_path: Path, text: str) -> None:
    # A chat stored as one text in a chat template was never split into turns ("User: Q"
    # lines were): "0 leaked", check passed.
    near = f"<|im_start|>user\nQuick one: {Q} Thanks<|im_end|>\n<|im_start|>assistant\nLima"
    ref, corpus = _files(tmp_path, [{"text": text}, {"text": near}])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize(
    "rows",
    [
        # found by the re-attack: a batch whose every key held a line opening a turn was
        # never rewritten from its template ("Model: Corolla" in the answer; one row alone)
        [f"<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\nThe car.\nModel: Corolla"],
        # and turns opened by an indented role or header
        [f"  User: {Q}\n  Assistant: Lima", "plain"],
        [f"  ### Instruction:\n{Q}\n\n  ### Response:\nLima", "plain"],
    ],
)
def test_a_whole_user_turn_is_found_whatever_else_the_batch_holds(
    tmp_path: Path, rows: list[str]
) -> None:
    ref, corpus = _files(tmp_path, [{"text": t} for t in rows])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize(
    "row",
    [
        # found by the re-attack: a template as a message's content ("user: ### Instruction:"
        # opens no line) was never split
        _chat(("user", f"### Instruction:\n{Q}\n\n### Response:\n"), ("assistant", "Lima.")),
        _chat(("system", "Be brief."), ("user", f"### Human: {Q}\n### Assistant:"),
              ("assistant", "Lima.")),
        {"text": f"User:\t{Q}\nAssistant:\tLima"},  # a tab after the role's colon
    ],
)  # fmt: skip
def test_a_template_inside_a_message_is_split_into_turns(
    tmp_path: Path, row: dict[str, Any]
) -> None:
    ref, corpus = _files(tmp_path, [row, {"text": "plain"}])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize("turn", [f"<p>{Q}</p>", f"<b>{Q}</b>&nbsp;", Q.replace(" ", "%20")])
def test_a_whole_user_turn_in_web_markup_is_found(tmp_path: Path, turn: str) -> None:
    # The markup-decoded key was never split into turns: a user turn of `<p>Q</p>` was a
    # whole turn only decoded, and nothing matched.
    row = _chat(("user", turn), ("assistant", "Lima is the capital."))
    near = _chat(("user", f"<p>Quick one. {Q} Thanks.</p>"), ("assistant", "Lima."))
    ref, corpus = _files(tmp_path, [row, near])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize(
    "text",
    [
        # Found by review: Markdown role labels opened no turn
        f"**User:** {Q}\n**Assistant:** Lima is the capital.",
        f"**User**: {Q}\n**Assistant**: Lima is the capital.",
        f"__Human:__ {Q}\n__Assistant:__ Lima is the capital.",
        f"## User:\n{Q}\n\n## Assistant:\nLima is the capital.",
        f"## User\n{Q}\n\n## Assistant\nLima is the capital.",  # a heading that is the role
        f"### USER: {Q}\n### ASSISTANT: Lima is the capital.",
        # one-line transcripts (Vicuna's separators are spaces)
        f"USER: {Q} ASSISTANT: Lima is the capital.",
        "A chat between a curious user and an artificial intelligence assistant. "
        f"USER: Hello ASSISTANT: Hi!</s>USER: {Q} ASSISTANT: Lima.</s>",
        f"Human: {Q} Assistant: Lima is the capital.",
        f"User: {Q} Assistant: Lima is the capital.",
        # roles in markup
        f"<user>{Q}</user><assistant>Lima is the capital.</assistant>",
        f"<system>Be brief.</system>\n<user>\n{Q}\n</user>\n<assistant>\nLima\n</assistant>",
        f"<human>: {Q}\n<bot>: Lima is the capital.",  # OpenChatKit
        f"<|User|>{Q}<|Assistant|>Lima is the capital.",  # DeepSeek with ASCII bars
        f"<|USER|>{Q}<|ASSISTANT|>Lima is the capital.",  # StableLM
    ],
)
def test_a_whole_user_turn_in_markdown_one_line_or_markup_roles_is_found(
    tmp_path: Path, text: str
) -> None:
    near = f"**User:** Quick one: {Q} Thanks\n**Assistant:** Lima"
    ref, corpus = _files(tmp_path, [{"text": text}, {"text": near}])
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize(
    "text",
    [
        # prose naming a role mid-sentence is no transcript: not split into turns
        f"In the form the User: {Q} Assistant: field stays empty.",
        f"Set the value of User: {Q} in the settings, Assistant: on.",
        f"the user typed <user>{Q}</user> into the box",  # no assistant turn: XML data
        f"See **User:** settings. {Q} More notes here.",  # a label inside a line
    ],
)
def test_prose_naming_a_role_is_not_split_into_turns(tmp_path: Path, text: str) -> None:
    ref, corpus = _files(tmp_path, [{"text": text}])
    result = detect([ref], [corpus])
    assert result.leaks == [] or all(
        "exact" not in m.methods for leak in result.leaks for m in leak.matches
    )


@pytest.mark.parametrize(
    ("prompt", "row"),
    [
        # Found by attack: a golden prompt holding a transcript of its own, copied as a
        # user message's content, was split into the transcript's turns and its whole turn
        # was no view any more (found by exact match before the split).
        ("A chat. USER: Who wrote Hamlet? ASSISTANT:", "messages"),
        ("Continue. User: hi! Assistant:", "messages"),
        ("Translate: Human: bonjour. Assistant:", "messages"),
        ("Continue. User: hi! Assistant:", "chatml"),
        # the same for a template's header inside the message
        ("### Instruction:\nName a prime.\n\n### Response:", "messages"),
        ("**User:** Say hi.\n**Assistant:**", "chatml"),
    ],
)
def test_a_golden_prompt_holding_turns_is_found_as_a_whole_user_turn(
    tmp_path: Path, prompt: str, row: str
) -> None:
    answer = "Hello there, how can I help you today with anything at all?"
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "g1", "prompt": prompt, "reference": "x"}) + "\n")
    rows = {
        "messages": _chat(("user", prompt), ("assistant", answer)),
        "chatml": {
            "text": f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{answer}"
            "<|im_end|>"
        },
    }
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(json.dumps(rows[row]) + "\n" + json.dumps({"text": "plain"}) + "\n")
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)
