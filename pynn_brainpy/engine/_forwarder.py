"""Forwarders: the native functions XLA calls as FFI handlers while numba still compiles the
handlers themselves.

XLA needs a registered function for each custom-call target before it compiles the program
that calls it, but not the handler's machine code until the program runs. A forwarder is
registered at once, so that XLA compiles while numba compiles the handler in the background
(:func:`.native.register`)::

    XLA_FFI_Error* forward(XLA_FFI_CallFrame* frame):
        if frame's extensions include XLA's metadata query:
            answer it (API version, no traits); return NULL
        while (handler = *word) == 0: usleep(200)        # still being compiled
        if handler < 0: return NULL                      # it failed: check_compiled raises
        return handler(frame)

XLA asks for the metadata while JAX lowers a program that calls the target, in the thread
that traces it, holding Python's lock: a forwarder that waited there for the handler would
wait for a compilation that needs that lock.

A forwarder is a few LLVM instructions, compiled in this process only (its addresses are
constants: nothing is kept on disk) in an LLVM context and engine of its own, so that it
never waits for numba's compiler lock, which a background compilation may hold for seconds.
"""

import ctypes
import threading

import llvmlite.binding as llvm
from llvmlite import ir

__all__ = ["forwarder"]

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_BYTES = ir.IntType(8).as_pointer()
_HANDLER = ir.FunctionType(_BYTES, [_BYTES])
_LOCK = threading.Lock()
_KEEP = []             # (context, engine): the machine code lives as long as both


def forwarder(word_address: int, api_version: tuple, offsets: dict) -> int:
    """The address of a new forwarder to the handler whose address is the int64 at
    ``word_address`` (0 while it compiles, negative if it failed). ``api_version``: the
    (major, minor) it reports; ``offsets``: the word offsets of the C API's structs
    (``frame_extension``, ``extension_type``, ``extension_next``, ``extension_metadata``;
    ``metadata_type``, the extension type's value; ``major``, ``minor``, ``traits``, the
    int32 fields of XLA_FFI_Metadata)."""
    module = ir.Module("pynn_brainpy_forwarder")
    module.triple = llvm.get_process_triple()
    function = ir.Function(module, _HANDLER, "forward")
    blocks = {name: function.append_basic_block(name) for name in
              ("entry", "scan", "look", "next", "answer", "wait", "sleep", "ready", "call",
               "none")}
    b = ir.IRBuilder(blocks["entry"])
    frame = b.ptrtoint(function.args[0], _I64)

    def word(address, offset):
        pointer = b.inttoptr(b.add(address, ir.Constant(_I64, 8 * offset)), _I64.as_pointer())
        return b.load(pointer)

    first = word(frame, offsets["frame_extension"])
    b.branch(blocks["scan"])
    b.position_at_end(blocks["scan"])                   # the list of extensions
    extension = b.phi(_I64)
    extension.add_incoming(first, blocks["entry"])
    b.cbranch(b.icmp_unsigned("==", extension, ir.Constant(_I64, 0)), blocks["wait"],
              blocks["look"])
    b.position_at_end(blocks["look"])
    kind = b.and_(word(extension, offsets["extension_type"]), ir.Constant(_I64, 0xFFFFFFFF))
    b.cbranch(b.icmp_unsigned("==", kind, ir.Constant(_I64, offsets["metadata_type"])),
              blocks["answer"], blocks["next"])
    b.position_at_end(blocks["next"])
    extension.add_incoming(word(extension, offsets["extension_next"]), blocks["next"])
    b.branch(blocks["scan"])
    b.position_at_end(blocks["answer"])                 # XLA's metadata query
    metadata = b.inttoptr(word(extension, offsets["extension_metadata"]), _I32.as_pointer())
    for field, value in (("major", api_version[0]), ("minor", api_version[1]), ("traits", 0)):
        b.store(ir.Constant(_I32, value), b.gep(metadata, [ir.Constant(_I64, offsets[field])]))
    b.ret(ir.Constant(_BYTES, None))
    b.position_at_end(blocks["wait"])                   # the call: the handler, once there
    handler = b.load_atomic(b.inttoptr(ir.Constant(_I64, word_address), _I64.as_pointer()),
                            "acquire", 8)
    b.cbranch(b.icmp_signed("==", handler, ir.Constant(_I64, 0)), blocks["sleep"],
              blocks["ready"])
    b.position_at_end(blocks["sleep"])
    usleep = ctypes.cast(ctypes.CDLL(None).usleep, ctypes.c_void_p).value
    b.call(b.inttoptr(ir.Constant(_I64, usleep), ir.FunctionType(_I32, [_I32]).as_pointer()),
           [ir.Constant(_I32, 200)])
    b.branch(blocks["wait"])
    b.position_at_end(blocks["ready"])
    b.cbranch(b.icmp_signed("<", handler, ir.Constant(_I64, 0)), blocks["none"],
              blocks["call"])
    b.position_at_end(blocks["none"])
    b.ret(ir.Constant(_BYTES, None))
    b.position_at_end(blocks["call"])
    b.ret(b.call(b.inttoptr(handler, _HANDLER.as_pointer()), [function.args[0]], tail=True))

    with _LOCK:
        if not _KEEP:          # once, before the first (numba may not have started LLVM yet)
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
        context = llvm.create_context()
        parsed = llvm.parse_assembly(str(module), context=context)
        parsed.verify()
        machine = llvm.Target.from_default_triple().create_target_machine(opt=1)
        engine = llvm.create_mcjit_compiler(parsed, machine)
        engine.finalize_object()
        _KEEP.append((context, engine))
        return engine.get_function_address("forward")
