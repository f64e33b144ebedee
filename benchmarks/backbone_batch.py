"""Pretraining throughput of the default backbone's shape at several batch shapes, one run, one thread.

The shipped backbones share one shape (bidirectional LSTM, 2 layers, 512 hidden, 256 tied embedding,
8,000 pieces); gutenberg-v1 was pretrained with batches of 32 x 35 tokens, backbone v2 with 32 x 70.
Larger batches keep the matmuls busier: each row trains that shape from scratch for the same minutes
(SGD lr 20, as both backbones were) and reports tokens/s (both reading directions counted, as
`nlp-apps pretrain` counts them) and the achieved FLOP/s as a fraction of the fp32 matmul ceiling
measured in the same run. The text is Wikipedia (`wikipedia-2018-part/valid.txt`, encoded with the
default backbone's tokenizer): what is measured is speed, so any text of the mix serves.

    OMP_NUM_THREADS=1 python -m benchmarks.backbone_batch [--minutes 3] [--shapes 32x35,32x70,64x70]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.lib.flops import matmul_ceiling_gflops
from benchmarks.lib.results import report, shared_data
from benchmarks.side_by_side import run_ours
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR, load_model_tokenizer, read_config

SHIPPED = {"32x35": "gutenberg-v1's", "32x70": "backbone v2's"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes per batch shape")
    parser.add_argument("--shapes", default="32x35,32x70,64x70", help="comma-separated ROWSxBPTT")
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in shape.split("x")) for shape in args.shapes.split(",")]
    wikipedia = shared_data("wikipedia-2018-part")
    tokenizer = load_model_tokenizer(DEFAULT_MODEL_DIR)
    arch = dict(read_config(DEFAULT_MODEL_DIR)["backbone"])
    vocab = arch.pop("vocab_size")
    train_ids, _ = encode_corpus_in_memory(wikipedia / "valid.txt", tokenizer)
    work = Path(tempfile.mkdtemp(prefix="backbone_batch_"))
    valid_file = work / "valid.txt"
    valid_file.write_text("".join((wikipedia / "test.txt").read_text(encoding="utf-8").splitlines(keepends=True)[:200]), encoding="utf-8")
    valid_ids, valid_words = encode_corpus_in_memory(valid_file, tokenizer)
    ceiling_before = matmul_ceiling_gflops()
    print(f"fp32 matmul ceiling: {ceiling_before:.1f} GFLOP/s ({torch.get_num_threads()} threads)", file=sys.stderr)
    rows = []
    for rows_per_batch, bptt in shapes:
        shape = f"{rows_per_batch}x{bptt}"
        name = f"default shape, batch {shape}" + (f" ({SHIPPED[shape]} pretraining)" if shape in SHIPPED else "")
        recipe = dict(batch_size=rows_per_batch, bptt=bptt, optimizer="sgd", lr=20.0)
        row = run_ours(name, arch, recipe, train_ids, valid_ids, valid_words, vocab, args.minutes * 60, work / shape)
        row.pop("valid_ppl")  # a few minutes on 0.3M tokens: not a perplexity worth reporting
        rows.append(row)
    ceiling = max(ceiling_before, matmul_ceiling_gflops())
    for row in rows:
        row["fraction_of_fp32_matmul"] = round(row["tokens_per_s"] * row["flops_per_token"] / (ceiling * 1e9), 3)
        row["tokens_per_s"] = round(row["tokens_per_s"], 1)
        row.update(minutes=args.minutes, threads=torch.get_num_threads(), ceiling_gflops=round(ceiling, 1))
    rows[-1]["notes"] = ("Tokens/s count both reading directions; FLOPs per token are one direction's (gates of every layer "
                         "plus the tied softmax), forward and backward passes. Ceiling: the best square fp32 GEMM rate "
                         "measured before and after the rows, same threads.")
    report("backbone_batch", rows)


if __name__ == "__main__":
    main()
