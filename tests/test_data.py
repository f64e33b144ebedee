import numpy as np
import pytest

from nlp_apps.data.batching import BPTTBatcher, bucket_batches, evaluation_rows, pad_sequences
from nlp_apps.data.token_files import encode_corpus, open_token_file, scan_corpus
from nlp_apps.data.tokenizer import EOS_ID, WordTokenizer
from nlp_apps.errors import DataError


def test_bptt_batches_walk_rows_and_shift_targets():
    tokens = np.arange(100, 124)  # 24 tokens, 4 rows of 6
    batcher = BPTTBatcher(tokens, batch_size=4, bptt=2, variable_length=False, bidirectional=True)
    first = batcher.next_batch()
    x, y = first["forward"]
    assert x.tolist() == [[100, 101], [106, 107], [112, 113], [118, 119]]
    assert y.tolist() == [[101, 102], [107, 108], [113, 114], [119, 120]]
    bx, by = first["backward"]
    assert bx.tolist()[0] == [123, 122] and by.tolist()[0] == [122, 121]  # the reversed stream
    seen = [first] + list(iter(batcher.next_batch, None))
    assert sum(b["forward"][0].shape[1] for b in seen) == 5  # columns 0..4 feed targets 1..5
    assert batcher.steps_per_epoch() == 2


def test_bptt_state_round_trip_gives_the_same_next_batch():
    tokens = np.arange(2000)
    a = BPTTBatcher(tokens, batch_size=3, bptt=20, seed=5)
    a.next_batch()
    state = a.state_dict()
    expected = a.next_batch()["forward"][0]
    b = BPTTBatcher(tokens, batch_size=3, bptt=20, seed=99)
    b.load_state_dict(state)
    assert b.next_batch()["forward"][0].equal(expected)


def test_evaluation_rows_predict_every_token_once():
    tokens = np.arange(10, 33)  # 23 tokens
    parts = evaluation_rows(tokens, batch_size=4)
    targets = np.concatenate([p[:, 1:].reshape(-1) for p in parts])
    assert sorted(targets.tolist()) == list(range(10, 33))
    assert parts[0][0, 0] == EOS_ID


def test_encode_corpus_streams_to_a_token_file(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\nb c a\n", encoding="utf-8")
    tok = WordTokenizer.train(corpus)
    stats = encode_corpus(corpus, tok, tmp_path / "c.tokens", chunk_lines=1)
    assert (stats.tokens, stats.lines, stats.words) == (7, 2, 5)
    ids, again = open_token_file(tmp_path / "c.tokens")
    assert again == stats
    assert ids.tolist() == tok.encode("a b") + [EOS_ID] + tok.encode("b c a") + [EOS_ID]


@pytest.mark.parametrize(
    "content,problem",
    [(b"", "empty"), (b"\n  \n\t\n", "empty"), (b"ok\n\xc3\x28 broken\n", "c.txt:2: not valid UTF-8")],
)
def test_scan_corpus_rejects_bad_corpora(tmp_path, content, problem):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(content)
    with pytest.raises(DataError, match=problem):
        scan_corpus(corpus)


def test_scan_corpus_rejects_missing_files_and_directories(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        scan_corpus(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        scan_corpus(tmp_path)


def test_padding_and_buckets():
    tokens, lengths = pad_sequences([[5, 6, 7], [8]])
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = list(bucket_batches(lengths, 3, shuffle=True, generator=np.random.default_rng(0)))
    assert sorted(i for b in batches for i in b) == list(range(7))
    for batch in batches:
        assert [lengths[i] for i in batch] == sorted(lengths[i] for i in batch)
