"""TVM's workspace requests in a C bundle: one static arena, sized at compile time.

A fused kernel whose intermediate needs 1 KiB or more (TVM's stack limit, kMaxStackAlloca) asks
the runtime for it: `TVMBackendAllocWorkspace(device, id, nbytes, ...)` on entry, and
`TVMBackendFreeWorkspace` in reverse order before it returns. A C bundle has no runtime, so
aotsnn answers these calls itself, from one array in `.bss`:

- The sizes are constants in the kernels TVM writes; `ArenaPlan.of` reads every request of every
  kernel (a request whose size is not a constant is refused at compile time). Kernels run one
  after another and free everything before returning, so the arena is as large as the largest
  sum of one kernel's requests, each rounded up to ARENA_ALIGN.
- `<model>_arena_alloc` hands out the next block (a bump pointer); `<model>_arena_free` takes
  back only the most recent block (TVM frees in reverse order; anything else is reported as an
  error, never ignored). The driver resets the arena at the start of every run, so a kernel that
  failed half way cannot leak blocks into the next call. An exhausted arena (impossible when
  the sizes were read right) makes the allocation return NULL, which the kernel reports as a
  failure: never a write out of bounds, never malloc.

The arena is shared by every instance of the model in one program (it is scratch that lives
only during one kernel call), so two threads must not run the same model at the same time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from aotsnn.export.errors import ExportError

ARENA_ALIGN = 64           # TVM's workspace alignment on CPUs (kAllocAlignment)
ALLOC = "TVMBackendAllocWorkspace"
FREE = "TVMBackendFreeWorkspace"
_CONSTANT_REQUEST = re.compile(ALLOC + r"\(\s*[^,()]+,\s*[^,()]+,\s*\(uint64_t\)(\d+)ULL\s*,")


def _aligned(nbytes: int) -> int:
    return (nbytes + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN


@dataclass(frozen=True)
class ArenaPlan:
    """The workspace requests of each kernel (bytes, in order) and the arena that serves them."""

    requests: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, functions: dict[str, str], owners: dict[str, str]) -> "ArenaPlan":
        """Read the requests from the C bodies of the kernels (`functions`: name -> body);
        `owners` names the component(s) of each kernel for error messages."""
        requests = {}
        for name, body in functions.items():
            sizes = [int(n) for n in _CONSTANT_REQUEST.findall(body)]
            if len(sizes) != body.count(ALLOC + "("):
                raise ExportError(f"kernel '{name}' of {owners.get(name, 'the network')} asks for a workspace "
                                  "whose size is not a compile-time constant; a C bundle can only serve "
                                  "constant sizes.")
            if sizes:
                requests[name] = tuple(sizes)
        return cls(requests)

    @property
    def nbytes(self) -> int:
        """Arena size: the largest sum of one kernel's aligned requests (0: no kernel asks)."""
        return max((sum(_aligned(n) for n in sizes) for sizes in self.requests.values()), default=0)

    @property
    def depth(self) -> int:
        """The most blocks one kernel holds at once."""
        return max((len(sizes) for sizes in self.requests.values()), default=0)

    def to_json(self) -> dict:
        return {"bytes": self.nbytes, "blocks": self.depth,
                "kernels": {name: list(sizes) for name, sizes in sorted(self.requests.items())}}

    def source(self, prefix: str) -> str:
        """C of `<prefix>_arena_alloc/_free/_reset` (empty when no kernel asks for workspace)."""
        if not self.requests:
            return ""
        p, n, depth = prefix, self.nbytes, self.depth
        return f"""
/* TVM's workspace requests, served from a static arena sized at compile time (aotsnn.export.kernels.arena). */
#define {p.upper()}_ARENA_BYTES {n}u
static unsigned char {p}_arena[{n} + {ARENA_ALIGN}];          /* .bss; aligned by hand below */
static size_t {p}_arena_top;                                  /* bytes in use */
static size_t {p}_arena_marks[{depth}];                       /* start of each live block */
static int {p}_arena_depth;

static void {p}_arena_error(const char *what) {{
  const char *parts[1];
  parts[0] = what;
  {p}_error_from_parts("RuntimeError", parts, 1);
}}

static unsigned char *{p}_arena_base(void) {{
  return {p}_arena + (({ARENA_ALIGN} - ((uintptr_t){p}_arena % {ARENA_ALIGN})) % {ARENA_ALIGN});
}}

void {p}_arena_reset(void) {{ {p}_arena_top = 0; {p}_arena_depth = 0; }}

void *{p}_arena_alloc(int device_type, int device_id, uint64_t nbytes, int dtype_code, int dtype_bits) {{
  size_t need = (size_t)((nbytes + {ARENA_ALIGN - 1}u) / {ARENA_ALIGN}u * {ARENA_ALIGN}u);
  (void)device_type; (void)device_id; (void)dtype_code; (void)dtype_bits;
  if (nbytes > {n}u || need > {n}u - {p}_arena_top || {p}_arena_depth >= {depth}) {{
    {p}_arena_error("the kernels' workspace arena is exhausted");
    return NULL;
  }}
  {p}_arena_marks[{p}_arena_depth++] = {p}_arena_top;
  {p}_arena_top += need;
  return {p}_arena_base() + {p}_arena_marks[{p}_arena_depth - 1];
}}

int {p}_arena_free(int device_type, int device_id, void *ptr) {{
  (void)device_type; (void)device_id;
  if ({p}_arena_depth == 0 || (unsigned char *)ptr != {p}_arena_base() + {p}_arena_marks[{p}_arena_depth - 1]) {{
    {p}_arena_error("a kernel freed workspace out of order");
    return -1;
  }}
  {p}_arena_top = {p}_arena_marks[--{p}_arena_depth];
  return 0;
}}
"""

    def rename(self, text: str, prefix: str) -> str:
        """TVM's workspace calls in `text` become calls of this arena."""
        text = re.sub(rf"\b{ALLOC}\b", f"{prefix}_arena_alloc", text)
        return re.sub(rf"\b{FREE}\b", f"{prefix}_arena_free", text)
