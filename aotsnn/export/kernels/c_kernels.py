"""The kernels of a C bundle: TVM's C backend output, made to need no runtime at all.

    kernels = compile_c_kernels(relax_mod, layout, target, labels)
    text = kernels.bundle_source(prefix, model)        # <model>_kernels.c
    ... build with the target's compiler ...
    check_symbols(library, target, kernels, prefix)    # what the objects still need from outside

What TVM's C output needs from a runtime, and what becomes of it here:

- `TVMFFIErrorSetRaisedFromCStrParts` (failed checks) -> the driver's `<model>_error_from_parts`;
- `TVMBackendAllocWorkspace`/`FreeWorkspace` (intermediates of 1 KiB or more) -> a static
  arena in `.bss`, sized at compile time from the requests in the code (aotsnn.export.kernels.arena);
- math intrinsics without a C rule in TVM (`fabs`, `fmod`, `exp2`) -> their C99 functions
  (aotsnn.export.kernels.c_math), so the code needs libm's C99 functions and nothing else;
- non-finite constants, which TVM prints as `inff`/`inf`/`nanf`/`nan` (not C) -> INFINITY, NAN.

Whatever is still missing is refused at compile time, naming the kernel, the component(s) it
computes (from the leaves the kernel reads and writes) and the op or symbol: an intrinsic TVM
cannot lower (when tvm.compile fails, each kernel is compiled alone to find the culprits), a TVM
identifier left in the source, or an undefined symbol of the built library outside C99 libm,
memcpy/memset and the compiler's own helper routines.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import tvm

from aotsnn.export.kernels.arena import ArenaPlan
from aotsnn.export.kernels.c_math import c99_symbols, register_c_rules
from aotsnn.export.errors import ExportError
from aotsnn.export.kernels.fusion import plan_kernels
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import Plan
from aotsnn.targets import Target

KERNEL_IDENTIFIERS = {"TVMFFIAny", "TVM_DLL"}      # what the renamed kernels may still name from TVM
LIBC = frozenset(("memcpy", "memset", "memmove"))
# compiler support routines (libgcc/compiler-rt): soft 64-bit integer and conversion helpers
COMPILER_HELPERS = re.compile(r"^__(aeabi_\w+|\w+[sdt]i\d|\w+[sdt]f\d|gcc_\w+|\w+_chk)$")
_FUNCTION = re.compile(r"^(?:TVM_DLL )?int32_t __tvm_ffi_(\w+)\([^)]*\) \{$", re.M)
_UNRESOLVED_OP = re.compile(r'Unresolved call .*?name="([\w.]+)"')
# TVM's C printer writes non-finite float constants as these identifiers (not valid C)
NON_FINITE = {"inff": "INFINITY", "inf": "((double)INFINITY)", "nanf": "NAN", "nan": "((double)NAN)"}


def component_of(leaf: str) -> str:
    """`stp.u` -> `stp`, `soma.prev_spikes` -> `soma`."""
    return leaf.partition(".")[0]


def kernel_owners(plan: Plan, layout: Layout, labels: dict[str, str]) -> dict[str, str]:
    """kernel -> the components it computes ("'stp' (STPDenseSynapse)"), for error messages.

    A kernel belongs to the components whose parameters or state it reads or whose new state it
    writes; a kernel that touches no leaf (it reads only intermediates) inherits the components
    of the kernels that made its inputs.
    """
    groups = {"param": layout.params, "state": layout.state}
    writes: dict[int, set[str]] = {}
    for i, ref in enumerate(plan.results[:len(layout.state)]):
        if ref.kind == "temp":
            writes.setdefault(ref.index, set()).add(component_of(layout.state[i].name))
    made: dict[int, set[str]] = {}
    found: dict[str, set[str]] = {}
    for call in plan.calls:
        inputs, outputs = call.args[:len(call.args) - call.n_outputs], call.args[len(call.args) - call.n_outputs:]
        direct = {component_of(groups[r.kind][r.index].name) for r in inputs if r.kind in groups}
        direct |= {c for r in outputs for c in writes.get(r.index, ())}
        names = direct or {c for r in inputs if r.kind == "temp" for c in made.get(r.index, ())}
        for r in outputs:
            made[r.index] = names
        found.setdefault(call.kernel, set()).update(names)
    return {kernel: ", ".join(labels.get(c, repr(c)) for c in sorted(names)) or "the network"
            for kernel, names in found.items()}


def kernel_functions(source: str) -> dict[str, str]:
    """kernel name -> the C text of its definition, from TVM's C source."""
    starts = list(_FUNCTION.finditer(source))
    functions = {}
    for match in starts:
        end = source.find("\n}\n", match.end())
        functions[match.group(1)] = source[match.start():end + 3 if end >= 0 else len(source)]
    return functions


@dataclass
class CKernels:
    """TVM's C kernels of one step and what aotsnn knows about them."""

    plan: Plan
    source: str                       # TVM's C source, as written
    functions: dict[str, str]         # kernel -> its C definition
    owners: dict[str, str]            # kernel -> its components
    arena: ArenaPlan

    @classmethod
    def of(cls, plan: Plan, source: str, layout: Layout, labels: dict[str, str]) -> "CKernels":
        """The kernels of `plan` in TVM's C `source`; `labels` name the components."""
        owners = kernel_owners(plan, layout, labels)
        functions = kernel_functions(source)
        return cls(plan, source, functions, owners, ArenaPlan.of(functions, owners))

    def users_of(self, identifier: str) -> list[str]:
        """'kernel (components)' for every kernel whose code names `identifier`."""
        word = re.compile(rf"\b{re.escape(identifier)}\b")
        return [f"kernel '{k}' of {self.owners.get(k, 'the network')}" for k, body in self.functions.items()
                if word.search(body)]

    def bundle_source(self, prefix: str, model: str) -> str:
        """`<model>_kernels.c`: TVM's source made self-contained.

        TVM's includes become aotsnn_ffi.h; `__tvm_ffi_<kernel>` becomes `<prefix>_k_<kernel>` (no
        reserved names, several models per program); the error call becomes the driver's
        `<prefix>_error_from_parts`; workspace calls go to the arena; non-finite constants
        become C99's INFINITY and NAN. Raises ExportError if a TVM runtime name is left.
        """
        p = prefix
        lines = [line for line in self.source.splitlines()
                 if not line.startswith('#include "tvm/') and line != "#define TVM_EXPORTS"]
        text = re.sub(r"\b__tvm_ffi_", f"{p}_k_", "\n".join(lines))
        text = re.sub(r"\bTVMFFIErrorSetRaisedFromCStrParts\b", f"{p}_error_from_parts", text)
        text = self.arena.rename(text, p)
        for literal, c99 in NON_FINITE.items():
            text = re.sub(rf"\b{literal}\b(?!\s*\()", c99, text)
        unknown = sorted(set(re.findall(r"\bTVM\w*", text)) - KERNEL_IDENTIFIERS)
        if unknown:
            raise ExportError(f"the kernels of '{model}' call TVM runtime functions a C bundle does not provide: "
                              + "; ".join(f"{name} ({', '.join(self.users_of(name)) or 'outside any kernel'})"
                                          for name in unknown))
        return (f"/* Generated by TVM {tvm.__version__} (target \"c\") for '{model}'; symbols renamed by aotsnn. "
                "Do not edit. */\n"
                '#include "aotsnn_ffi.h"\n'
                f"void {p}_error_from_parts(const char *kind, const char **parts, int32_t n);\n"
                f"{self.arena.source(p)}\n{text}\n")


def _unresolved(funcs: tvm.IRModule, target: tvm.target.Target, owners: dict[str, str], exc: Exception) -> ExportError:
    """The ExportError for a failed tvm.compile: each kernel is compiled alone to find the ones
    that fail, and the op TVM could not lower is named with the kernel and its components."""
    culprits = []
    for gv, func in funcs.functions.items():
        try:
            tvm.compile(tvm.IRModule({gv: func}), target=target)
        except Exception as single:      # noqa: BLE001 - TVM raises plain errors
            op = _UNRESOLVED_OP.search(str(single))
            what = f"the op {op.group(1)}, which has no C99 function" if op else str(single).splitlines()[0]
            culprits.append(f"kernel '{gv.name_hint}' of {owners.get(gv.name_hint, 'the network')} needs {what}")
    if not culprits:
        return ExportError(f"TVM could not build the kernels for {target}: {exc}")
    return ExportError("a C bundle cannot be built: " + "; ".join(culprits)
                       + " (a C bundle has no runtime library; express the computation with other ops)")


def compile_c_kernels(relax_mod: tvm.IRModule, layout: Layout, target: Target, labels: dict[str, str]) -> CKernels:
    """Fuse the step and compile its kernels with TVM's C backend for `target` (a c-bundle
    target); `labels` names each component ("'stp' (STPDenseSynapse)") for error messages."""
    register_c_rules()
    tvm_target = tvm.target.Target(target.tvm_target)
    with tvm.transform.PassContext(config={"tirx.disable_assert": not target.kernel_checks}):
        plan, funcs = plan_kernels(relax_mod, layout)
        owners = kernel_owners(plan, layout, labels)
        try:
            library = tvm.compile(funcs, target=tvm_target)
        except Exception as exc:      # noqa: BLE001
            raise _unresolved(funcs, tvm_target, owners, exc) from exc
    return CKernels.of(plan, library.mod.inspect_source(), layout, labels)


def _symbols(tool: str, library: Path, *flags: str) -> set[str]:
    done = subprocess.run([tool, *flags, str(library)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ExportError(f"{tool} {' '.join(flags)} {library.name} failed: {done.stderr[-2000:]}")
    return {line.split()[-1] for line in done.stdout.splitlines() if line.strip() and not line.endswith(":")}


def allowed_symbol(name: str) -> bool:
    """May a bundle leave `name` undefined? C99 libm, memcpy/memset/memmove, compiler helpers."""
    return name in c99_symbols() or name in LIBC or COMPILER_HELPERS.match(name) is not None


def external_symbols(library: Path, target: Target) -> set[str]:
    """Symbols the static library needs from outside itself (by the target's nm)."""
    return _symbols(target.nm_tool, library, "-u") - _symbols(target.nm_tool, library, "--defined-only")


def check_symbols(library: Path, target: Target, kernels: CKernels, prefix: str) -> list[str]:
    """The external symbols of `library` (sorted); ExportError if one is not allowed_symbol,
    naming it and the kernels (with their components) that call it."""
    needed = sorted(external_symbols(library, target))
    refused = [name for name in needed if not allowed_symbol(name)]
    if refused:
        raise ExportError(f"lib{prefix}.a for '{target.name}' needs symbols that a C bundle does not provide: "
                          + "; ".join(f"{name} ({', '.join(kernels.users_of(name)) or 'the driver'})"
                                      for name in refused)
                          + " (allowed: C99 libm, memcpy/memset/memmove, the compiler's helpers)")
    return needed
