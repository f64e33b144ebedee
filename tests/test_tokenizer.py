import pytest

from nlp_apps.data.tokenizer import EOS_ID, UNK_ID, SentencePieceTokenizer, WordTokenizer, load_tokenizer
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
