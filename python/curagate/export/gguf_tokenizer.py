"""Which llama.cpp pre-tokenizer a GGUF must name, and proof that llama.cpp then tokenizes
exactly like the Hugging Face tokenizer the model was trained with.

Why: a GGUF stores the vocabulary and merges but not the regex that splits text before
BPE; llama.cpp picks that regex from ``tokenizer.ggml.pre``. With the wrong name (the
``default`` this writer used to write) llama.cpp splits "it's" as ``it / ' / s`` where the
model saw ``it / 's``, and serves a model that reads text it was never trained on.
transformers ignores that field when it reloads a GGUF, so only llama.cpp itself can check.

The name is found as llama.cpp's converter (``convert_hf_to_gguf.py``,
``get_vocab_base_pre``) finds it: the sha256 of the token ids of its check string, looked
up in the converter's table. That hash depends on the vocabulary, so a tokenizer trained
from scratch is in no table; and it cannot tell a pre-tokenizer from a look-alike whose
vocabulary happens to agree on the check string. So the pieces the tokenizer's own
pre-tokenizer cuts the same string into (independent of the vocabulary) are compared with
those of the pre-tokenizers llama.cpp implements too, and decide when they are known. If
neither route names one, ``--gguf`` is refused rather than written to mis-tokenize.
Whatever the route, every written GGUF is then tokenized by llama.cpp on
:data:`PARITY_STRINGS` and the prompts, and must give the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed, InputError, MissingExtraError

VERIFY_EXTRA = "gguf-verify"

# llama.cpp's check string (convert_hf_to_gguf.py, ``chktxt``), byte for byte: the
# hashes below are of ``str(tokenizer.encode(CHKTXT))``.
CHKTXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天\uff5e ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not "
    "sure I'll make it, 'D you like some tea? We'Ve a'lL"
)

# Hash of the token ids -> ``tokenizer.ggml.pre``, from llama.cpp's converter table
# (the entries for models Hugging Face loads as model_type "llama" with a BPE
# tokenizer, which is all this writer converts; "gpt-2" for GPT-2's own tokenizer).
LLAMA_CPP_CHKHSH: dict[str, tuple[str, str]] = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": (
        "llama-bpe",
        "meta-llama/Meta-Llama-3-8B",
    ),
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": (
        "smollm",
        "HuggingFaceTB/SmolLM-135M",
    ),
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": (
        "gpt-2",
        "openai-community/gpt2",
    ),
    "049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754": (
        "deepseek-llm",
        "deepseek-ai/deepseek-llm-7b-base",
    ),
    "347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821": (
        "deepseek-coder",
        "deepseek-ai/deepseek-coder-6.7b-base",
    ),
    "9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e": (
        "falcon3",
        "tiiuae/Falcon3-7B-Base",
    ),
    "c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d": (
        "smaug-bpe",
        "abacusai/Smaug-Llama-3-70B-Instruct",
    ),
    "7fc505bd3104ca1083b150b17d088b59534ede9bde81f0dd2090967d7fe52cee": (
        "viking",
        "LumiOpen/Viking-7B",
    ),
    "d4c8f286ea6b520b3d495c4455483cfa2302c0cfcd4be05d781b6a8a0a7cdaf1": (
        "megrez",
        "Infinigence/Megrez-3B-Instruct",
    ),
    "1994ffd01900cfb37395608534236ecd63f2bd5995d6cb1004dda1af50240f15": (
        "trillion",
        "trillionlabs/Trillion-7B-preview",
    ),
    "1431a23e583c97432bc230bff598d103ddb5a1f89960c8f1d1051aaa944d0b35": (
        "minerva-7b",
        "sapienzanlp/Minerva-7B-base-v1.0",
    ),
}

# sha256 of the pieces ``pre_tokenizer.pre_tokenize_str(CHKTXT)`` returns (a tokenizer
# without a normalizer) -> the llama.cpp pre-tokenizer with the same regexes. Measured
# with the tokenizers library on the Hugging Face definitions (tests rebuild them):
# gpt-2: ByteLevel(use_regex=True); llama-bpe: Split(Llama 3 regex) + ByteLevel(no
# regex); smollm: Digits(individual) + ByteLevel(use_regex=True). The BPE option
# ``ignore_merges`` is part of the behaviour: llama.cpp sets it for llama-bpe only.
PIECES_HASH: dict[str, tuple[str, bool]] = {
    "a6eae632eb0d7c48749bf3a7e91478ac15f141f58123b0373abdbaab74f41d2e": ("gpt-2", False),
    "9b97b82de92d8232a895cbc06a17cb1d3268627983e100e4eec8954e7b126658": ("llama-bpe", True),
    "06f4ab558ff99a575227293b61c12e109e54398647aa97d364d947ba91fce059": ("smollm", False),
}

# Tokenized by llama.cpp and by the Hugging Face tokenizer on every GGUF export:
# contractions, numbers, punctuation runs, code, whitespace runs, scripts with and
# without spaces, emoji sequences, and special-token text.
PARITY_STRINGS: tuple[str, ...] = (
    "it's 100% worth it",
    "Order #987654 ships on 2024-03-15, total $1,299.99 (incl. 20% VAT).",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL; they'd've said so.",
    "Réponds en français, s'il te plaît. Übergrößenträger, naïve café.",
    "3 33 333 3333 33333 333333 3.14159 1e-9 0x1F -42 +7 ½ ²",
    'def f(x):\n    return {"k": x ** 2}  # square\n\tif (a != b) { c += 1; } // done',
    "SELECT id, name FROM users WHERE age >= 18 AND email LIKE '%@example.com';",
    "我想在apple工作1314151天\uff5e机器学习模型需要高质量的数据。",
    "日本語のテキストをトークン化します。カタカナとひらがな、漢字。",
    "مرحبا بالعالم، هذا اختبار للترميز ١٢٣.",
    "нещо на Български, и немного по-русски.",
    "कृत्रिम बुद्धिमत्ता और កាន់តែពិសេសអាច",
    "🚀 (normal) 😶\u200d🌫️ ✅ 🦙🦙 👍🏽 🇫🇷 👨\u200d👩\u200d👧",
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \nend",
    "  leading and trailing  ",
    "a    b\r\nc\r\n\r\nd\u00a0e\u2009f",
    "------======= ''''''```````\"\"\"\"......!!!!!!??????",
    "https://example.com/path?q=1&r=two#frag user@example.org",
    CHKTXT,
)


@dataclass(frozen=True)
class PreTokenizer:
    """The ``tokenizer.ggml.pre`` to write and how it was determined (for MANIFEST.json)."""

    name: str
    determined_by: str
    sha256: str
    reference: str | None = None

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "determined_by": self.determined_by,
            "sha256": self.sha256,
        }
        if self.reference is not None:
            out["reference"] = self.reference
        return out


def _sha256(value: object) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()


def _pieces_name(tok: Any) -> tuple[str | None, str, str]:
    """(llama.cpp name or None, pieces hash, why not) from the tokenizer's own pre-tokenizer."""
    backend = getattr(tok, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if backend is None or pre is None:
        return None, "", "it has no pre-tokenizer to compare"
    if backend.normalizer is not None:
        return None, "", "it has a normalizer, which llama.cpp's BPE pre-tokenizers do not apply"
    pieces_hash = _sha256([piece for piece, _ in pre.pre_tokenize_str(CHKTXT)])
    match = PIECES_HASH.get(pieces_hash)
    if match is not None and match[1] == bool(getattr(backend.model, "ignore_merges", False)):
        return match[0], pieces_hash, ""
    known = ", ".join(sorted({n for n, _ in PIECES_HASH.values()}))
    return (
        None,
        pieces_hash,
        f"its pre-tokenizer pieces (hash {pieces_hash[:12]}…) match none of {known}",
    )


def determine_pre_tokenizer(tok: Any, source: Path) -> PreTokenizer:
    """The llama.cpp pre-tokenizer of ``tok``, or InputError (exit 2) when it is unknown.

    When both routes answer and disagree, the pieces win: they are how *this* tokenizer
    splits text. That happens with a base imported from a GGUF: transformers rebuilds
    SmolLM2's tokenizer with GPT-2's regex only (no digit split), so llama.cpp's table
    says ``smollm`` for its ids while the model was fine-tuned on ``gpt-2`` pieces; they
    differ on numerals such as " ½" after a space.
    """
    chkhsh = _sha256(tok.encode(CHKTXT))
    table = LLAMA_CPP_CHKHSH.get(chkhsh)
    by_pieces, pieces_hash, why_not = _pieces_name(tok)
    if by_pieces is not None:
        if table is not None and table[0] == by_pieces:
            how = "llama.cpp converter hash of the token ids of its check string, and its pre-tokenizer pieces"
        elif table is not None:
            how = (
                f"pre-tokenizer pieces of llama.cpp's check string (llama.cpp's hash table says "
                f"{table[0]!r}, the pre-tokenizer of {table[1]}, which this tokenizer does not have)"
            )
        else:
            how = "pre-tokenizer pieces of llama.cpp's check string"
        return PreTokenizer(
            name=by_pieces,
            determined_by=how,
            sha256=pieces_hash,
            reference=table[1] if table is not None and table[0] == by_pieces else None,
        )
    if table is not None:
        return PreTokenizer(
            name=table[0],
            determined_by="llama.cpp converter hash of the token ids of its check string",
            sha256=chkhsh,
            reference=table[1],
        )
    raise InputError(
        f"{source}: cannot determine the llama.cpp pre-tokenizer of this tokenizer (the "
        f"token-id hash {chkhsh[:12]}… is not in llama.cpp's table; {why_not}); a GGUF with a "
        "guessed one would tokenize text differently from the model: export without --gguf "
        "and convert with llama.cpp's convert_hf_to_gguf.py once it knows this tokenizer"
    )


def require_llama_cpp() -> None:
    """Fail before any work when the verifier is missing: an unverified GGUF is not written."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as e:
        raise MissingExtraError(VERIFY_EXTRA, "llama-cpp-python") from e


def _diff(strings: Sequence[tuple[str, list[int], list[int]]]) -> str | None:
    for label, hf, ll in strings:
        if hf != ll:
            return f"{label}: Hugging Face {hf} != llama.cpp {ll}"
    return None


def verify_tokenization(
    path: Path, tok: Any, prompts: Sequence[str], pre: PreTokenizer
) -> dict[str, Any]:
    """Tokenize :data:`PARITY_STRINGS` and the rendered prompts with llama.cpp reading the
    GGUF and with ``tok``; CheckFailed naming the first string that differs."""
    try:
        import llama_cpp
    except ImportError as e:
        raise MissingExtraError(VERIFY_EXTRA, "llama-cpp-python") from e

    try:
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as e:
        raise CheckFailed(
            f"{path}: llama.cpp {llama_cpp.__version__} cannot load the GGUF vocabulary "
            f"(tokenizer.ggml.pre {pre.name!r}): {e}"
        ) from None
    try:
        compared: list[tuple[str, list[int], list[int]]] = []
        for text in [*PARITY_STRINGS, *prompts]:
            data = text.encode("utf-8")
            # Special-token text is parsed as specials (chat prompts) and, when special
            # parsing is off, as plain text: both must agree.
            compared.append(
                (
                    f"{text!r} (special tokens parsed)",
                    list(tok(text, add_special_tokens=False)["input_ids"]),
                    list(llm.tokenize(data, add_bos=False, special=True)),
                )
            )
            compared.append(
                (
                    f"{text!r} (special tokens as text)",
                    list(
                        tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
                    ),
                    list(llm.tokenize(data, add_bos=False, special=False)),
                )
            )
        # BOS/EOS added around a plain request, as llama-server does on a completion.
        compared.append(
            (
                f"{PARITY_STRINGS[0]!r} (with the tokenizer's BOS/EOS)",
                list(tok(PARITY_STRINGS[0])["input_ids"]),
                list(llm.tokenize(PARITY_STRINGS[0].encode(), add_bos=True, special=True)),
            )
        )
        template = llm.metadata.get("tokenizer.chat_template")
        file_pre = llm.metadata.get("tokenizer.ggml.pre")
    finally:
        llm.close()
    problem = _diff(compared)
    if problem is not None:
        raise CheckFailed(
            f"{path}: llama.cpp tokenizes differently from the model's tokenizer "
            f"(tokenizer.ggml.pre {file_pre!r}; determined by {pre.determined_by}): {problem}; "
            "the GGUF was not written"
        )
    if template != tok.chat_template:
        raise CheckFailed(
            f"{path}: llama.cpp reads a chat template that differs from the bundle's; "
            "the GGUF was not written"
        )
    return {
        "pre_tokenizer": pre.record(),
        "tokenized_with": f"llama-cpp-python {llama_cpp.__version__} (vocab_only)",
        "strings": len(PARITY_STRINGS) + len(prompts),
        "identical_token_ids": True,
    }
