"""The llama.cpp pre-tokenizer of a GGUF export, and llama.cpp's tokenization checked
against the Hugging Face tokenizer (real llama.cpp, from the gguf-verify extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from curagate.errors import CheckFailed, InputError
from curagate.export.gguf_q8 import write_gguf_file
from curagate.export.gguf_tokenizer import (
    PreTokenizer,
    determine_pre_tokenizer,
    verify_tokenization,
)
from tests.tiny_llama import CHATML, save_tiny_llama

pytestmark = pytest.mark.slow  # trains tokenizers and loads llama.cpp (seconds)

# The Llama 3 split regex, as in Meta-Llama-3's tokenizer.json.
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CORPUS = [
    "it's 100% worth it, isn't it? he's sure it's fine.",
    "Order #987654 ships today; order #123456 ships tomorrow.",
    "the cat's toy is red and the dog's bowl is 42 cm wide.",
] * 20


def tokenizer(pre_tokenizer: Any, *, ignore_merges: bool = False, normalizer: Any = None) -> Any:
    """A byte-level BPE tokenizer trained here (a vocabulary no table knows) with a ChatML
    template, around the given pre-tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tk.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tk.normalizer = normalizer
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(CORPUS, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<|im_end|>")
    tok.chat_template = CHATML
    return tok


def gpt2() -> Any:
    from tokenizers import pre_tokenizers as p

    return p.ByteLevel(add_prefix_space=False, use_regex=True)


def llama3() -> Any:
    from tokenizers import Regex
    from tokenizers import pre_tokenizers as p

    return p.Sequence(
        [
            p.Split(Regex(LLAMA3), behavior="isolated", invert=False),
            p.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )


def smollm() -> Any:
    from tokenizers import pre_tokenizers as p

    return p.Sequence(
        [
            p.Digits(individual_digits=True),
            p.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )


@pytest.mark.parametrize(
    ("build", "ignore_merges", "name"),
    [(gpt2, False, "gpt-2"), (llama3, True, "llama-bpe"), (smollm, False, "smollm")],
)
def test_a_new_vocabulary_is_mapped_by_its_pre_tokenizer_pieces(
    build: Any, ignore_merges: bool, name: str
) -> None:
    pre = determine_pre_tokenizer(tokenizer(build(), ignore_merges=ignore_merges), Path("tok"))
    assert pre.name == name
    assert pre.determined_by == "pre-tokenizer pieces of llama.cpp's check string"


def test_the_llama3_regex_without_ignore_merges_is_not_llama_bpe() -> None:
    # Same pieces, but llama.cpp's llama-bpe skips merges for whole-word tokens: not the same.
    with pytest.raises(InputError, match=r"cannot determine the llama\.cpp pre-tokenizer"):
        determine_pre_tokenizer(tokenizer(llama3(), ignore_merges=False), Path("tok"))


def test_an_unknown_pre_tokenizer_or_a_normalizer_is_refused() -> None:
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers as p

    punct = p.Sequence([p.Punctuation(), gpt2()])
    with pytest.raises(InputError, match=r"tok: cannot determine .* match none of gpt-2"):
        determine_pre_tokenizer(tokenizer(punct), Path("tok"))
    with pytest.raises(InputError, match="has a normalizer"):
        determine_pre_tokenizer(tokenizer(gpt2(), normalizer=normalizers.NFKC()), Path("tok"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama whose vocabulary merges across the places "default" splits (it / 's)."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", tokenizer(gpt2()))


def test_the_right_pre_tokenizer_gives_identical_tokens_in_llama_cpp(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    pre = determine_pre_tokenizer(tok, model_dir)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "it's <|im_end|> 100%"}], tokenize=False
    )
    path = write_gguf_file(model_dir, tok, pre)
    record = verify_tokenization(path, tok, [prompt], pre)
    # Written by hand: the 19 built-in parity strings plus the one prompt given.
    assert record["strings"] == 20
    # verify_tokenization writes identical_token_ids=True whenever it returns, so that
    # field proves nothing; tokenize here, through llama.cpp directly, what it compared.
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        for text in ["it's 100% worth it", "Order #987654 ships today.", prompt]:
            ours = llm.tokenize(text.encode(), add_bos=False, special=True)
            assert ours == tok(text, add_special_tokens=False)["input_ids"], text
        # GPT-2's regex splits it / 's, and this vocabulary merges "'s" (llama.cpp's
        # "default" pre-tokenizer would cut it / ' / s).
        pieces = tok.convert_ids_to_tokens(llm.tokenize(b"it's", add_bos=False, special=False))
        assert pieces == ["it", "'s"]
    finally:
        llm.close()


def test_the_old_default_pre_tokenizer_fails_on_the_first_differing_string(
    model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from transformers import AutoTokenizer

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    tok = AutoTokenizer.from_pretrained(copy)
    assert "'s" in tok.convert_ids_to_tokens(tok("it's")["input_ids"])
    wrong = PreTokenizer(name="default", determined_by="written as before this fix", sha256="")
    path = write_gguf_file(copy, tok, wrong)
    with pytest.raises(CheckFailed) as failed:
        verify_tokenization(path, tok, [], wrong)
    message = str(failed.value)
    # llama.cpp's "default" cuts it / ' / s: the first parity string already differs.
    assert '"it\'s 100% worth it" (special tokens parsed): Hugging Face [' in message
    assert "!= llama.cpp [" in message
    assert "tokenizer.ggml.pre 'default'" in message


def test_smollm2_pre_tokenizer_is_smollm_and_an_imported_copy_is_mapped_as_it_splits() -> None:
    import gguf
    from transformers import AutoTokenizer

    from curagate.train.gguf_import import packaged_gguf

    upstream = packaged_gguf()  # SmolLM2-135M-Instruct as published, written by llama.cpp
    assert gguf.GGUFReader(upstream).fields["tokenizer.ggml.pre"].contents() == "smollm"
    # transformers rebuilds the tokenizer from the GGUF (as `model import-gguf` does) with
    # GPT-2's regex only: llama.cpp's table says smollm for its ids, its pieces say gpt-2.
    imported = AutoTokenizer.from_pretrained(upstream.parent, gguf_file=upstream.name)
    pre = determine_pre_tokenizer(imported, upstream)
    assert pre.name == "gpt-2"
    assert "hash table says 'smollm'" in pre.determined_by
    # Why the pieces win: llama.cpp's smollm splits numerals off, this tokenizer does not.
    with pytest.raises(CheckFailed, match="½"):
        verify_tokenization(upstream, imported, [], pre)

    # SmolLM2's own tokenizer.json splits digits first: both routes say smollm, and the
    # upstream GGUF tokenizes every parity string like it.
    imported.backend_tokenizer.pre_tokenizer = smollm()
    pre = determine_pre_tokenizer(imported, upstream)
    assert (pre.name, pre.reference) == ("smollm", "HuggingFaceTB/SmolLM-135M")
    assert pre.determined_by.startswith("llama.cpp converter hash of the token ids")
    verify_tokenization(upstream, imported, [], pre)  # raises CheckFailed on any difference
    # Its record says identical_token_ids=True whenever it returns: check the numerals that
    # made the gpt-2 mapping fail through llama.cpp directly.
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(upstream), vocab_only=True, verbose=False)
    try:
        text = "3 33 333 3333 33333 3.14159 ½ ²"
        ours = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert ours == imported(text, add_special_tokens=False)["input_ids"]
    finally:
        llm.close()
