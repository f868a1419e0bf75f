"""parity: a verify Report turned into what people and machines read when the C and Keras disagree:
the individual values that are out of tolerance (worst offenders), an assertion message, a JSON
document and a JUnit XML file. Pure numpy and the standard library: no Keras needed here."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from . import __version__
from .verify import Report

JSON_SCHEMA = "kerasc-verify/1"
WORST_PER_LAYER = 3
WORST_TOTAL = 8


@dataclass(frozen=True)
class Offender:
    """One output value outside atol + rtol * |keras|."""

    layer: int  # Keras layer index in the model (as in the report table)
    name: str  # Keras layer name
    keras_class: str
    timestep: Optional[int]  # None for outputs without a time axis
    batch: int  # sample of the input batch
    index: int  # output index within the layer's output vector (unit)
    c: float
    keras: float
    abs_err: float
    tolerance: float

    def where(self) -> str:
        t = "" if self.timestep is None else f"timestep {self.timestep}, "
        return f"layer [{self.layer}] '{self.name}' ({self.keras_class}) at {t}batch {self.batch}, output index {self.index}"

    def sentence(self) -> str:
        return (f"{self.where()}: C {self.c:.8g} vs Keras {self.keras:.8g} "
                f"(|err| {self.abs_err:.2e} > tolerance {self.tolerance:.2e})")


def _errors(c: np.ndarray, k: np.ndarray, atol: float, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """|c - k| (NaN counts as infinitely wrong) and the tolerance, per value, in float64."""
    k64 = k.astype(np.float64)
    err = np.abs(c.astype(np.float64) - k64)
    err = np.where(np.isnan(err), np.inf, err)
    return err, atol + rtol * np.abs(k64)


def _offender(report: Report, layer_pos: int, c: np.ndarray, k: np.ndarray, err: np.ndarray, tol: np.ndarray,
              pos: tuple[int, ...]) -> Offender:
    r = report.layers[layer_pos]
    seq = k.ndim == 3
    t = int(pos[1]) if seq else None
    return Offender(r.index, r.name, r.keras_class, t, int(pos[0]), int(pos[-1]), float(c[pos]), float(k[pos]),
                    float(err[pos]), float(tol[pos]))


def first_disagreement(report: Report) -> Optional[Offender]:
    """The first value out of tolerance: first failing layer, then earliest timestep, batch, index
    (the order `verify` uses for `first_bad`). None when every value agrees or shapes differ."""
    for pos_l, (r, (c, k)) in enumerate(zip(report.layers, report.values)):
        if r.ok or c.shape != k.shape:
            continue
        err, tol = _errors(c, k, report.atol, report.rtol)
        bad = err > tol
        if k.ndim == 3:
            t, b, u = (int(v) for v in np.argwhere(bad.transpose(1, 0, 2))[0])
            pos: tuple[int, ...] = (b, t, u)
        else:
            pos = tuple(int(v) for v in np.argwhere(bad)[0])
        return _offender(report, pos_l, c, k, err, tol, pos)
    return None


def worst_offenders(report: Report, per_layer: int = WORST_PER_LAYER, total: int = WORST_TOTAL) -> list[Offender]:
    """The largest errors among values out of tolerance: up to `per_layer` from each failing layer
    (in layer order, so the layer where the disagreement starts comes first), `total` at most."""
    rows: list[Offender] = []
    for pos_l, (r, (c, k)) in enumerate(zip(report.layers, report.values)):
        if r.ok or c.shape != k.shape:
            continue
        err, tol = _errors(c, k, report.atol, report.rtol)
        excess = np.where(err > tol, err, -1.0).reshape(-1)
        count = int(min(per_layer, (excess >= 0).sum()))
        for flat in np.argsort(-excess, kind="stable")[:count]:
            rows.append(_offender(report, pos_l, c, k, err, tol, np.unravel_index(int(flat), err.shape)))
        if len(rows) >= total:
            break
    return rows[:total]


def offenders_table(rows: list[Offender]) -> str:
    head = (f"{'layer':<24} {'t':>5} {'batch':>5} {'index':>5}  {'C':>15} {'Keras':>15} {'|err|':>9} "
            f"{'tolerance':>9}")
    lines = [head, "-" * len(head)]
    for o in rows:
        label = f"[{o.layer}] {o.name}"
        t = "-" if o.timestep is None else str(o.timestep)
        lines.append(f"{label[:24]:<24} {t:>5} {o.batch:>5} {o.index:>5}  {o.c:>15.8g} {o.keras:>15.8g} "
                     f"{o.abs_err:>9.2e} {o.tolerance:>9.2e}")
    return "\n".join(lines)


def failure_message(report: Report) -> str:
    """What assert_matches_keras raises: where the first disagreement is (layer, timestep, output
    index, both values, the error), how many values are off, the worst of them, and the table."""
    first = first_disagreement(report)
    bad_layers = [r for r in report.layers if not r.ok]
    n_bad = sum(r.mismatches for r in bad_layers)
    n_all = sum(int(k.size) for _, k in report.values)
    how = f"random inputs, seed {report.seed}" if report.seed is not None else "given inputs"
    lines = [f"the C of model '{report.model}' does not match Keras (input {report.input_shape}, {how}; "
             f"tolerance atol {report.atol:g} + rtol {report.rtol:g} * |keras|)"]
    v = report.verdict
    if v.sentence and not v.sentence.startswith("first disagreement:"):
        lines.append(f"verdict {v.outcome}: {v.sentence}")
    if first is not None:
        lines.append(f"first disagreement: {first.sentence()}")
    elif report.first_failure is not None:
        lines.append(f"first disagreement: {report.first_failure.first_bad}")
    lines.append(f"{n_bad} of {n_all} values out of tolerance, in {len(bad_layers)} of {len(report.layers)} layers")
    rows = worst_offenders(report)
    if rows:
        lines += ["worst offenders:", offenders_table(rows)]
    lines.append("")
    lines += [ln for ln in report.table().splitlines() if not ln.startswith("first disagreement:")]
    return "\n".join(lines)


def _num(v: Optional[float]) -> Optional[float]:
    """JSON has no Infinity/NaN: non-finite numbers are written as null."""
    return None if v is None or not math.isfinite(v) else float(v)


def _offender_dict(o: Offender) -> dict[str, Any]:
    d = asdict(o)
    d["class"] = d.pop("keras_class")
    for key in ("c", "keras", "abs_err", "tolerance"):
        d[key] = _num(d[key])
    return d


def report_dict(report: Report, *, source: str, inputs: str, weights: str = "float32") -> dict[str, Any]:
    """The JSON document of `kerasc verify --json` (schema "kerasc-verify/1", see docs)."""
    first = first_disagreement(report)
    v = report.verdict
    ex = report.exact.layers if report.exact is not None else []

    def exact(i: int) -> Optional[dict[str, Any]]:
        if i >= len(ex):
            return None
        le = ex[i]
        seq = (lambda a: [_num(float(x)) for x in a]) if le.seq else (lambda a: None)
        return {"max_c_err": _num(le.max_ce), "max_keras_err": _num(le.max_ke), "max_sensitivity": _num(le.max_sens),
                "c_err_t": seq(le.ce_t), "keras_err_t": seq(le.ke_t), "sensitivity_t": seq(le.sens_t)}

    return {
        "schema": JSON_SCHEMA,
        "kerasc_version": __version__,
        "ok": report.ok,  # every value within tolerance of Keras
        "verdict": v.outcome,  # PASS, PASS (float32-limited) or FAIL
        "verdict_reason": v.sentence or None,
        "strict": report.strict,
        "exit_code": report.exit_code,
        "error": None,
        "model": report.model,
        "source": source,
        "inputs": inputs,
        "input_shape": list(report.input_shape),
        "seed": report.seed,
        "weights": weights,
        "environment": dict(report.environment),
        "atol": report.atol,
        "rtol": report.rtol,
        "max_abs_err": _num(report.max_abs_err),
        "layers": [{
            "index": r.index, "name": r.name, "class": r.keras_class, "shape": list(r.shape),
            "max_abs_err": _num(r.max_abs_err), "max_rel_err": _num(r.max_rel_err), "worst_t": r.worst_t,
            "values": int(np.prod(r.shape)) if r.shape else 0, "mismatches": r.mismatches, "ok": r.ok,
            "first_bad": r.first_bad, "nonfinite_agree": r.nonfinite_agree,
            "finite_compared": None if r.finite_compared < 0 else r.finite_compared, "exact": exact(i),
        } for i, r in enumerate(report.layers)],
        "first_disagreement": None if first is None else _offender_dict(first),
        "worst": [_offender_dict(o) for o in worst_offenders(report)],
    }


def error_dict(*, source: str, error: str, exit_code: int) -> dict[str, Any]:
    """The JSON document when verify could not run (conversion error, missing extra)."""
    return {"schema": JSON_SCHEMA, "kerasc_version": __version__, "ok": False, "exit_code": exit_code,
            "error": error, "source": source}


def _suite(name: str, props: dict[str, Any]) -> ET.Element:
    suite = ET.Element("testsuite", name=name)
    p = ET.SubElement(suite, "properties")
    for key, value in props.items():
        ET.SubElement(p, "property", name=key, value=str(value))
    return suite


# XML 1.0 cannot hold these characters at all, not even as character references; a layer name or a path
# from a hostile file could carry them. They are written as \\xNN (\\uNNNN) so the report stays parseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_safe(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                        else f"\\u{ord(m.group()):04x}", text)


def _finish(suite: ET.Element, tests: int, failures: int, errors: int, seconds: float) -> bytes:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", f"{seconds:.3f}")
    root = ET.Element("testsuites", name="kerasc verify", tests=str(tests), failures=str(failures),
                      errors=str(errors), time=f"{seconds:.3f}")
    root.append(suite)
    for el in root.iter():
        el.text, el.tail = _xml_safe(el.text), _xml_safe(el.tail)
        for key, value in el.attrib.items():
            el.set(key, _xml_safe(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def junit_xml(report: Report, *, source: str, inputs: str, seconds: float, weights: str = "float32") -> bytes:
    """JUnit XML: one <testsuite> per model, one <testcase> per Keras layer (the last is the model's
    output), so a CI test view shows which layer broke; a layer after the first failing one says so."""
    classname = f"kerasc.verify.{report.model}"
    suite = _suite(classname, {"source": source, "inputs": inputs, "input_shape": report.input_shape,
                               "seed": "" if report.seed is None else report.seed, "weights": weights,
                               "atol": report.atol, "rtol": report.rtol, "kerasc_version": __version__,
                               **{k: v for k, v in report.environment.items() if k == "C compiler"}})
    v = report.verdict
    suite.find("properties").append(ET.Element("property", name="verdict", value=v.outcome))
    first_failing = report.first_failure
    for pos, r in enumerate(report.layers):
        case = ET.SubElement(suite, "testcase", classname=classname, name=f"[{r.index}] {r.name} ({r.keras_class})",
                             time="0")
        if r.ok or v.outcome != "FAIL":  # float32-limited: explained, reported in system-out
            continue
        single = Report(report.model, report.atol, report.rtol, report.input_shape, report.seed, [r],
                        values=[report.values[pos]])
        rows = worst_offenders(single)
        text = [f"{r.mismatches} of {int(np.prod(r.shape)) if r.shape else 0} values out of tolerance "
                f"atol {report.atol:g} + rtol {report.rtol:g} * |keras|; max |err| {r.max_abs_err:.2e}"]
        if first_failing is not None and first_failing is not r:
            text.append(f"its input already differs: the first failing layer is [{first_failing.index}] "
                        f"'{first_failing.name}'")
        if rows:
            text += ["worst offenders:", offenders_table(rows)]
        if v.where is not None and v.where[0] == pos and v.sentence and not v.sentence.startswith("first"):
            text.insert(0, f"verdict: {v.sentence}")
        ET.SubElement(case, "failure", message=r.first_bad or "mismatch", type="ParityMismatch").text = "\n".join(text)
    ET.SubElement(suite, "system-out").text = report.table()
    failures = sum(1 for r in report.layers if not r.ok) if v.outcome == "FAIL" else 0
    return _finish(suite, len(report.layers), failures, 0, seconds)


def junit_error_xml(*, source: str, error: str, kind: str, seconds: float) -> bytes:
    """JUnit XML when verify could not run: one <testcase> with an <error>."""
    suite = _suite("kerasc.verify", {"source": source, "kerasc_version": __version__})
    case = ET.SubElement(suite, "testcase", classname="kerasc.verify", name=f"verify {source}", time="0")
    ET.SubElement(case, "error", message=error, type=kind).text = error
    return _finish(suite, 1, 0, 1, seconds)
