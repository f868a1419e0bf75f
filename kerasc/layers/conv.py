"""Conv1D (channels_last), on a sequence [T][in] -> [T'][filters].

Keras' Conv1D.call: y[t] = activation(bias + sum_k x[t*strides - pad_left + k*dilation] @ kernel[k]),
x taken as zero outside [0, T). kernel is (kernel_size, in/groups, filters); group g reads input
channels [g*in/groups, (g+1)*in/groups) and writes filters [g*filters/groups, (g+1)*filters/groups).

Two ways to run it (Python chooses, the template follows):
  delay line  padding='causal', strides=1: output step t needs inputs t-(kernel_size-1)*dilation .. t,
              so the node keeps the last (kernel_size-1)*dilation+1 input steps in the state struct
              (zeroed by reset: Keras' left zero padding) and runs in the timestep loop like an RNN;
              streaming (NAME_step) keeps working.
  window      every other padding/stride: the node reads its whole stored input and computes one output
              step per call, over a new time axis of length T' (lower.py: a derived Domain)."""

from __future__ import annotations

from typing import Any, Optional

from .. import activations
from ..errors import ConversionError
from ..ir import Node, StateVar, TimeMap
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Option, check_options, expect_weights, flag, positive_int, register


def one_int(rec: LayerRecord, key: str, default: Any = None) -> int:
    """A 1D option Keras stores as an int or a one-element list/tuple."""
    value = rec.config.get(key, default)
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={rec.config.get(key)!r} is not "
                              "supported; supported: one positive integer")
    if value > 1 << 16:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value} is larger than kerasc supports")
    return value


def need_seq(rec: LayerRecord, ctx: Context) -> None:
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) needs a sequence input (timesteps, features); "
                              f"it receives a vector of {ctx.in_width}")


def channels_last(rec: LayerRecord) -> None:
    fmt = rec.config.get("data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): data_format={fmt!r} is not supported; "
                              "supported: 'channels_last' (timesteps, features)")


def time_map(padding: str, eff: int, strides: int) -> TimeMap:
    """Output length as a Domain formula: (T + add) // div + plus (Keras' conv_output_length)."""
    if padding == "valid":
        return TimeMap(add=-eff, div=strides, plus=1)
    if padding == "causal":
        return TimeMap(add=-1, div=strides, plus=1)
    return TimeMap(add=strides - 1, div=strides, plus=0)  # same: ceil(T / strides)


def pad_option(padding: str, eff: int, strides: int) -> dict:
    """How the C finds the first input step of output step t: t*strides - pad_left. 'same' pads
    total = max((T'-1)*strides + eff - T, 0), left half rounded down (TensorFlow's SAME), which
    depends on T unless strides is 1."""
    if padding == "valid":
        return {"pad_left": 0, "pad_same": False}
    if padding == "causal":
        return {"pad_left": eff - 1, "pad_same": False}
    if strides == 1:
        return {"pad_left": (eff - 1) // 2, "pad_same": False}
    return {"pad_left": 0, "pad_same": True, "pad_extra": eff - strides, "round_up": strides - 1}


STREAM_WHY = {"valid": "padding='valid' reads future timesteps (and shortens the time axis)",
              "same": "padding='same' reads future timesteps",
              "causal": "strides > 1 changes the time axis"}

DOC = LayerDoc(
    options=(Option("filters", doc="≥ 1"),
             Option("kernel_size", doc="≥ 1"),
             Option("strides", doc="≥ 1 (`causal` with strides 1 streams)", default=1),
             Option("padding", ("valid", "same", "causal"), default="valid"),
             Option("data_format", ("channels_last",), default="channels_last"),
             Option("dilation_rate", doc="≥ 1", default=1),
             Option("groups", doc="≥ 1, dividing the input features and filters", default=1),
             Option("activation", doc="any activation below but `glu`; default linear", default="linear"),
             Option("use_bias", default=True)),
    notes="`causal` with strides 1 runs in the timestep loop (a delay line in the state: NAME_step works); "
          "other paddings and strides make a time axis of another length and refuse streaming",
)


def _in_width(rec: LayerRecord) -> Optional[int]:
    """The input features the kernel (kernel_size, in / groups, filters) implies."""
    w = rec.weights[0] if rec.weights else None
    if getattr(w, "ndim", 0) != 3:
        return None
    groups = rec.config.get("groups", 1)
    rows = w.reshape(-1, w.shape[-1])[:w.shape[1] * (groups if isinstance(groups, int) and groups > 0 else 1)]
    return int(rows.shape[0])


@register("Conv1D", doc=DOC, traits=LayerTraits(kinds=("conv",), in_width=_in_width))
def conv1d(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOC.known())
    need_seq(rec, ctx)
    channels_last(rec)
    filters = positive_int(rec, "filters")
    K = one_int(rec, "kernel_size")
    S = one_int(rec, "strides", 1)
    D = one_int(rec, "dilation_rate", 1)
    G = rec.config.get("groups", 1)
    if isinstance(G, bool) or not isinstance(G, int) or G < 1 or ctx.in_width % G or filters % G:
        raise ConversionError(f"layer '{rec.name}' (Conv1D): groups={G!r} is not supported with {ctx.in_width} input "
                              f"features and filters={filters}; supported: a positive integer dividing both")
    padding = rec.config.get("padding", "valid")
    if padding not in ("valid", "same", "causal"):
        raise ConversionError(f"layer '{rec.name}' (Conv1D): padding={padding!r} is not supported; supported: "
                              "'valid', 'same', 'causal'")
    if S > 1 and D > 1:
        raise ConversionError(f"layer '{rec.name}' (Conv1D): strides={S} with dilation_rate={D} is not supported "
                              "(Keras refuses it too); supported: one of them greater than 1")
    use_bias = flag(rec, "use_bias", True)
    act = ctx.activation(rec, "activation", "linear", activations.SUPPORTED_RNN)
    F, Cg, Fg = ctx.in_width, ctx.in_width // G, filters // G
    shapes, names = [(K, Cg, filters)], ["kernel"]
    if use_bias:
        shapes.append((filters,))
        names.append("bias")
    ws = expect_weights(rec, shapes, names)
    where = f"Keras layer '{rec.name}' (Conv1D)"
    eff = (K - 1) * D + 1
    arrays, groups = [], []
    for g in range(G):
        w = ws[0][:, :, g * Fg:(g + 1) * Fg].reshape(K * Cg, Fg)
        part = (f" group {g} (inputs {g * Cg}..{(g + 1) * Cg - 1}, filters {g * Fg}..{(g + 1) * Fg - 1})"
                if G > 1 else "")
        arrays.append(ctx.array(f"W{g}" if G > 1 else "W", w,
                                f"{where} kernel{part}: [kernel_size*in={K}*{Cg}][filters={Fg}], tap k input c "
                                f"is row k*{Cg}+c"))
        groups.append({"W": len(arrays) - 1, "in_at": g * Cg, "out_at": g * Fg})
    bias_at = len(arrays)
    if use_bias:
        arrays.append(ctx.array("b", ws[1], f"{where} bias: [filters={filters}]"))
    for grp in groups:
        at = f" + {grp['out_at']}" if grp["out_at"] else ""
        grp["b"] = f"{arrays[bias_at].cname}{at}" if use_bias else "NULL"
    delay = padding == "causal" and S == 1
    state = [StateVar(f"{ctx.cid}_y", filters, f"{where}: output of one step [filters={filters}]", False)]
    options = {"activation": act, "window_floats": K * Cg, "use_bias": use_bias, "filters": filters,
               "kernel_size": K, "strides": S, "dilation": D, "dilation_rate": D, "groups": G, "padding": padding,
               "parts": groups, "group_in": Cg, "group_out": Fg, "delay": delay,
               }
    plan: dict[str, Any] = {"kernels": tuple(arrays[g["W"]].cname for g in groups),
                            "scratch": K * Cg if (G > 1 or D > 1 or not delay) else 0}
    if delay:
        L = eff
        state.insert(0, StateVar(f"{ctx.cid}_buf", L * F, f"{where}: the last {L} input steps [{L}][{F}], oldest "
                                 "first (zero before the sequence: Keras' causal padding)", True))
        options.update({"taps": L, "oldest": L - 1, "shift": (L - 1) * F, "newest": (L - 1) * F, "tap_stride": D * F,
                        "direct": G == 1 and D == 1})
    else:
        plan.update({"window": True, "time": time_map(padding, eff, S), "stream_why": STREAM_WHY[padding]})
        options.update(pad_option(padding, eff, S))
        if ctx.in_timesteps is not None and padding == "valid" and ctx.in_timesteps < eff:
            raise ConversionError(f"layer '{rec.name}' (Conv1D): kernel spans {eff} timesteps but the sequence has "
                                  f"{ctx.in_timesteps}; supported: padding='valid' on at least kernel span timesteps")
    how = "delay line in the timestep loop" if delay else "over the stored input sequence"
    return Node(
        index=ctx.index, kind="conv", keras_name=rec.name, keras_class="Conv1D", cid=ctx.cid,
        in_width=F, out_width=filters, in_seq=True, out_seq=True, out_ref=f"st->{ctx.cid}_y",
        state=tuple(state), arrays=tuple(arrays), options=options, **plan,
        summary=(f"Conv1D(filters={filters}, kernel_size={K}, strides={S}, padding={padding}, dilation_rate={D}, "
                 f"groups={G}, activation={act}, use_bias={use_bias}), {how}"),
        ignored=ignored,
    )
