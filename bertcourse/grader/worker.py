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


def _load_state(module, state: dict) -> None:
    """Copy ``state`` (name -> array) into ``module``'s parameters, whose names must be exactly those."""
    import torch

    own = dict(module.named_parameters())
    missing, extra = sorted(set(state) - set(own)), sorted(set(own) - set(state))
    if missing or extra:
        raise KeyError(f"parameter names differ from the reference: missing {missing}, extra {extra}")
    with torch.no_grad():
        for key, array in state.items():
            own[key].copy_(torch.as_tensor(array))


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
            _load_state(module, request["state"])
        for index, state in (request.get("reload") or {}).items():
            _load_state(init[int(index)], state)
        module.eval()
        args = [torch.as_tensor(a) if type(a).__name__ == "ndarray" else a for a in request.get("args", [])]
        with torch.no_grad():
            output = module(*args)
        if request.get("count_parameters"):
            return {"output": output, "num_parameters": sum(p.numel() for p in module.parameters())}
        return output


def call(namespace: dict, request: dict):
    """Answer a ``call`` request: the student's function on the decoded arguments."""
    args = [_argument(namespace, a) for a in request["args"]]
    kwargs = {k: _argument(namespace, v) for k, v in request.get("kwargs", {}).items()}
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
