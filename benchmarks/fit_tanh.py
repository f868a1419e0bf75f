"""Derive the rational tanh used by kc_runtime.h (kc__tanh_rational) and print its coefficients.

tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9, P and Q of degree 4, Q(0) = P(0) = 1, fitted for the
smallest maximum relative error by Lawson's iteratively reweighted least squares (numpy only).
Beyond 9, tanh rounds to +-1 within 6e-8, so the runtime clamps x to [-9, 9] first.

The coefficients are rounded to float32 and printed as C literals (%.9g). The error of the
float32 evaluation is measured by tests/parity/test_fast_tanh_sigmoid.py; this script only designs them.
usage: python benchmarks/fit_tanh.py
"""

import numpy as np

CLAMP, DEG_P, DEG_Q = 9.0, 4, 4


def fit(deg_p: int, deg_q: int, clamp: float, iters: int = 100, npts: int = 6000):
    k = np.arange(npts)
    x = np.concatenate([clamp * 0.5 * (1 - np.cos(np.pi * (k + 0.5) / npts)), np.linspace(1e-4, clamp, npts)])
    s = np.sort(x) ** 2
    xs = np.sqrt(s)
    f = np.tanh(xs) / xs  # target: tanh(x) / x as a function of s = x^2
    S = s / clamp ** 2  # scaled for a well-conditioned solve
    w = np.full(len(s), 1.0 / len(s))
    q_prev = np.ones_like(s)
    best = None
    for _ in range(iters):
        cols = [S ** j for j in range(deg_p + 1)] + [-f * S ** j for j in range(1, deg_q + 1)]
        A = np.stack(cols, 1)
        scale = np.sqrt(w) / (f * q_prev)  # relative error, linearised around the previous Q
        coef, *_ = np.linalg.lstsq(A * scale[:, None], f * scale, rcond=None)
        p, q = coef[:deg_p + 1], np.concatenate([[1.0], coef[deg_p + 1:]])
        P = sum(p[j] * S ** j for j in range(deg_p + 1))
        Q = sum(q[j] * S ** j for j in range(deg_q + 1))
        err = (P / Q - f) / f
        if best is None or np.abs(err).max() < best[0]:
            best = (np.abs(err).max(), p.copy(), q.copy())
        q_prev = Q
        w = w * np.abs(err) + 1e-300  # Lawson: weight the worst points up
        w /= w.sum()
    e, p, q = best
    # back to powers of s, then normalise P(0) = 1 (Q(0) is 1 by construction; P(0) ~ 1)
    ps = np.array([p[j] / clamp ** (2 * j) for j in range(deg_p + 1)])
    qs = np.array([q[j] / clamp ** (2 * j) for j in range(deg_q + 1)])
    return e, ps, qs


def main() -> None:
    e, ps, qs = fit(DEG_P, DEG_Q, CLAMP)
    print(f"max relative error of the fit in exact arithmetic: {e:.3e}")
    for name, cs in (("P", ps), ("Q", qs)):
        for j, c in enumerate(cs):
            print(f"{name}{j} = {'%.9g' % np.float32(c)}f")


if __name__ == "__main__":
    main()
