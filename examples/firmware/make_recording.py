"""Write recording.h: the first held-out recording of the demo (examples/demo/held_inputs.npy)
as a C table, so the firmware example streams real data and its output can be checked against Keras.

    python examples/firmware/make_recording.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INPUTS = HERE.parent / "demo" / "held_inputs.npy"


def c_float(v: float) -> str:
    """%.9g + f: every float32 survives the round trip."""
    s = f"{float(np.float32(v)):.9g}"
    return s + ("" if any(ch in s for ch in ".en") else ".0") + "f"


def render(x: np.ndarray) -> str:
    rows = ",\n".join("    { " + ", ".join(c_float(v) for v in row) + " }" for row in x)
    return (
        "/* recording.h - written by examples/firmware/make_recording.py from examples/demo/held_inputs.npy[0]:\n"
        " * accelerometer samples (ax, ay, az), one row per 20 ms. Regenerate with that script. */\n"
        "#ifndef RECORDING_H_INCLUDED\n#define RECORDING_H_INCLUDED\n\n"
        f"#define RECORDING_SAMPLES {x.shape[0]}\n\n"
        f"static const float recording[RECORDING_SAMPLES][{x.shape[1]}] = {{\n{rows}\n}};\n\n"
        "#endif\n"
    )


if __name__ == "__main__":
    (HERE / "recording.h").write_text(render(np.load(INPUTS)[0]))
