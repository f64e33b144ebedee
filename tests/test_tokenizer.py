import itertools
import random
import re
from pathlib import Path

import pytest

import nlp_apps
from nlp_apps.data.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    SentencePieceTokenizer,
    WordTokenizer,
    join_pair,
    load_tokenizer,
    train_tokenizer,
)
from nlp_apps.errors import DataError

ODD_LINES = [
    "Plain text, with punctuation; and CAPITALS!",
    "  two leading spaces and  double  spaces inside  ",
    "tabs\tbetween\twords",
    "Unicode: naïve café, Ελληνικά, 日本語, emoji 🙂",
    "",
    "digits 1234567 and symbols #@$%^&*()",
]


@pytest.fixture
def spm(tiny_corpus):
    return SentencePieceTokenizer.train(tiny_corpus[0], vocab_size=300)


def test_sentencepiece_round_trip_is_lossless(spm):
    for line in ODD_LINES:
        assert spm.decode(spm.encode(line)) == line


def test_sentencepiece_specials_and_save_load(spm, tmp_path):
    assert spm.vocab_size == 300
    assert spm.id_to_piece(EOS_ID) == "</s>"
    config = spm.save(tmp_path)
    again = load_tokenizer(tmp_path, config)
    assert again.encode(ODD_LINES[3]) == spm.encode(ODD_LINES[3])


def test_sentencepiece_too_large_vocab_is_a_data_error(tiny_corpus):
    with pytest.raises(DataError, match="tokenizer"):
        SentencePieceTokenizer.train(tiny_corpus[0], vocab_size=50_000)


def test_word_tokenizer_counts_and_unknowns(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("b a a <unk> c\na b a\n", encoding="utf-8")
    tok = WordTokenizer.train(corpus, vocab_size=6)
    assert tok.tokens == ["<pad>", "<unk>", "<s>", "</s>", "a", "b"]  # by frequency, capped at 6
    assert tok.encode("a c <unk> b") == [4, UNK_ID, UNK_ID, 5]
    assert tok.decode([4, 5]) == "a b"
    config = tok.save(tmp_path)
    assert load_tokenizer(tmp_path, config).tokens == tok.tokens


def test_word_tokenizer_rejects_non_utf8_with_line_number(tmp_path):
    corpus = tmp_path / "bad.txt"
    corpus.write_bytes(b"good line\nbad \xff\xfe line\n")
    with pytest.raises(DataError, match=r"bad.txt:2: not valid UTF-8"):
        WordTokenizer.train(corpus)


# ---- offsets -------------------------------------------------------------------------------

OFFSET_LINES = ODD_LINES + [
    "e\u0301 combining acute, \u0301 leading combining mark",
    "ZWJ family 👩\u200d👩\u200d👧 and flags 🇫🇷, astral 𝔘𝔫𝔦",
    "\u3000ideographic\u3000space, nbsp\u00a0here, ligature ﬁ",
    "\t\ttabs first, trailing tabs\t\t",
    " x",
    "   ",
    "a\r\nb\x00c\u2028d\x85e",
    "混合 text 日本語テキスト 한국어",
]
ODD_PARTS = ["a", "bc", "The", " ", "  ", "\t", "\n", ".", "é", "e\u0301", "日本", "🙂", "👩\u200d👧", "\u00a0", "\u3000", "ﬁ", "Ω", "7"]
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


def random_lines(count, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice(ODD_PARTS) for _ in range(rng.randint(1, 10))) for _ in range(count)]


def check_offsets(tok, text):
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(text) and len(spans) == len(ids)
    assert all(0 <= start <= end <= len(text) for start, end in spans), (text, spans)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(spans)), (text, spans)  # monotone
    for token_id, (start, end) in zip(ids, spans):
        if BYTE_PIECE.fullmatch(tok.id_to_piece(token_id)):
            assert end > start, "a byte piece covers its whole character"
    checked = 0
    for i in range(len(ids)):
        for j in range(i, len(ids)):
            decoded = tok.decode(ids[i : j + 1])
            if "\ufffd" in decoded:  # begins or ends inside a character spelled in bytes
                continue
            assert text[spans[i][0] : spans[j][1]] == decoded, (text, i, j)
            checked += 1
    return checked


@pytest.fixture
def shipped():
    return SentencePieceTokenizer((Path(nlp_apps.__file__).parent / "pretrained" / "default" / "tokenizer.model").read_bytes())


def test_sentencepiece_spans_are_the_exact_decoded_substrings(spm, shipped):
    for tok in (spm, shipped):
        checked = sum(check_offsets(tok, line) for line in OFFSET_LINES + random_lines(60))
        assert checked > 2000


def test_sentencepiece_span_rules_on_known_pieces(shipped):
    text = "Hello  world 日"
    ids, spans = shipped.encode_with_offsets(text)
    by_piece = [(shipped.id_to_piece(i), text[s:e], (s, e)) for i, (s, e) in zip(ids, spans)]
    assert ("▁world", "world", (7, 12)) in by_piece  # the space of the leading "▁" is not in the span
    assert ("▁", "", (6, 6)) in by_piece  # a lone "▁" (the second space) is empty, after its space
    assert [(p, sub) for p, sub, _ in by_piece if BYTE_PIECE.fullmatch(p)] == [("<0xE6>", "日"), ("<0x97>", "日"), ("<0xA5>", "日")]
    assert shipped.encode_with_offsets("") == ([], [])


def test_word_spans_are_the_split_words():
    tok = WordTokenizer(["<pad>", "<unk>", "<s>", "</s>", "naïve", "日本語", "x"])
    text = "  naïve\t日本語\u3000x\u00a0y\u2028\x1cz  "
    ids, spans = tok.encode_with_offsets(text)
    assert [text[s:e] for s, e in spans] == text.split() == ["naïve", "日本語", "x", "y", "z"]
    assert ids == tok.encode(text) == [4, 5, 6, UNK_ID, UNK_ID]
    assert tok.encode_with_offsets(" \t ") == ([], [])


# ---- special tokens --------------------------------------------------------------------------

def test_specials_and_pair_separator(spm, shipped, tmp_path):
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID) == (0, 1, 2, 3, 3)
    word = WordTokenizer.train(write(tmp_path / "c.txt", "a b </s> <s> <pad>\n"))
    for tok in (spm, shipped, word):
        assert [tok.id_to_piece(i) for i in range(4)] == list(SPECIAL_TOKENS)
        assert not {PAD_ID, BOS_ID, EOS_ID} & set(tok.encode("a </s> b <s> <pad> c"))  # text never makes a special
    assert shipped.vocab_size == 8000  # the separator took no new id
    assert join_pair([7, 8], [9]) == [7, 8, SEP_ID, 9]


# ---- vocabulary size a small corpus supports ---------------------------------------------------

@pytest.fixture
def small_corpus(tmp_path):
    rng = random.Random(0)
    words = ["river", "stone", "light", "quiet", "garden", "window", "paper", "north"]
    return write(tmp_path / "small.txt", "\n".join(" ".join(rng.choices(words, k=6)) for _ in range(200)) + "\n")


def test_too_large_vocab_names_the_largest_that_works(small_corpus):
    with pytest.raises(DataError) as err:
        SentencePieceTokenizer.train(small_corpus, vocab_size=5000)
    message = str(err.value)
    largest = int(re.search(r"the largest size this corpus supports is (\d+)", message).group(1))
    assert "\n" not in message and "trainer_interface" not in message and message.startswith(str(small_corpus))
    assert SentencePieceTokenizer.train(small_corpus, vocab_size=largest).vocab_size == largest
    with pytest.raises(DataError, match=f"supports is {largest}"):
        SentencePieceTokenizer.train(small_corpus, vocab_size=largest + 1)


def test_shrink_to_fit_trains_at_the_largest_size(small_corpus, tmp_path):
    fitted = SentencePieceTokenizer.train(small_corpus, vocab_size=5000, shrink_to_fit=True)
    assert 260 < fitted.vocab_size < 5000
    assert fitted.decode(fitted.encode("quiet garden")) == "quiet garden"
    assert train_tokenizer("sentencepiece", small_corpus, 5000, shrink_to_fit=True).vocab_size == fitted.vocab_size
    assert SentencePieceTokenizer.train(small_corpus, vocab_size=fitted.vocab_size - 5, shrink_to_fit=True).vocab_size == fitted.vocab_size - 5


def test_too_small_vocab_names_the_smallest(small_corpus):
    with pytest.raises(DataError, match=r"too small: this corpus needs at least \d+"):
        SentencePieceTokenizer.train(small_corpus, vocab_size=100)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path
