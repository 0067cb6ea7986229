"""The sandboxed end of the re-check: runs a student's answer cells and answers calls.

Started by :mod:`bertcourse.grader.recheck` inside the same jail as the grading
kernel (``python -m bertcourse.grader.worker``). It reads a program (the
release's setup cells and the student's answer cells), runs it, then answers
requests until the channel closes:

* ``{"op": "set", "name", "value"}`` binds a value the checker sends (e.g. a vocabulary);
* ``{"op": "call", "target", "args", "kwargs", "return_args"}`` calls a function the student
  defined (an argument ``{"$ref": name}`` stands for a value bound by ``set``,
  ``{"$torch_generator": seed}`` / ``{"$random": seed}`` for a freshly seeded generator);
  with ``return_args`` the reply is ``{"result", "args"}``, the tensor arguments as the call left them;
* ``{"op": "module", "target", "config", "state", "args", "substitute"}`` builds the
  student's ``nn.Module`` from a ``BertConfig``, loads the checker's parameters and
  runs ``forward`` in eval mode under ``no_grad``. With ``"init"`` (a list of arguments)
  instead of ``"config"`` the module is built from those arguments, where
  ``{"$module": {"reference", "config", "state"}}`` stands for a reference module (e.g. a
  ``BertLayer``) with the checker's weights; ``"state"`` may then be omitted;
  ``"reload"`` (``{index: state}``) loads new weights into such an argument after the
  student's module is built (a module that copied it instead of keeping it shows);
  ``"count_parameters"`` returns ``{"output", "num_parameters"}``.
* ``{"op": "origin", "target", "reference"}`` says whether ``target`` was written in the
  notebook (its code comes from the program's cells) or is an object from elsewhere: the
  reference itself, found by walking the package, a ``functools.partial``, a subclass.

A ``call`` or ``module`` request with ``"forbid": "module:attr"`` fails when the answer
runs the code of that reference implementation (a wrapper around the reference).

Results go back through :mod:`bertcourse.grader.codec` (plain data and arrays only).
Nothing here is trusted: the checker compares every result with a reference it
computes itself, so a student who tampers with this process can only fail.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import sys
import traceback

from . import codec


def _channel():
    """Move the protocol to private descriptors; the student's prints go to stderr."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(read_fd, "rb", buffering=0), os.fdopen(write_fd, "wb", buffering=0)


class _Reader:
    def __init__(self, raw):
        self.raw = raw

    def read(self, n):
        chunks, left = [], n
        while left:
            chunk = self.raw.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _load(reference: str):
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


def _argument(namespace, value):
    """A call argument: arrays become tensors; ``{"$ref": name}`` a bound value,
    ``{"$torch_generator": seed}`` a seeded CPU ``torch.Generator``, ``{"$random": seed}`` a ``random.Random``."""
    # Imported here, after the protocol channel is set up: nothing imported may write to the protocol's stdout.
    import torch

    if type(value).__name__ == "ndarray":
        return torch.as_tensor(value)
    if isinstance(value, dict) and len(value) == 1:
        (key, item), = value.items()
        if key == "$ref":
            return namespace[item]
        if key == "$torch_generator":
            return torch.Generator().manual_seed(int(item))
        if key == "$random":
            return random.Random(int(item))
        if key == "$module":  # a trusted reference module with the checker's weights
            from bertcourse.models.bert import BertConfig

            module = _load(item["reference"])(BertConfig(**item["config"]))
            _load_state(module, item["state"])
            return module.eval()
    return value


def _load_state(module, state: dict, name: str = "module") -> None:
    """Copy ``state`` (name -> array) into ``module``: names and shapes checked as in the notebook."""
    import torch

    from bertcourse.grading import load_reference_weights  # imported late, like torch: see _module_call

    load_reference_weights(name, module, {key: torch.as_tensor(array) for key, array in state.items()})


CELL_FILE = "<cell "  # the file name every cell of the program is compiled under (see main)
OUTSIDE = ("bertcourse", "transformers")


def _functions_of(obj) -> list:
    """The plain functions an object is made of: itself, or a class's own methods (properties included)."""
    import inspect

    if inspect.isfunction(obj):
        return [obj]
    found = []
    for value in vars(obj).values() if inspect.isclass(obj) else ():
        value = getattr(value, "__func__", value)  # staticmethod, classmethod
        if isinstance(value, property):
            found += [f for f in (value.fget, value.fset) if f is not None]
        elif inspect.isfunction(value):
            found.append(value)
    return found


def _from_outside(filename: str) -> bool:
    import importlib.util

    for package in OUTSIDE:
        spec = importlib.util.find_spec(package)
        folders = list(spec.submodule_search_locations or []) if spec else []
        if any(os.path.realpath(filename).startswith(os.path.realpath(folder) + os.sep) for folder in folders):
            return True
    return False


def origin(namespace: dict, name: str, reference: str | None) -> dict:
    """``{"written_here": bool, "why": str}``: was ``name`` defined by the notebook's own cells?"""
    import inspect

    obj = namespace.get(name)
    if obj is None:
        return {"written_here": True, "why": "not defined (the calls will say so)"}
    if reference is not None:
        try:
            if obj is _load(reference):
                return {"written_here": False, "why": f"`{name}` is the reference implementation "
                                                      f"{reference.replace(':', '.')} itself"}
        except Exception:  # noqa: BLE001 - a reference that does not import here is not the answer
            pass
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return {"written_here": False, "why": f"`{name}` is a {type(obj).__module__}.{type(obj).__qualname__}, "
                                              "not a function or class written in the notebook"}
    if inspect.isclass(obj):
        bases = [f"{b.__module__}.{b.__qualname__}" for b in obj.__mro__[1:] if b.__module__.startswith(OUTSIDE)]
        if bases:
            return {"written_here": False, "why": f"`{name}` derives from {bases[0]}"}
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and not getattr(getattr(wrapped, "__code__", None), "co_filename", "").startswith(
            CELL_FILE):
        return {"written_here": False, "why": f"`{name}` wraps {getattr(wrapped, '__module__', '?')}."
                                              f"{getattr(wrapped, '__qualname__', '?')}"}
    functions = _functions_of(obj)
    written = [f for f in functions if f.__code__.co_filename.startswith(CELL_FILE)]
    # Beside methods written in a cell, a class may have generated ones (dataclasses, namedtuple): only
    # code from the course's package or transformers counts as taken from outside.
    outside = [f for f in functions if f not in written and _from_outside(f.__code__.co_filename)]
    if not written or outside:
        where = f"{outside[0].__module__}.{outside[0].__qualname__}" if outside else f"{obj.__module__}"
        return {"written_here": False, "why": f"`{name}` is defined in {where}, not in the notebook"}
    return {"written_here": True, "why": ""}


@contextlib.contextmanager
def _forbid(reference: str | None):
    """Raise after the block when it ran the code of ``reference`` (a wrapper that delegates to it)."""
    if not reference:
        yield
        return
    codes = {f.__code__ for f in _functions_of(_load(reference))}
    ran: list[str] = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in codes and not ran:
            ran.append(frame.f_code.co_name)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        yield
    finally:
        sys.setprofile(previous)
    if ran:
        raise PermissionError(f"the answer runs the reference implementation {reference.replace(':', '.')} "
                              f"({ran[0]}); write it yourself")


def _module_call(namespace, request):
    # Imported here, after the protocol channel is set up: nothing imported may write to the protocol's stdout.
    import torch

    from bertcourse.models.bert import BertConfig

    with contextlib.ExitStack() as stack:
        saved = {}
        for name, reference in (request.get("substitute") or {}).items():
            saved[name] = namespace.get(name)
            namespace[name] = _load(reference)
        stack.callback(namespace.update, saved)
        torch.manual_seed(0)
        if "init" in request:
            init = [_argument(namespace, a) for a in request["init"]]
            module = namespace[request["target"]](*init)
        else:
            module = namespace[request["target"]](BertConfig(**request["config"]))
        if request.get("state") is not None:
            _load_state(module, request["state"], request["target"])
        for index, state in (request.get("reload") or {}).items():
            _load_state(init[int(index)], state)
        module.eval()
        args = [torch.as_tensor(a) if type(a).__name__ == "ndarray" else a for a in request.get("args", [])]
        with torch.no_grad(), _forbid(request.get("forbid")):
            output = module(*args)
        if request.get("count_parameters"):
            return {"output": output, "num_parameters": sum(p.numel() for p in module.parameters())}
        return output


def call(namespace: dict, request: dict):
    """Answer a ``call`` request: the student's function on the decoded arguments."""
    args = [_argument(namespace, a) for a in request["args"]]
    kwargs = {k: _argument(namespace, v) for k, v in request.get("kwargs", {}).items()}
    with _forbid(request.get("forbid")):
        result = namespace[request["target"]](*args, **kwargs)
    if request.get("return_args"):  # what the call left in its inputs (in-place edits show)
        # Imported here, after the protocol channel is set up: nothing imported may write to the protocol's stdout.
        import torch

        result = {"result": result, "args": [a for a in args if isinstance(a, torch.Tensor)]}
    return result


def main() -> int:
    reader, writer = _channel()
    reader = _Reader(reader)
    program = codec.read_frame(reader)
    namespace = {"__name__": "__main__"}
    errors = {}
    worker = os.getpid()
    for grade_id, source in program["cells"]:
        codec.write_frame(writer, {"running": grade_id})  # if this process dies now, the checker knows where
        try:
            exec(compile(source, f"<cell {grade_id}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - a broken cell is an answer, not a crash
            errors[grade_id] = f"{type(error).__name__}: {error}"
        if os.getpid() != worker:  # a child the cell forked: it must not talk on the channel
            os._exit(0)
    codec.write_frame(writer, {"ready": True, "errors": errors})
    while True:
        try:
            request = codec.read_frame(reader)
        except EOFError:
            return 0
        try:
            if request["op"] == "set":
                namespace[request["name"]] = request["value"]
                result = None
            elif request["op"] == "call":
                result = call(namespace, request)
            elif request["op"] == "module":
                result = _module_call(namespace, request)
            elif request["op"] == "origin":
                result = origin(namespace, request["target"], request.get("reference"))
            else:
                raise ValueError(f"unknown op {request['op']!r}")
            reply = codec.encode({"ok": True, "result": result})
        except BaseException as error:  # noqa: BLE001
            reply = codec.encode({"ok": False, "error": f"{type(error).__name__}: {error}",
                                  "where": traceback.format_exc(limit=-2)[-600:]})
        writer.write(len(reply).to_bytes(8, "big") + reply)
        writer.flush()


if __name__ == "__main__":
    sys.exit(main())
