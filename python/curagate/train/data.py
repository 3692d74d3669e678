"""Training data: records -> conversations -> token ids with assistant-only labels.

Why our own masking instead of trl's ``assistant_only_loss``: trl needs
``{% generation %}`` markers in the chat template and swaps in its own
template when they are missing (or refuses). We keep the tokenizer's own
template and find each assistant turn by rendering the conversation up to
that turn, which works for any prefix-preserving template and lets us check
that the end-of-turn token falls inside the trained span.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.errors import CheckFailed, ConfigError, InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Message = dict[str, Any]
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Conversation:
    """An SFT example: its turns, and the first one trained. A prompt/completion record's
    prompt is context only, whatever its turns' roles: the few-shot answers of a prompt
    written as assistant turns were trained on as if they were the completion."""

    messages: list[Message]
    trained_from: int = 0
    # Assistant turns written with OpenAI's "weight": 0: context, not trained.
    untrained: frozenset[int] = frozenset()


@dataclass
class Records:
    format: str  # a RecordFormat value; text is refused by read_records
    rows: list[dict[str, Any]]
    files: list[Path]
    # Where each row is, as errors name it: "file:line" (JSONL), else "file row N".
    places: list[str] = field(default_factory=list)
    # Each file's state (digest.file_state) before it was read: a change after that,
    # even before its hash was taken, shows as a different state.
    states: dict[Path, Any] = field(default_factory=dict)
    # Splits that failed the leak check their run was told to pass, read with
    # --allow-leakage: why each failed (run.json's summary.failed_split_checks).
    failed_checks: list[str] = field(default_factory=list)

    def where(self, i: int) -> str:
        return self.places[i] if i < len(self.places) else f"training data row {i}"


def expand_paths(paths: Sequence[str]) -> list[Path]:
    from curagate.io import expand_inputs

    return list(expand_inputs(list(paths)))


def _with_train_advice(batches: Iterator[Any]) -> Iterator[Any]:
    """The reader's batches; its advice to pass --format / --text-field (options of the
    data commands, not of train) becomes the train config's key."""
    from curagate.records import FORMAT_ADVICE

    try:
        yield from batches
    except InputError as e:
        text = str(e)
        if FORMAT_ADVICE not in text:
            raise
        head = text.split(f" {FORMAT_ADVICE}", 1)[0]
        raise InputError(
            f"{head} Set data.format (chat, prompt_completion or preference) in the train "
            "config, or rename the columns"
        ) from None


def _read_rows(files: list[Path], fmt: str | None) -> tuple[str, list[dict[str, Any]], list[str]]:
    """All rows of ``files`` in one format, with where each is; any quarantined row
    stops the run."""
    from curagate.io import read_batches

    rows: list[dict[str, Any]] = []
    places: list[str] = []
    detected: str | None = None
    bad = []
    for batch in _with_train_advice(read_batches(files, format=fmt)):
        detected = detected or str(batch.format)
        if str(batch.format) != detected:
            raise InputError(
                f"{batch.source}: records are {batch.format} but earlier files are {detected}; "
                "train on one format at a time"
            )
        bad.extend(batch.quarantined)
        rows.extend(batch.table.to_pylist())
        if batch.lines is not None:
            places.extend(f"{batch.source}:{line}" for line in batch.lines.to_pylist())
        else:
            places.extend(f"{batch.source} row {row}" for row in batch.rows.to_pylist())
    if bad:
        first = bad[0]
        where = f"{first.file}:{first.line}" if first.line else first.file
        raise InputError(
            f"{len(bad)} row(s) cannot be used for training (first: {where}: {first.reason}); "
            "fix them or run `curagate curate` first"
        )
    return detected or (fmt or "chat"), rows, places


# Where the records to train on lie in a curate output (its kept/, or its splits/, a split
# output of its own) and in a split output (its split files, at the top); the split each
# part of a run's data may read: the test split is held out for the gate, and the
# validation split picks the checkpoint.
_SPLIT_FOR = {"train": "train", "validation": "val"}
_SPLIT_FILES = ("train.parquet", "val.parquet", "test.parquet")


def check_curagate_outputs(
    files: Sequence[Path], role: str = "train", *, allow_leakage: bool = False
) -> list[str]:
    """Refuse files that lie in a curate or split output changed since it was written
    (a shard edited, added or removed by hand): train on what the gate will be told
    was curated, or on files outside such a folder. Refuse too the files of such an
    output that are not the records it kept (``removed/``: the duplicates and leaks it
    took out; the quarantine, the clusters): a glob over the output trained on them;
    and the splits that are not ``role``'s (``data.train`` reads ``train.parquet``,
    ``data.validation`` ``val.parquet``): a run given ``splits/`` trained on its test split.
    And refuse a split whose run failed the leak check it was told to pass (--fail-on-leak:
    written for inspection), or an output whose run failed --strict, unless
    ``allow_leakage``; returns the reasons then accepted."""
    from curagate.io.outputs import read_marker
    from curagate.io.verify import check_output_folder, enclosing_outputs

    own = f"{_SPLIT_FOR[role]}.parquet"
    folders = set()
    for f in files:
        for folder in enclosing_outputs(f):
            folders.add(folder)
            command = str((read_marker(folder) or {}).get("command"))
            for form in (f.parent.resolve() / f.name, f.resolve()):
                if not form.is_relative_to(folder):
                    continue
                rel = form.relative_to(folder)
                split_file = (command == "split" and len(rel.parts) == 1) or (
                    command == "curate" and rel.parts[:1] == ("splits",) and len(rel.parts) == 2
                )
                # kept/ of an output curated with --split holds every split, test included
                split_too = (folder / "splits").is_dir()
                if (command == "curate" and rel.parts[0] == "kept" and not split_too) or (
                    split_file and rel.name == own
                ):
                    continue
                if split_file and rel.name in _SPLIT_FILES:
                    what = f"the {rel.stem} split, not data.{role}'s"
                elif rel.parts[0] == "kept":
                    what = "every record it kept, its val and test splits too"
                elif rel.parts[0] == "removed":
                    what = "the records it removed (duplicates, leaks, filtered rows)"
                else:
                    what = "not records it kept (its quarantine, clusters or bookkeeping)"
                fix = f"splits/{own}" if command == "curate" else own
                if command == "curate" and role == "train" and not split_too:
                    fix = f"kept/ (or {fix}, curated with --split)"
                raise InputError(
                    f"{f}: {rel.as_posix()} of the {command} output {folder} holds {what}; "
                    f"give data.{role} its {fix}"
                )
    accepted: list[str] = []
    for folder in sorted(folders):
        check = check_output_folder(folder)
        if check is not None and not check.ok:
            raise InputError(
                f"{folder}: this {check.command} output changed after `curagate "
                f"{check.command}` wrote it: {check.summary()}; run `curagate {check.command}` "
                "again, or copy the files you mean to train on out of it"
            )
        if check is not None and check.failed_check is not None:
            why = f"{folder}: {check.failed_check}"
            if not allow_leakage:
                again = (
                    f"Fix or remove the quarantined rows and run `curagate {check.command}` again"
                    if check.failed_kind == "strict"
                    else "Split again so that it passes"
                )
                raise CheckFailed(
                    f"data.{role}: {why}; refusing to train on it. {again}, or pass "
                    "--allow-leakage to train anyway (recorded in run.json)"
                )
            if why not in accepted:
                accepted.append(why)
    return accepted


def read_records(
    paths: Sequence[str], fmt: str | None, role: str = "train", *, allow_leakage: bool = False
) -> Records:
    """The records of ``data.<role>`` (``train`` or ``validation``)."""
    from curagate.digest import file_state

    files = expand_paths(paths)
    failed_checks = check_curagate_outputs(files, role, allow_leakage=allow_leakage)
    states = {f: file_state(f) for f in files}
    detected, rows, places = _read_rows(files, fmt)
    if not rows:
        raise InputError(f"{', '.join(map(str, files))}: no records to train on")
    if detected == "text":
        raise InputError(
            f"{files[0]}: plain-text records have no assistant turn to learn; "
            "train on chat (messages) or prompt/completion records"
        )
    return Records(detected, rows, files, places, states, failed_checks)


def _clean_messages(value: Any, where: str) -> list[Message]:
    """Turns as the chat template takes them: text parts joined into the
    content, tool calls (and a tool turn's id/name) passed through."""
    from curagate.audit.formats import shown_role
    from curagate.records import (
        ROLES,
        content_text,
        is_non_text_part,
        message_problem,
        non_text_parts,
        strip_nulls,
    )

    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty list of {{role, content}} messages")
    out = []
    for i, m in enumerate(value):
        problem = message_problem(m)
        if problem is not None:
            raise InputError(f"{where}: message {i} {problem}")
        if m["role"] not in ROLES:  # the template rendered it by name; "gpt" was never trained
            raise InputError(
                f"{where}: message {i} has the role {shown_role(m['role'])!r}, which chat "
                "templates do not know; rename it to system, user, assistant or tool (e.g. "
                "human->user, gpt->assistant; `curagate check` finds every such row: FMT002)"
            )
        parts = non_text_parts(m.get("content"))
        if parts:
            # Named by their types (it said "(image, audio)" of a refusal or thinking part).
            kinds = sorted(
                {
                    str(p.get("type"))
                    for p in m["content"]
                    if isinstance(p, dict) and is_non_text_part(p)
                }
            )
            raise InputError(
                f"{where}: message {i} has {parts} content part(s) that are not text "
                f"({', '.join(kinds)}); curagate trains text-only models on text parts: "
                "write them as text, or drop those parts or the record"
            )
        msg: Message = {"role": m["role"], "content": content_text(m.get("content"))}
        for k in ("tool_calls", "tool_call_id", "name"):
            if m.get(k) is not None:
                msg[k] = strip_nulls(m[k])
        out.append(msg)
    return out


def _turn_weights(value: Any, where: str, name: str | None = None) -> list[int | None]:
    """Each turn's ``weight`` (OpenAI's chat fine-tuning format: 0 leaves an assistant turn
    out of training, 1 trains it, as without the field), None where it has none (null is
    none: a Parquet or JSON Lines column holds null for every message that lacks it).
    Another value, or a weight on a turn other than the assistant's, is refused."""
    if not isinstance(value, list):
        return [None]
    out: list[int | None] = []
    for i, m in enumerate(value):
        w = m.get("weight") if isinstance(m, dict) else None
        if w is None:
            out.append(None)
            continue
        turn = f"message {i}" if name is None else f"'{name}' message {i}"
        if isinstance(w, bool) or not isinstance(w, int | float) or w not in (0, 1):
            raise InputError(
                f"{where}: {turn} has 'weight' {json.dumps(w)}; OpenAI's format takes 0 (the "
                "assistant turn is context, not trained) or 1 (trained, as without the "
                "field): set 0 or 1, or remove the field"
            )
        if m.get("role") != "assistant":
            raise InputError(
                f"{where}: {turn} is a {m.get('role')!r} turn with 'weight' {json.dumps(w)}; "
                "only assistant turns are trained, and weight applies to them alone: remove "
                "the field"
            )
        out.append(int(w))
    return out


def _as_turns(value: Any, role: str, where: str) -> list[Message]:
    """A string as the one turn of ``role`` holding it (one rule with
    :func:`curagate.records.same_responses`), turns cleaned."""
    from curagate.records import string_turns

    if isinstance(value, str):
        return string_turns(value, role)
    return _clean_messages(value, where)


def _refuse(records: Records, task: str) -> None:
    """Formats curagate does not train, with what to do instead; and records carrying
    tool schemas (``tools``), which the chat template is not given: the model would learn
    tool calls without the schemas it is served with (they were dropped without a word)."""
    for i, row in enumerate(records.rows):
        if row.get("tools"):
            raise InputError(
                f"{records.where(i)}: field 'tools' (the functions the model may call) is not "
                "passed to the chat template by curagate train, so the model would learn tool "
                "calls without the schemas it is served with; remove the field to train "
                "without them"
            )
    if records.format == "prompt_only":
        raise InputError(
            f"{records.files[0]}: prompt-only records have no answer to learn (they are for "
            "online methods such as GRPO, which curagate does not run); add completions "
            f"to train {task}"
        )
    if records.format == "stepwise_supervision":
        raise InputError(
            f"{records.files[0]}: stepwise supervision records (prompt, completions, labels) are "
            "for process reward models (trl's PRMTrainer), which curagate does not train"
        )
    if records.format == "unpaired_preference":
        raise InputError(
            f"{records.files[0]}: unpaired preference records (prompt, completion, label) are "
            "for KTO, which curagate does not run; pair a chosen and a rejected completion per "
            "prompt for `curagate train dpo`, or keep the label=true rows as prompt/completion "
            "records for sft"
        )


def _with_system(messages: list[Message], system_prompt: str | None) -> list[Message]:
    if system_prompt is None or (messages and messages[0]["role"] == "system"):
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def to_conversations(records: Records, system_prompt: str | None) -> list[Conversation]:
    """SFT examples (prompt/completion: the prompt's turns, a string being one user turn,
    then the completion's, the only ones trained)."""
    _refuse(records, "sft")
    convs = []
    for i, row in enumerate(records.rows):
        where = records.where(i)
        completion: list[Message] = []
        if records.format == "chat":
            msgs = _clean_messages(row.get("messages"), where)
            weights = _turn_weights(row.get("messages"), where)
        elif records.format == "prompt_completion":
            completion = _as_turns(row.get("completion"), "assistant", where)
            prompt = _as_turns(row.get("prompt"), "user", where)
            msgs = prompt + completion
            if not any(m["role"] == "assistant" for m in completion):
                raise InputError(f"{where}: the completion holds no assistant turn to learn")
            prompt_weights = _turn_weights(row.get("prompt"), where, "prompt")
            if 1 in prompt_weights:
                raise InputError(
                    f"{where}: 'prompt' message {prompt_weights.index(1)} has 'weight' 1, but "
                    "a prompt is context, never trained: move the turn into 'completion' or "
                    "remove the field"
                )
            context: list[int | None] = [None] * len(prompt)
            weights = context + _turn_weights(row.get("completion"), where, "completion")
        else:
            raise InputError(
                f"{records.files[0]}: preference records (prompt/chosen/rejected) are for "
                "`curagate train dpo`, not sft"
            )
        if not any(m["role"] == "assistant" for m in msgs):
            raise InputError(f"{where}: no assistant turn to learn")
        shown = _prompted(_with_system(msgs, system_prompt), where)
        trained_from = len(shown) - len(completion) if completion else 0
        offset = len(shown) - len(msgs)  # the system turn data.system_prompt added
        untrained = frozenset(offset + i for i, w in enumerate(weights) if w == 0)
        if not any(
            m["role"] == "assistant" and i >= trained_from and i not in untrained
            for i, m in enumerate(shown)
        ):
            raise InputError(
                f"{where}: every assistant turn has weight 0, so the row trains nothing; "
                "set weight 1 (or remove the field) on the turns to learn, or remove the row"
            )
        convs.append(Conversation(shown, trained_from, untrained))
    return convs


def turn_order_problems(records: Records) -> tuple[int, str | None]:
    """How many SFT records `curagate check` flags for the order of their turns (FMT003:
    turns that do not alternate; FMT004: a last turn that is not the assistant's), and the
    first, where and what: trained as they are, and worth a look (training-health TH008)."""
    from curagate.audit.formats import format_violations
    from curagate.records import RecordFormat

    fmt = RecordFormat(records.format)
    count, first = 0, None
    for i, row in enumerate(records.rows):
        found = [v for v in format_violations(fmt, row) if v.rule in ("FMT003", "FMT004")]
        if found:
            count += 1
            first = first or f"{records.where(i)}: {found[0].detail} ({found[0].rule})"
    return count, first


def _prompted(messages: list[Message], where: str) -> list[Message]:
    """``messages``, which must not open with an assistant turn: the turn's prompt is
    what comes before it, and nothing does (the chat template cannot render an empty
    conversation to find where the turn starts)."""
    if messages and messages[0]["role"] == "assistant":
        raise InputError(
            f"{where}: the conversation opens with an assistant turn, which nothing prompts; "
            "start it with a user (or system) turn"
        )
    return messages


def to_preferences(records: Records, system_prompt: str | None) -> list[dict[str, list[Message]]]:
    """DPO examples in trl's conversational form, so the tokenizer's chat template applies."""
    _refuse(records, "dpo")
    if records.format != "preference":
        raise InputError(
            f"{records.files[0]}: DPO needs preference records (prompt, chosen, rejected); "
            f"these are {records.format}"
        )
    out = []
    for i, row in enumerate(records.rows):
        where = records.where(i)
        prompt, chosen, rejected = row.get("prompt"), row.get("chosen"), row.get("rejected")
        if prompt is None:
            # Implicit prompt: the turns both responses share, as trl extracts it.
            from curagate.records import extract_prompt

            prompt, chosen, rejected = extract_prompt(chosen, rejected)
            if not prompt:
                raise InputError(
                    f"{where}: 'chosen' and 'rejected' share no leading turn, so there is no "
                    "prompt; add a 'prompt' field or start both with the same user turn"
                )
        chosen_turns = _answer(chosen, "chosen", where)
        rejected_turns = _answer(rejected, "rejected", where)
        _dpo_weights(prompt, chosen, rejected, where)
        if _said(chosen_turns) == _said(rejected_turns):
            # DPO learns from the difference between the two: none, and the loss stays at
            # log 2 whatever the model does. Compared by what the turns say (content and
            # tool calls): a string and the one assistant turn holding it (with a name,
            # say) are the same answer.
            raise InputError(
                f"{where}: 'chosen' and 'rejected' are the same answer, so the pair teaches "
                "nothing; fix or remove the row (`curagate audit` finds such rows)"
            )
        out.append(
            {
                "prompt": _prompted(
                    _with_system(_as_turns(prompt, "user", where), system_prompt), where
                ),
                "chosen": chosen_turns,
                "rejected": rejected_turns,
            }
        )
    return out


def _dpo_weights(prompt: Any, chosen: Any, rejected: Any, where: str) -> None:
    """OpenAI's ``weight`` in a preference row: 1 (or none) alone; trl trains each answer
    whole, and a prompt is context."""
    for name, value, wrong in (
        ("prompt", prompt, 1),
        ("chosen", chosen, 0),
        ("rejected", rejected, 0),
    ):
        weights = _turn_weights(value, where, name)
        if wrong in weights:
            what = (
                "a prompt is context, never trained"
                if wrong
                else "DPO trains each answer whole, so no turn of it can be left out"
            )
            raise InputError(
                f"{where}: '{name}' message {weights.index(wrong)} has 'weight' {wrong}, but "
                f"{what}: remove the field"
            )


def _answer(value: Any, name: str, where: str) -> list[Message]:
    """A preference answer's turns: the model's (assistant, and the tool results its calls
    get), opening with an assistant turn. trl trains what follows the rendered prompt: a
    user turn there was trained on as the answer."""
    turns = _as_turns(value, "assistant", where)
    wrong = next((i for i, t in enumerate(turns) if t["role"] not in ("assistant", "tool")), None)
    if turns[0]["role"] != "assistant" or wrong is not None:
        i = 0 if wrong is None else wrong
        raise InputError(
            f"{where}: '{name}' message {i} is a {turns[i]['role']!r} turn; an answer is the "
            "model's own turns (assistant, and tool results), opening with an assistant "
            "turn: move the other turns into 'prompt'"
        )
    return turns


def _said(turns: list[Message]) -> list[tuple[Any, Any, Any]]:
    """Each turn's role, content and tool calls: what an answer says, whatever else its
    turns carry. The calls too: two answers calling different functions (with empty
    content) were refused as the same answer, which `curagate audit` passes."""
    return [(t.get("role"), t.get("content"), t.get("tool_calls")) for t in turns]


def render(tok: PreTrainedTokenizerBase, messages: list[Message], gen_prompt: bool = False) -> str:
    from jinja2 import TemplateError

    try:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen_prompt)
    except (TemplateError, OverflowError, MemoryError, RecursionError) as e:
        # a template that raises, does not parse, or asks for too much (range(10**8)):
        # the model's files
        raise ConfigError(
            f"the base model's chat template cannot render a conversation ({type(e).__name__}: "
            f"{e}); fix chat_template.jinja (or 'chat_template' in tokenizer_config.json)"
        ) from None
    assert isinstance(text, str)
    return text


def require_chat_template(tok: PreTrainedTokenizerBase, model_dir: str) -> str:
    template = tok.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    if not template:
        raise ConfigError(
            f"{model_dir}: the tokenizer has no chat template (chat_template.jinja or "
            "'chat_template' in tokenizer_config.json); add the model's own template, "
            "curagate never falls back to a generic one"
        )
    return str(template)


def assistant_spans(
    tok: PreTrainedTokenizerBase,
    messages: list[Message],
    trained_from: int = 0,
    untrained: frozenset[int] = frozenset(),
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (from
    message ``trained_from`` on, but for those in ``untrained``: weight 0).

    A span runs from the end of the generation prompt to the end of the turn as
    the template writes it, so it covers the end-of-turn token.
    """
    full = render(tok, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or i < trained_from or i in untrained:
            continue
        start_text = render(tok, messages[:i], gen_prompt=True)
        end_text = render(tok, messages[: i + 1])
        if not (full.startswith(start_text) and full.startswith(end_text)) or len(end_text) <= len(
            start_text
        ):
            raise ConfigError(
                "the chat template does not render a conversation's turns as prefixes of the whole "
                "conversation (it rewrites earlier turns), so the assistant turns cannot be located; "
                "use a prefix-preserving template for training"
            )
        _require_tool_calls_rendered(m, end_text[len(start_text) :])
        spans.append((len(start_text), len(end_text)))
    return full, spans


def check_tool_calls_rendered(
    tok: PreTrainedTokenizerBase, messages: list[Message], where: str
) -> None:
    """Refuse an assistant turn whose tool calls the chat template leaves out, as SFT does
    (``assistant_spans``): DPO trained such calls as empty turns (in the answers) or as a
    context that never called the tool (in the prompt)."""
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or not _tool_call_names(m):
            continue
        start = render(tok, messages[:i], gen_prompt=True) if i else ""
        end = render(tok, messages[: i + 1])
        # A template that rewrites earlier turns: the turn is somewhere in the whole text.
        _require_tool_calls_rendered(m, end[len(start) :] if end.startswith(start) else end, where)


def _require_tool_calls_rendered(message: Message, turn_text: str, where: str = "") -> None:
    for name in _tool_call_names(message):
        if name not in turn_text:
            raise ConfigError(
                f"{where}{': ' if where else ''}the chat template does not render tool calls "
                f"(the call to {name!r} is missing from the rendered assistant turn), so the "
                "model would learn an empty turn; use the model's tool-calling template"
            )


def _tool_call_names(message: Message) -> list[str]:
    return [
        str(c["function"]["name"])
        for c in message.get("tool_calls") or []
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    ]


@dataclass
class Tokenized:
    examples: list[dict[str, list[int]]]
    truncated_before_end_of_turn: int = 0
    dropped_no_trained_tokens: int = 0
    assistant_turns: int = 0
    trained_end_of_turn: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[int] = field(default_factory=list)  # the conversations in ``examples``
    rendered: list[str] = field(default_factory=list)  # and their text as rendered


def end_of_turn_token(tok: PreTrainedTokenizerBase) -> tuple[str, int]:
    """The special token that ends an assistant turn, found by rendering a probe conversation.

    Raises ConfigError when the assistant span ends on plain text: a model
    trained that way never learns to stop.
    """
    probe = [
        {"role": "user", "content": "ping"},
        {"role": "assistant", "content": "pong"},
        {"role": "user", "content": "ping"},
    ]
    full, spans = assistant_spans(tok, probe)
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    start, end = spans[0]
    special = set(tok.all_special_ids) | set(tok.get_added_vocab().values())
    in_span = [
        tid
        for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
        if a >= start and b <= end and b > a
    ]
    for tid in reversed(in_span):
        if str(tok.decode([tid])).strip() == "":
            continue
        if tid in special:
            return str(tok.convert_ids_to_tokens(tid)), int(tid)
        break
    raise ConfigError(
        "the chat template does not close an assistant turn with a special end-of-turn token "
        f"(the turn ends on {tok.decode(in_span[-3:])!r}); the model would never learn to stop. "
        "Use a template that writes an end-of-turn token (e.g. <|im_end|>) after each assistant turn"
    )


def special_token_text(tok: PreTrainedTokenizerBase, texts: list[str]) -> tuple[int, str | None]:
    """How many texts spell out a special token (e.g. a literal "<|endoftext|>" in a completion).

    The tokenizer turns such text into the real control token, so the model
    learns to emit it mid-answer; it is nearly always a data bug.
    """
    specials = {t for t in [*tok.all_special_tokens, *tok.get_added_vocab()] if len(t) > 1}
    count, first = 0, None
    for text in texts:
        hit = next((t for t in specials if t in text), None)
        if hit is not None:
            count += 1
            first = first or hit
    return count, first


def tokenize_sft(
    tok: PreTrainedTokenizerBase,
    conversations: list[Conversation],
    max_length: int,
    eot_id: int,
) -> Tokenized:
    """input_ids + labels (-100 outside the trained assistant turns), truncated to max_length."""
    result = Tokenized(examples=[])
    for n, conv in enumerate(conversations):
        full, spans = assistant_spans(tok, conv.messages, conv.trained_from, conv.untrained)
        enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        labels = [IGNORE_INDEX] * len(ids)
        for k, (a, _) in enumerate(enc["offset_mapping"]):
            if any(s <= a < e for s, e in spans):
                labels[k] = ids[k]
        ids, labels = ids[:max_length], labels[:max_length]
        turns = len(spans)
        trained_eot = sum(
            1 for t, lab in zip(ids, labels, strict=True) if t == eot_id and lab == eot_id
        )
        result.assistant_turns += turns
        result.trained_end_of_turn += min(trained_eot, turns)
        if trained_eot < turns:
            result.truncated_before_end_of_turn += 1
        if all(lab == IGNORE_INDEX for lab in labels):
            result.dropped_no_trained_tokens += 1
            continue
        result.examples.append({"input_ids": ids, "labels": labels})
        result.kept.append(n)
        result.rendered.append(full)
    return result
