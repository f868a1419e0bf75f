"""Train the seq2seq example: an encoder-decoder that reverses a short sequence of symbols.

The encoder is a Bidirectional LSTM over the (zero-padded, masked) input; its final states start
the decoder LSTM, which reads the target shifted right (teacher forcing) and predicts the next
symbol at each timestep. Encoder and decoder take sequences of different lengths.

    python examples/seq2seq/train.py   # writes reverse.keras and held_inputs.npz beside this file
    kerasc verify examples/seq2seq/reverse.keras --inputs examples/seq2seq/held_inputs.npz
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SYMBOLS = 6  # 0: padding, 1: start, 2..5: the symbols to reverse
T_IN, T_OUT, UNITS = 7, 6, 16


def make_batch(rng, n):
    enc = np.zeros((n, T_IN, SYMBOLS), np.float32)
    dec = np.zeros((n, T_OUT, SYMBOLS), np.float32)
    target = np.zeros((n, T_OUT), np.int64)
    for k in range(n):
        length = rng.integers(3, T_OUT + 1)
        seq = rng.integers(2, SYMBOLS, length)
        enc[k, np.arange(length), seq] = 1.0  # timesteps after `length` stay zero: masked
        rev = seq[::-1]
        target[k, :length] = rev
        shifted = np.concatenate([[1], rev[:-1]])
        dec[k, np.arange(length), shifted] = 1.0
    return enc, dec, target


def build():
    L = keras.layers
    enc_in = keras.Input((None, SYMBOLS), name="encoder_in")
    dec_in = keras.Input((None, SYMBOLS), name="decoder_in")
    masked = L.Masking(0.0, name="padding")(enc_in)
    _, fh, fc, bh, bc = L.Bidirectional(L.LSTM(UNITS, return_state=True), name="encoder")(masked)
    h = L.Concatenate(name="h0")([fh, bh])
    c = L.Concatenate(name="c0")([fc, bc])
    y = L.LSTM(2 * UNITS, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    probs = L.TimeDistributed(L.Dense(SYMBOLS, activation="softmax"), name="next_symbol")(y)
    return keras.Model([enc_in, dec_in], probs, name="reverse")


def main():
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    enc, dec, target = make_batch(rng, 3000)
    enc_v, dec_v, target_v = make_batch(rng, 300)
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([enc, dec], target, batch_size=64, epochs=12, validation_data=([enc_v, dec_v], target_v), verbose=2)
    print("validation accuracy:", model.evaluate([enc_v, dec_v], target_v, verbose=0)[1])
    model.save(HERE / "reverse.keras")
    np.savez(HERE / "held_inputs.npz", encoder_in=enc_v[:8], decoder_in=dec_v[:8])


if __name__ == "__main__":
    main()
