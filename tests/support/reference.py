"""Independent float64 numpy implementations of the recurrent layers, Keras' formulas and gate
order (LSTM i, f, c, o; GRU z, r, h), for checking the exact (double) build."""

import numpy as np


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_lstm(x, W, U, b):
    n = U.shape[0]
    h = np.zeros((x.shape[0], n))
    c = np.zeros((x.shape[0], n))
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W + h @ U + b
        i, f, g, o = _sig(z[:, :n]), _sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), _sig(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def np_gru(x, W, U, b, reset_after):
    n = U.shape[0]
    h = np.zeros((x.shape[0], n))
    bi, br = (b[0], b[1]) if reset_after else (b, np.zeros(3 * n))
    out = []
    for t in range(x.shape[1]):
        zx = x[:, t] @ W + bi
        if reset_after:
            zh = h @ U + br
            z, r = _sig(zx[:, :n] + zh[:, :n]), _sig(zx[:, n:2 * n] + zh[:, n:2 * n])
            hh = np.tanh(zx[:, 2 * n:] + r * zh[:, 2 * n:])
        else:
            z = _sig(zx[:, :n] + h @ U[:, :n])
            r = _sig(zx[:, n:2 * n] + h @ U[:, n:2 * n])
            hh = np.tanh(zx[:, 2 * n:] + (r * h) @ U[:, 2 * n:])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


def np_simple_rnn(x, W, U, b):
    h = np.zeros((x.shape[0], U.shape[0]))
    out = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out.append(h)
    return np.stack(out, 1)
