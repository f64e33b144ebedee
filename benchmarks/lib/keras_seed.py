"""The seed's Keras recipe: Embedding 128 -> SimpleRNN 128 -> Dense(vocab, softmax), windows of
100 tokens predicting the next one, batch 128, adam. Run by side_by_side.py in its own process:

    python -m benchmarks.lib.keras_seed TRAIN.npy VALID.npy VOCAB SECONDS   -> prints one JSON line

The validation perplexity is the mean next-token loss over a fixed sample of validation windows.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

WINDOW, BATCH = 100, 128


def windows(ids: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = index[:, None] + np.arange(WINDOW)[None, :]
    return ids[offsets], ids[index + WINDOW]


def pin_threads(backend: str) -> int | None:
    """Give the backend as many threads as the torch rows get (side_by_side passes OMP_NUM_THREADS)."""
    threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or None
    if threads and backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    elif threads and backend == "torch":
        import torch

        torch.set_num_threads(threads)
    return threads


def main(train_path: str, valid_path: str, vocab: int, seconds: float) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    threads = pin_threads(keras.backend.backend())

    train, valid = np.load(train_path).astype(np.int32), np.load(valid_path).astype(np.int32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(WINDOW,), dtype="int32"),
            keras.layers.Embedding(vocab, 128),
            keras.layers.SimpleRNN(128),
            keras.layers.Dense(vocab, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    starts = rng.permutation(len(train) - WINDOW)
    predictions, begin = 0, time.perf_counter()
    for first in range(0, len(starts), BATCH):
        x, y = windows(train, starts[first : first + BATCH])
        model.train_on_batch(x, y)
        predictions += len(y)
        if time.perf_counter() - begin >= seconds:
            break
    train_seconds = time.perf_counter() - begin
    sample = np.random.default_rng(1).choice(len(valid) - WINDOW, size=min(20_000, len(valid) - WINDOW), replace=False)
    x, y = windows(valid, sample)
    loss = model.evaluate(x, y, batch_size=512, verbose=0)
    print(json.dumps({
        "predictions": predictions,
        "train_seconds": train_seconds,
        "predictions_per_s": predictions / train_seconds,
        "valid_ppl": math.exp(loss),
        "backend": keras.backend.backend(),
        "threads": threads,
        "keras": keras.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
