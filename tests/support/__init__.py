"""What the test modules share, one place for each thing:

- env: ROOT, DEMO, ON_CI, require_tool (a skip that says why; a failure under CI=true), cpu_flags
- flags: the one set of strict compiler flags (STRICT for C99, CXX, AVR_STRICT) and Cortex-M cores
- models: randomize (the one random-weights rule), keras_truth, inputs, the named firmware models
- parity: the numeric contract (assert_close) and compile_all, the one "build IRs, compile into one
  extension, zip with the cases" step, with the Case/SavedCase sweeps built on it
- graphs: parity sweeps of graph models (several inputs/outputs, masks, state)
- programs: the kerasc CLI under test, and running compiled programs with their output on failure
- reference: independent float64 numpy LSTM/GRU/SimpleRNN
- robust: the robustness suite's valid models and outcome rule
"""
