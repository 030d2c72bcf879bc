"""The plain C API of a C bundle: `<model>.h` and the compiled-in values `<model>_data.c`.

For a network named `ei_demo` (every identifier starts with the network name, so several models
link into one program):

    EI_DEMO_PARAM_*   the id of every parameter leaf (`exc.potential_tau` -> EI_DEMO_PARAM_EXC_POTENTIAL_TAU)
    ei_demo_vars      every state leaf, a struct member each (`exc.v_rel` -> `float exc_v_rel[1][240]`)
    ei_demo_inputs    every input leaf for ONE step; `run` takes an array of T of them
    ei_demo_outputs   every output leaf for one step
    ei_demo_state     { ei_demo_vars vars; const float *param[EI_DEMO_N_PARAMS]; refresh; workspace }

    void ei_demo_init(ei_demo_state *s);                 initial state, compiled-in parameters
    int  ei_demo_set_param(ei_demo_state *s, int32_t id, const float *values);
    int  ei_demo_run(ei_demo_state *s, int64_t T, const ei_demo_inputs *in, ei_demo_outputs *out);
    int  ei_demo_step(ei_demo_state *s, const ei_demo_inputs *in, ei_demo_outputs *out);
    const char *ei_demo_last_error(void);

Parameters are run-time inputs, set one leaf at a time: `set_param` checks the values by the
rules of the Python runtime (aotsnn.runtime.params: finite, each range rule of the model, whole
numbers where the rule asks; topology (connection masks) is refused, it is compiled in), points
the state at them (no copy: they must outlive their use) and marks the parameter-only kernels to
run again before the next step; `run` and `step` then cost the same per step. A parameter is
stored as aotsnn.export.codegen.param_storage says: a weight matrix behind a sparse mask as its
values at the mask's non-zeros (EI_DEMO_PARAMS_EE_WEIGHTS_SIZE of them, row by row), a mask that
only those read not at all. Memory is the caller's and static: nothing is allocated. Every leaf
has the artifact's precision (integer state leaves their own type), so a struct is its leaves
packed in layout order (the driver checks at compile time that the C compiler agrees; the Python
harness relies on it).

Integer parameter leaves (a sparse synapse's CSR indices `ee.pre_start`, `ee.post_index`, int32)
are topology, so they are compiled in, each as an array of its own type that the driver hands to
the kernels: `extern const int32_t ei_demo_indices_ee_pre_start[N]`. They are not in the
`param[]` table of `ei_demo_param_t` pointers (their entry is NULL and their _SIZE 0: nothing to
pass), so no integer is ever read through a float pointer; set_param refuses them as topology.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from aotsnn.export.codegen.param_storage import ParamStorage, whole
from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout, Leaf
from aotsnn.runtime.params import describe_rule, stored_values

C_FLOATS = {"float32": ("float", "f"), "float64": ("double", "")}
C_INTEGERS = {"uint32": "uint32_t", "int32": "int32_t"}     # integer leaves (random keys, counters, indices)
STRUCTS = {"state": "vars", "inputs": "inputs", "outputs": "outputs"}
GROUP_DOCS = {"state": "state variables (the initial values are {p}_initial_vars)",
              "inputs": "inputs of one step",
              "outputs": "outputs of one step"}


def c_identifier(name: str) -> str:
    """`exc.v_rel` -> `exc_v_rel`: every character that C does not allow becomes `_`."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return f"_{ident}" if ident[:1].isdigit() else ident


def c_literal(value: float, dtype: str) -> str:
    """Exact C literal of a float32/float64 value (hexadecimal float, C99), or of an integer."""
    if dtype in C_INTEGERS:
        return f"{int(value)}u" if dtype.startswith("u") else str(int(value)) if value >= 0 else f"({int(value)})"
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
    rules: tuple[tuple[str, dict], ...] = ()         # (parameter, manifest rule) for set_param
    topology: tuple[str, ...] = ()                   # parameters fixed at compile time
    storage: tuple[tuple[str, ParamStorage], ...] = ()   # parameter -> what the bundle stores of it

    @classmethod
    def of(cls, model: str, layout: Layout, dt: float, batch: int, rules: dict[str, dict] | None = None,
           topology: tuple[str, ...] = (), storage: dict[str, ParamStorage] | None = None) -> "CApi":
        """The API of `model`; `rules` (name -> ParamRule.to_json()) and `topology` (mask names)
        are what `<model>_set_param` enforces; `storage` (aotsnn.export.codegen.param_storage;
        default: every parameter whole, param_storage.whole) is what the bundle keeps of each one.
        An integer parameter must be topology: the bundle compiles it in."""
        storage = storage or whole(layout)
        for group in ("params", *STRUCTS):
            leaves = getattr(layout, group)
            for leaf in leaves:
                if leaf.dtype not in C_FLOATS and not (group in ("params", "state") and leaf.dtype in C_INTEGERS):
                    raise ExportError(f"C bundles support float32 and float64, but leaf '{leaf.name}' is "
                                      f"{leaf.dtype}; compile with precision='float32'.")
                if group == "params" and leaf.dtype in C_INTEGERS and leaf.name not in topology:
                    raise ExportError(f"the integer parameter '{leaf.name}' ({leaf.dtype}) of '{model}' is not "
                                      "topology: a C bundle compiles integer parameters in (set_param takes float "
                                      "values), so the component must list it in topology_params().")
            members = [c_identifier(leaf.name) for leaf in leaves]
            clash = sorted({m for m in members if members.count(m) > 1})
            if clash:
                raise ExportError(f"the {group} leaves of '{model}' give the same C member name "
                                  f"{clash[0]!r}; rename one of them.")
        return cls(model, c_identifier(model), layout, dt, batch, rules=tuple(sorted((rules or {}).items())),
                   topology=tuple(topology), storage=tuple((leaf.name, storage[leaf.name]) for leaf in layout.params))

    @property
    def param_dtype(self) -> str:
        """The dtype of every float parameter (the artifact precision)."""
        return next((leaf.dtype for leaf in self.layout.params if leaf.dtype in C_FLOATS), "float32")

    @property
    def param_type(self) -> str:
        """The C type of every float parameter value."""
        return C_FLOATS[self.param_dtype][0]

    def indices(self, leaf: Leaf) -> str:
        """The compiled-in array of an integer parameter leaf ("indices" storage)."""
        return f"{self.prefix}_indices_{self.member(leaf)}"

    def param_data(self, i: int) -> str:
        """C expression of the values the kernels read for parameter i (`s`: the state)."""
        leaf = self.layout.params[i]
        return self.indices(leaf) if dict(self.storage)[leaf.name].kind == "indices" else f"s->param[{i}]"

    def param_id(self, leaf: Leaf) -> str:
        return f"{self.prefix.upper()}_PARAM_{self.member(leaf).upper()}"

    def member(self, leaf: Leaf) -> str:
        return c_identifier(leaf.name)

    def type_name(self, group: str) -> str:
        return f"{self.prefix}_{STRUCTS[group]}"

    def _declaration(self, leaf: Leaf) -> str:
        dims = "".join(f"[{d}]" for d in leaf.shape)
        ctype = C_INTEGERS[leaf.dtype] if leaf.dtype in C_INTEGERS else C_FLOATS[leaf.dtype][0]
        return f"{ctype} {self.member(leaf)}{dims};"

    def _param_macros(self) -> list[str]:
        P, storage = self.prefix.upper(), dict(self.storage)
        out = ["/* Parameter ids (layout order) and how many values each takes: all of them, those at its",
               " * mask's non-zeros (packed, row by row), or none (a mask compiled into the kernels; integer",
               " * synapse indices, compiled in as arrays of their own). */",
               f"#define {P}_N_PARAMS {len(self.layout.params)}",
               f"#define {P}_PARAM_VALUES {sum(kept.param_values for _, kept in self.storage)}   /* all of them */"]
        for i, leaf in enumerate(self.layout.params):
            kept = storage[leaf.name]
            how = {"dense": "", "packed": f", packed at the non-zeros of {kept.mask}", "compiled": ", compiled in",
                   "indices": f", {leaf.dtype} compiled in: {self.indices(leaf)}"}[kept.kind]
            out.append(f"#define {self.param_id(leaf)} {i}")
            out.append(f"#define {P}_PARAMS_{self.member(leaf).upper()}_SIZE {kept.param_values}"
                       f"   /* {leaf.name} {tuple(leaf.shape)}{how} */")
        return out

    def _indices_declarations(self) -> list[str]:
        """The compiled-in arrays of the integer parameters (topology: read only)."""
        storage = dict(self.storage)
        return [f"extern const {C_INTEGERS[leaf.dtype]} {self.indices(leaf)}[{storage[leaf.name].size}];   "
                f"/* {leaf.name} */" for leaf in self.layout.params if storage[leaf.name].kind == "indices"]

    def header(self, workspace_bytes: int) -> str:
        p, P, T = self.prefix, self.prefix.upper(), self.param_type
        out = [f"/* Generated by aotsnn: the C API of '{self.model}'. Do not edit.",
               " *",
               f" *   static {p}_state s;           all memory is yours and static: nothing is allocated",
               f" *   {p}_init(&s);                 initial state, compiled-in parameters",
               f" *   {p}_set_param(&s, id, v);     one parameter leaf (checked; v is used in place, not copied)",
               f" *   {p}_run(&s, T, in, out);      T steps; in[T], out[T]: one struct per step; 0 = success",
               f" *   {p}_step(&s, &in, &out);      one step (= run with T = 1)",
               " *",
               " * Kernels that read only parameters (e.g. the CSR gather of weights * mask) run again only",
               " * after init or set_param, so step() costs what run() costs per step. After changing values",
               " * in place, call set_param again (it checks them and marks those kernels). Leaves are C",
               " * arrays of their artifact shapes (batch first). */",
               f"#ifndef {P}_H_", f"#define {P}_H_", "", "#include <stdint.h>", "",
               "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
               f"#define {P}_DT {self.dt!r}                /* ms per step */",
               f"#define {P}_BATCH {self.batch}",
               f"#define {P}_WORKSPACE_BYTES {workspace_bytes}",
               f"typedef {T} {p}_param_t;                /* every float parameter value */", "",
               *self._param_macros(), ""]
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
                f"  const {p}_param_t *param[{P}_N_PARAMS + 1];   /* each parameter's values; init: the compiled-in ones */",
                "  int32_t refresh;                 /* 1: the parameter-only kernels run before the next step */",
                f"  int64_t workspace[({P}_WORKSPACE_BYTES + 7) / 8];   /* scratch of run(); instances share nothing */",
                f"}} {p}_state;", "",
                f"extern const {p}_param_t *const {p}_default_param[{P}_N_PARAMS + 1];   /* compiled-in values */",
                f"extern const int32_t {p}_param_size[{P}_N_PARAMS + 1];   /* = the _SIZE macros */",
                f"extern const uint8_t {p}_param_is_topology[{P}_N_PARAMS + 1];   /* 1: fixed, set_param refuses */",
                f"extern const {p}_vars {p}_initial_vars;",
                *self._indices_declarations(), "",
                f"void {p}_init({p}_state *s);",
                "/* Use `values` (PARAMS_<NAME>_SIZE of them) for parameter `id` from the next step on: 0, or -1 when",
                " * a value breaks the parameter's rule or it is topology (last_error names it and why). */",
                f"int {p}_set_param({p}_state *s, int32_t id, const {p}_param_t *values);",
                f"int {p}_run({p}_state *s, int64_t T, const {p}_inputs *in, {p}_outputs *out);",
                f"int {p}_step({p}_state *s, const {p}_inputs *in, {p}_outputs *out);",
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

    def set_param_source(self) -> str:
        """C of `<model>_set_param`: every value finite and within the leaf's rule (whole numbers
        where the rule says `integer`); topology refused. Messages are those of
        aotsnn.runtime.params without the value (C99 has no portable %g here: bare-metal printf is large)."""
        p, P, rules = self.prefix, self.prefix.upper(), dict(self.rules)
        out = [f"void {p}_error_from_parts(const char *kind, const char **parts, int32_t n);",
               f"static int {p}_refuse(const char *message) {{ {p}_error_from_parts(\"ValueError\", &message, 1); "
               "return -1; }", "",
               "/* 1 when one of the n values is not finite or breaks the rule [low, high] (open ends: strict). */",
               f"static int breaks_rule(const {p}_param_t *v, long n, int has_low, double low, int low_open, int has_high,",
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
               f"int {p}_set_param({p}_state *s, int32_t id, const {p}_param_t *values) {{",
               f"  if (id < 0 || id >= {P}_N_PARAMS) return {p}_refuse(\"no parameter has this id (see the "
               f"{P}_PARAM_* macros)\");",
               f"  if (values == NULL && {p}_param_size[id] > 0) return {p}_refuse(\"values is NULL\");",
               "  switch (id) {"]
        for leaf in self.layout.params:
            size = dict(self.storage)[leaf.name].param_values
            if leaf.name in self.topology:
                out.append(f'    case {self.param_id(leaf)}: return {p}_refuse("parameter \'{leaf.name}\' is topology, '
                           f'fixed when \'{self.model}\' was compiled (kernels are specialised to it); recompile to '
                           'change it");')
                continue
            rule = rules.get(leaf.name)
            if rule is None:
                bounds, text = "0, 0, 0, 0, 0, 0, 0", "must be finite"
            else:
                bounds = ", ".join(str(x) for x in (
                    int(rule["low"] is not None), repr(float(rule["low"] or 0)), int(rule["low_open"]),
                    int(rule["high"] is not None), repr(float(rule["high"] or 0)), int(rule["high_open"]),
                    int(bool(rule.get("integer")))))
                text = f"must be {describe_rule(rule)} and finite"
            out.append(f"    case {self.param_id(leaf)}: if (breaks_rule(values, {size}, {bounds})) "
                       f'return {p}_refuse("parameter \'{leaf.name}\' {text}"); break;')
        out += ["    default: break;", "  }",
                "  s->param[id] = values;",
                "  s->refresh = 1;",
                "  return 0;", "}", ""]
        return "\n".join(out)

    def data_source(self, params: dict[str, np.ndarray], state: dict[str, np.ndarray],
                    topology: dict[str, np.ndarray]) -> str:
        """`<model>_data.c`: the compiled-in parameters (as stored: dense, packed, not at all, or
        integer indices as arrays of their own type) and the initial state, exact (hex floats),
        their tables and `<model>_set_param`."""
        p, T, dtype = self.prefix, self.param_type, self.param_dtype
        storage = dict(self.storage)
        out = [f"/* Generated by aotsnn: compiled-in parameters and initial state of '{self.model}', and the",
               " * parameter checks. */",
               f'#include "{self.prefix}.h"', "#include <math.h>", "#include <stddef.h>", ""]
        pointers, sizes, fixed = [], [], []
        for leaf in self.layout.params:
            if leaf.name not in params:
                raise ExportError(f"no value for params leaf '{leaf.name}' of '{self.model}'.")
            kept = storage[leaf.name]
            values = stored_values(np.asarray(params[leaf.name], dtype=leaf.dtype).reshape(leaf.shape), kept.kind,
                                   topology.get(kept.mask))
            if kept.kind == "indices":
                out.append(f"const {C_INTEGERS[leaf.dtype]} {self.indices(leaf)}[{kept.size}] = "
                           f"{_initializer(values, leaf.dtype)};   /* {leaf.name} */")
            if kept.param_values:
                out.append(f"static const {T} {p}_default_{self.member(leaf)}[{kept.size}] = "
                           f"{_initializer(values, dtype)};   /* {leaf.name} */")
                pointers.append(f"{p}_default_{self.member(leaf)}")
            else:
                pointers.append("NULL")
            sizes.append(str(kept.param_values))
            fixed.append(str(int(leaf.name in self.topology)))
        out += ["", f"const {T} *const {p}_default_param[] = {{{', '.join(pointers + ['NULL'])}}};",
                f"const int32_t {p}_param_size[] = {{{', '.join(sizes + ['0'])}}};",
                f"const uint8_t {p}_param_is_topology[] = {{{', '.join(fixed + ['0'])}}};", ""]
        leaves = self.layout.state
        out.append(f"const {self.type_name('state')} {p}_initial_vars = {{")
        for leaf in leaves:
            if leaf.name not in state:
                raise ExportError(f"no value for state leaf '{leaf.name}' of '{self.model}'.")
            array = np.asarray(state[leaf.name], dtype=leaf.dtype).reshape(leaf.shape)
            out.append(f"  {_initializer(array, leaf.dtype)},   /* {leaf.name} */")
        if not leaves:
            out.append("  0")
        out += ["};", ""]
        return "\n".join(out) + self.set_param_source()
