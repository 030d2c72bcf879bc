"""The plan walk of the GPU drivers (cuda, opencl): what one call does, as data, for any GPU API.

The host drivers run the plan in place through `TimeLoop` (aotsnn.export.codegen.driver); a GPU
driver keeps every buffer in device memory and can only launch kernels and copy between
buffers. `DeviceLoop` turns the plan into that list, once, so the CUDA and the OpenCL driver
run the same steps in the same order and differ only in how they spell a launch and a copy:

    refresh (parameters changed):  the parameter-only kernel calls
    each step t:                   the other kernel calls, in plan order;
                                   copy every output into step t of its output buffer;
                                   stage the new-state leaves that are another leaf's old value;
                                   copy every new-state leaf that a kernel wrote elsewhere

A place is a plan `Ref` (param, state, input step, temp, const), `Output(o)` (step t of output
o's buffer of T steps) or `Stage(i)` (the staging slot of state leaf i).
"""
from __future__ import annotations

from dataclasses import dataclass

from aotsnn.export.codegen.driver import TimeLoop, _nbytes
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import KernelCall, Plan, Ref


@dataclass(frozen=True)
class Output:
    index: int           # step t of output `index`


@dataclass(frozen=True)
class Stage:
    index: int           # the staging slot of state leaf `index`


@dataclass(frozen=True)
class Copy:
    dst: Ref | Output | Stage
    src: Ref | Output | Stage
    nbytes: int
    what: str            # for error messages: "output exc.spikes", "new exc.v"


class DeviceLoop:
    """The calls and copies of one step of `plan`, and those run when parameters change."""

    def __init__(self, plan: Plan, layout: Layout) -> None:
        self.plan, self.layout = plan, layout
        self.loop = TimeLoop(plan, layout, lambda k: k, "")     # workspace layout and staged state

    def nbytes(self, group: str, i: int) -> int:
        leaf = getattr(self.layout, group)[i]
        return _nbytes(leaf.shape, leaf.dtype)

    def refresh(self) -> list[KernelCall]:
        """Kernel calls that read only parameters and constants: run when the parameters changed."""
        return [call for call in self.plan.calls if call.invariant]

    def step(self) -> list[KernelCall | Copy]:
        plan, layout, S = self.plan, self.layout, len(self.layout.state)
        actions: list[KernelCall | Copy] = [call for call in plan.calls if not call.invariant]
        for o, leaf in enumerate(layout.outputs):
            actions.append(Copy(Output(o), plan.results[S + o], self.nbytes("outputs", o), f"output {leaf.name}"))
        for i, ref in self.loop.staged.items():
            actions.append(Copy(Stage(i), Ref("state", ref.index), self.nbytes("state", i),
                                f"stage {layout.state[i].name}"))
        for i, leaf in enumerate(layout.state):
            ref = plan.results[i]
            if ref.kind == "state" and ref.index == i:
                continue
            origin = Stage(i) if i in self.loop.staged else ref
            actions.append(Copy(Ref("state", i), origin, self.nbytes("state", i), f"new {leaf.name}"))
        return actions
