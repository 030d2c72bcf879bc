"""The plain C API of a C bundle: `<model>.h` and the compiled-in values `<model>_data.c`.

For a network named `ei_demo` (every identifier starts with the network name, so several models
link into one program):

    ei_demo_params    every parameter leaf, a struct member each (`exc.potential_tau` ->
                      `exc_potential_tau`, `ee.weights` -> `float ee_weights[240][240]`)
    ei_demo_vars      every state leaf
    ei_demo_inputs    every input leaf for ONE step; `run` takes an array of T of them
    ei_demo_outputs   every output leaf for one step
    ei_demo_state     { ei_demo_vars vars; const ei_demo_params *params; workspace }

    void ei_demo_init(ei_demo_state *s);                 initial state, compiled-in parameters
    int  ei_demo_run(ei_demo_state *s, int64_t T, const ei_demo_inputs *in, ei_demo_outputs *out);
    int  ei_demo_step(ei_demo_state *s, const ei_demo_inputs *in, ei_demo_outputs *out);
    int  ei_demo_check_params(const ei_demo_params *p);  0, or -1 and last_error says which and why
    const char *ei_demo_last_error(void);

Parameters are run-time inputs: point `s->params` at your own (changed) copy of
`ei_demo_default_params`. `run` and `step` check them first, by the rules of the Python runtime
(aotsnn.runtime.params): finite, each range rule of the model, whole numbers where the rule
asks, and topology (connection masks) unchanged from the compiled values; a bad parameter makes
them return -1 before any step. Memory is the caller's and static: nothing is allocated.
Every leaf has the artifact's precision, so a struct is its leaves packed in layout order
(the driver checks at compile time that the C compiler agrees; the Python harness relies on it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout, Leaf
from aotsnn.runtime.params import describe_rule

C_FLOATS = {"float32": ("float", "f"), "float64": ("double", "")}
C_INTEGERS = {"uint32": "uint32_t", "int32": "int32_t"}     # integer state leaves (random keys, counters)
STRUCTS = {"params": "params", "state": "vars", "inputs": "inputs", "outputs": "outputs"}
GROUP_DOCS = {"params": "run-time parameters (the compiled-in values are {p}_default_params)",
              "state": "state variables (the initial values are {p}_initial_vars)",
              "inputs": "inputs of one step",
              "outputs": "outputs of one step"}


def c_identifier(name: str) -> str:
    """`exc.v_rel` -> `exc_v_rel`: every character that C does not allow becomes `_`."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return f"_{ident}" if ident[:1].isdigit() else ident


def c_literal(value: float, dtype: str) -> str:
    """Exact C literal of a float32/float64 value (hexadecimal float, C99), or of an integer."""
    if dtype in C_INTEGERS:
        return f"{int(value)}u" if dtype.startswith("u") else f"({int(value)})"
    suffix = C_FLOATS[dtype][1]
    if np.isnan(value):
        return "NAN"
    if np.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    return float(value).hex() + suffix


def _initializer(array: np.ndarray, dtype: str) -> str:
    """Fully braced C initializer of `array` (a scalar is a bare literal)."""
    if array.ndim == 0:
        return c_literal(array.item(), dtype)
    if array.ndim == 1:
        return "{" + ", ".join(c_literal(x, dtype) for x in array) + "}"
    return "{" + ", ".join(_initializer(row, dtype) for row in array) + "}"


@dataclass(frozen=True)
class CApi:
    """Names and text of the C API of one model."""

    model: str
    prefix: str
    layout: Layout
    dt: float
    batch: int
    error_bytes: int = 256
    rules: tuple[tuple[str, dict], ...] = ()         # (parameter, manifest rule) for check_params
    topology: tuple[str, ...] = ()                   # parameters fixed at compile time

    @classmethod
    def of(cls, model: str, layout: Layout, dt: float, batch: int, rules: dict[str, dict] | None = None,
           topology: tuple[str, ...] = ()) -> "CApi":
        """The API of `model`; `rules` (name -> ParamRule.to_json()) and `topology` (mask names)
        are what `<model>_check_params` enforces."""
        for group in STRUCTS:
            leaves = getattr(layout, group)
            for leaf in leaves:
                if leaf.dtype not in C_FLOATS and not (group == "state" and leaf.dtype in C_INTEGERS):
                    raise ExportError(f"C bundles support float32 and float64, but leaf '{leaf.name}' is "
                                      f"{leaf.dtype}; compile with precision='float32'.")
            members = [c_identifier(leaf.name) for leaf in leaves]
            clash = sorted({m for m in members if members.count(m) > 1})
            if clash:
                raise ExportError(f"the {group} leaves of '{model}' give the same C member name "
                                  f"{clash[0]!r}; rename one of them.")
        return cls(model, c_identifier(model), layout, dt, batch, rules=tuple(sorted((rules or {}).items())),
                   topology=tuple(topology))

    def member(self, leaf: Leaf) -> str:
        return c_identifier(leaf.name)

    def type_name(self, group: str) -> str:
        return f"{self.prefix}_{STRUCTS[group]}"

    def _declaration(self, leaf: Leaf) -> str:
        dims = "".join(f"[{d}]" for d in leaf.shape)
        ctype = C_INTEGERS[leaf.dtype] if leaf.dtype in C_INTEGERS else C_FLOATS[leaf.dtype][0]
        return f"{ctype} {self.member(leaf)}{dims};"

    def header(self, workspace_bytes: int) -> str:
        p, P = self.prefix, self.prefix.upper()
        out = [f"/* Generated by aotsnn: the C API of '{self.model}'. Do not edit.",
               " *",
               f" *   static {p}_state s;           all memory is yours and static: nothing is allocated",
               f" *   {p}_init(&s);                 initial state, compiled-in parameters",
               f" *   {p}_run(&s, T, in, out);      T steps; in[T], out[T]: one struct per step; 0 = success",
               f" *   {p}_step(&s, &in, &out);      one step (= run with T = 1)",
               " *",
               f" * Change parameters by pointing s.params at your own copy of {p}_default_params. Kernels",
               " * that read only parameters (e.g. weights * mask) run once per run() call, so prefer run()",
               " * over a loop of step(). Leaves are C arrays of their artifact shapes (batch first). */",
               f"#ifndef {P}_H_", f"#define {P}_H_", "", "#include <stdint.h>", "",
               "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
               f"#define {P}_DT {self.dt!r}                /* ms per step */",
               f"#define {P}_BATCH {self.batch}",
               f"#define {P}_WORKSPACE_BYTES {workspace_bytes}"]
        for group in STRUCTS:
            for leaf in getattr(self.layout, group):
                out.append(f"#define {P}_{STRUCTS[group].upper()}_{self.member(leaf).upper()}_SIZE "
                           f"{int(np.prod(leaf.shape, dtype=np.int64))}   /* {leaf.name} {tuple(leaf.shape)} */")
        out.append("")
        for group in STRUCTS:
            leaves = getattr(self.layout, group)
            out.append(f"/* {GROUP_DOCS[group].format(p=p)} */")
            out.append(f"typedef struct {self.type_name(group)} {{")
            out += [f"  {self._declaration(leaf):<40} /* {leaf.name} */" for leaf in leaves]
            if not leaves:
                out.append("  char none_;                              /* (no leaves: C has no empty structs) */")
            out += [f"}} {self.type_name(group)};", ""]
        out += [f"typedef struct {p}_state {{",
                f"  {p}_vars vars;                   /* the state variables */",
                f"  const {p}_params *params;        /* init(): &{p}_default_params */",
                f"  int64_t workspace[({P}_WORKSPACE_BYTES + 7) / 8];   /* scratch of run(); instances share nothing */",
                f"}} {p}_state;", "",
                f"extern const {p}_params {p}_default_params;",
                f"extern const {p}_vars {p}_initial_vars;", "",
                f"void {p}_init({p}_state *s);",
                f"int {p}_run({p}_state *s, int64_t T, const {p}_inputs *in, {p}_outputs *out);",
                f"int {p}_step({p}_state *s, const {p}_inputs *in, {p}_outputs *out);",
                "/* 0 when every parameter obeys the model's rules (run and step check first); otherwise -1,",
                " * and last_error names the parameter and the rule. */",
                f"int {p}_check_params(const {p}_params *p);",
                "/* The message of the last failure (\"\" if none); not thread safe. */",
                f"const char *{p}_last_error(void);", "",
                "#ifdef __cplusplus", "}", "#endif", f"#endif  /* {P}_H_ */"]
        return "\n".join(out) + "\n"

    def layout_check(self) -> str:
        """C that fails to compile unless every struct is its leaves packed in layout order."""
        checks = []
        for group in STRUCTS:
            offset = 0
            for leaf in getattr(self.layout, group):
                checks.append(f"offsetof({self.type_name(group)}, {self.member(leaf)}) == {offset}")
                offset += int(np.prod(leaf.shape, dtype=np.int64)) * np.dtype(leaf.dtype).itemsize
            checks.append(f"sizeof({self.type_name(group)}) == {max(offset, 1)}")
        body = " &&\n    ".join(checks)
        return (f"/* aotsnn reads and writes these structs as packed leaves: refuse to compile otherwise. */\n"
                f"typedef char {self.prefix}_layout_is_packed[(\n    {body}) ? 1 : -1];\n")

    def check_params_source(self) -> str:
        """C of `<model>_check_params`: every parameter finite and within its rule (whole numbers
        where the rule says `integer`), every topology parameter equal to its compiled value.
        Messages are those of aotsnn.runtime.params without the value (C99 has no portable %g
        here: bare-metal printf is large)."""
        p, rules = self.prefix, dict(self.rules)
        out = [f"void {p}_error_from_parts(const char *kind, const char **parts, int32_t n);",
               f"static int {p}_refuse(const char *message) {{ {p}_error_from_parts(\"ValueError\", &message, 1); "
               "return -1; }", "",
               "/* 1 when one of the n values is not finite or breaks the rule [low, high] (open ends: strict). */",
               "static int breaks_rule(const PARAM_T *v, long n, int has_low, double low, int low_open, int has_high,",
               "                       double high, int high_open, int integer) {",
               "  for (long i = 0; i < n; ++i) {",
               "    const double x = (double)v[i];",
               "    if (!(x - x == 0.0)) return 1;                /* NaN or Inf (no libm call) */",
               "    if (has_low && (low_open ? x <= low : x < low)) return 1;",
               "    if (has_high && (high_open ? x >= high : x > high)) return 1;",
               "    if (integer && (x < 0 ? -x : x) < 4503599627370496.0 && x != (double)(long long)x) return 1;  /* 2^52 */",
               "  }",
               "  return 0;",
               "}", "",
               "/* 1 when the n bytes at a and b differ (bit for bit; a C bundle links no memcmp). */",
               "static int differs(const void *a, const void *b, long n) {",
               "  const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;",
               "  for (long i = 0; i < n; ++i) if (x[i] != y[i]) return 1;",
               "  return 0;",
               "}", "",
               f"int {p}_check_params(const {p}_params *p) {{"]
        for leaf in self.layout.params:
            member, size = self.member(leaf), int(np.prod(leaf.shape, dtype=np.int64))
            rule = rules.get(leaf.name)
            if rule is None:
                test, text = f"breaks_rule((const PARAM_T *)&p->{member}, {size}, 0, 0, 0, 0, 0, 0, 0)", "must be finite"
            else:
                bounds = ", ".join(str(x) for x in (
                    int(rule["low"] is not None), repr(float(rule["low"] or 0)), int(rule["low_open"]),
                    int(rule["high"] is not None), repr(float(rule["high"] or 0)), int(rule["high_open"]),
                    int(bool(rule.get("integer")))))
                test = f"breaks_rule((const PARAM_T *)&p->{member}, {size}, {bounds})"
                text = f"must be {describe_rule(rule)} and finite"
            out.append(f'  if ({test}) return {p}_refuse("parameter \'{leaf.name}\' {text}");')
            if leaf.name in self.topology:
                out.append(f"  if (differs(&p->{member}, &{p}_default_params.{member}, (long)sizeof p->{member})) "
                           f'return {p}_refuse("parameter \'{leaf.name}\' is topology, fixed when \'{self.model}\' '
                           'was compiled (kernels are specialised to it); recompile to change it");')
        out += ["  (void)p;", "  return 0;", "}", ""]
        return "\n".join(out)

    def data_source(self, params: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> str:
        """`<model>_data.c`: the compiled-in parameters and the initial state, exact (hex floats)."""
        dtype = self.layout.params[0].dtype if self.layout.params else "float32"
        out = [f"/* Generated by aotsnn: compiled-in parameters and initial state of '{self.model}', and the",
               " * parameter checks. */",
               f'#include "{self.prefix}.h"', "#include <math.h>", "",
               f"#define PARAM_T {C_FLOATS[dtype][0]}", ""]
        for group, values, name in (("params", params, f"{self.prefix}_default_params"),
                                    ("state", state, f"{self.prefix}_initial_vars")):
            leaves = getattr(self.layout, group)
            out.append(f"const {self.type_name(group)} {name} = {{")
            for leaf in leaves:
                if leaf.name not in values:
                    raise ExportError(f"no value for {group} leaf '{leaf.name}' of '{self.model}'.")
                array = np.asarray(values[leaf.name], dtype=leaf.dtype).reshape(leaf.shape)
                out.append(f"  {_initializer(array, leaf.dtype)},   /* {leaf.name} */")
            if not leaves:
                out.append("  0")
            out += ["};", ""]
        return "\n".join(out) + self.check_params_source()
