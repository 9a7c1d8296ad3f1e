"""Native CPU operations for XLA: functions compiled by numba, called by XLA as FFI handlers.

A handler is a ``numba.cfunc`` that XLA calls with its call frame (``XLA_FFI_CallFrame*``),
with no Python in between. The helpers here read that frame as the C API of the installed
jaxlib lays it out (``xla/ffi/api/c_api.h``); :func:`register` registers a handler as an XLA
custom-call target on the CPU at once (a forwarder, :mod:`._forwarder`, answers XLA's query
for the API version) and compiles it in the background, while XLA compiles the program that
calls it. With a source file numba keeps the machine code on disk under a name that carries
the API version, so a cached handler never answers for another jaxlib.

Without the header (a jaxlib that does not ship it) :func:`api_version` is None and the
callers use their plain-XLA versions.
"""

import concurrent.futures
import ctypes
import functools
import hashlib
import importlib.util
import os
import re
import sys
from typing import Callable, Dict, Optional, Tuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic, register_jitable

from . import _forwarder, warmup

__all__ = ["api_version", "register", "compile_cfunc", "compile_in_background",
           "wait_for_compilations", "check_compiled", "export_word", "extern_word",
           "extern_address", "call_address", "integer_address", "usleep", "words", "ARGS",
           "RETS", "frame_of", "frame_at", "buffer", "vector", "data", "is_f64",
           "done", "next_nonzero", "nonzero_bytes", "SOURCES_DIGEST",
           "with_sources_digest", "named_handler", "HANDLER_SIGNATURE", "neurons_from",
           "rows_from", "import_generated"]

#: The modules whose numba functions the cached native code inlines across files.
_NATIVE_SOURCES = ("native.py", "native_loop.py", "_ring_worker.py", "_event_handler.py")


def _sources_digest(directory: str) -> str:
    """The digest of the native sources in ``directory``; "nosources" where they cannot be
    read (numba then cannot keep machine code on disk either: it needs the source files)."""
    digest = hashlib.sha1()
    try:
        for name in _NATIVE_SOURCES:
            with open(os.path.join(directory, name), "rb") as f:
                digest.update(f.read())
    except OSError:
        return "nosources"
    return digest.hexdigest()[:12]


#: A digest of :data:`_NATIVE_SOURCES`, part of the name of every function whose machine code
#: numba keeps on disk and loads from Python or XLA (:func:`with_sources_digest`).
SOURCES_DIGEST = _sources_digest(os.path.dirname(__file__))


def with_sources_digest(function: Callable) -> Callable:
    """``function`` with :data:`SOURCES_DIGEST` in its qualified name, before numba caches it.

    numba finds cached machine code by the function's name and checks only the function's
    own source file: a handler that inlines a helper from another module (``_ring_worker``'s
    handler inlines ``native.next_nonzero``; a generated loop's module, whose file never
    changes, inlines ``_ring_worker.loop_in_halves``) would otherwise be loaded from an older
    version of that helper, which may lay out the worker's control block differently."""
    if not function.__qualname__.endswith(SOURCES_DIGEST):
        function.__qualname__ = f"{function.__qualname__}_{SOURCES_DIGEST}"
    return function


# Word offsets (8 bytes) in XLA's C structs on 64-bit platforms (xla/ffi/api/c_api.h).
# XLA_FFI_CallFrame: struct_size, extension_start, api, ctx, stage, args{struct_size,
# extension_start, size, types, args}, rets{struct_size, extension_start, size, types, rets}, ...
_FRAME_EXTENSION, ARGS, RETS = 1, 9, 14
# XLA_FFI_Buffer: struct_size, extension_start, dtype (XLA_FFI_DataType), data, rank, dims
_BUFFER_DTYPE, _BUFFER_DATA, _BUFFER_DIMS = 2, 3, 5
_F64 = 12
# XLA_FFI_Extension_Base: struct_size, type, next; the metadata extension adds a pointer to
# XLA_FFI_Metadata, whose int32 fields 6, 7, 8 are the API's major and minor version and the
# handler's traits.
_EXTENSION_TYPE, _EXTENSION_NEXT, _EXTENSION_METADATA, _METADATA_TYPE = 1, 2, 3, 1
_MAJOR, _MINOR, _TRAITS = 6, 7, 8


@intrinsic
def _pointer(typingctx, address):
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


def _global_word(builder, name):
    """The module's declaration of the external int64 ``name``."""
    word = builder.module.globals.get(name)
    if word is None:
        word = ir.GlobalVariable(builder.module, ir.IntType(64), name)
        word.linkage = "external"
    return word


@intrinsic
def extern_word(typingctx, symbol):
    """The int64 behind the process's symbol ``symbol`` (a string literal), which
    :func:`export_word` defined. Machine code kept on disk by numba refers to the symbol, not
    to an address: a later process links its own word."""
    if not isinstance(symbol, types.StringLiteral):
        return None
    name = symbol.literal_value

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_global_word(builder, name), "acquire", 8)
    return types.int64(symbol), codegen


@intrinsic
def extern_address(typingctx, symbol):
    """The address of the process's int64 symbol ``symbol`` (:func:`extern_word`), for code
    that also writes the word."""
    if not isinstance(symbol, types.StringLiteral):
        return None
    name = symbol.literal_value

    def codegen(context, builder, sig, args):
        return builder.ptrtoint(_global_word(builder, name), ir.IntType(64))
    return types.int64(symbol), codegen


@intrinsic
def usleep(typingctx, microseconds):
    """libc's usleep, linked by name (a ctypes function would keep numba from caching)."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(32)]), "usleep")
        builder.call(fn, [builder.trunc(args[0], ir.IntType(32))])
        return context.get_dummy_value()
    return types.void(types.int64), codegen


#: Bytes tested at once by :func:`next_nonzero` and :func:`nonzero_bytes` (one AVX-512
#: register, two AVX2 ones).
_BLOCK = 64


@intrinsic
def _nonzero_byte_mask(typingctx, address):
    """Bit ``k`` set if byte ``k`` of the ``_BLOCK`` bytes from ``address`` is nonzero (a
    vector compare and its mask, as x86's ``vpcmpb``/``pmovmskb``)."""
    def codegen(context, builder, sig, args):
        vector_type = ir.VectorType(ir.IntType(8), _BLOCK)
        value = builder.load(builder.inttoptr(args[0], vector_type.as_pointer()), align=1)
        nonzero = builder.icmp_unsigned("!=", value, ir.Constant(vector_type, None))
        return builder.bitcast(nonzero, ir.IntType(_BLOCK))
    return types.uint64(types.int64), codegen


@register_jitable        # called with 0 and with a variable: see the readers below
def next_nonzero(values, i):
    """The first index ``≥ i`` at which the contiguous 1-d array ``values`` is nonzero,
    ``values.size`` if none.

    For arrays that are almost all zeros (a step's spike counts: ~10 of 5000 senders
    spike), skipped ``_BLOCK`` bytes at a time (one vector compare; LLVM does not make one of
    a loop over the elements): the ring worker's ``_post`` went from 3.3 to 1.0 µs per step
    of the GLIF network (``benchmarks/thread_profile.py``, session 14). A block holding only
    negative zeros is looked at element by element, with the same result."""
    n = values.shape[0]
    per_block = _BLOCK // values.itemsize
    start = values.ctypes.data
    while i + per_block <= n and _nonzero_byte_mask(start + i * values.itemsize) == 0:
        i += per_block
    while i < n and values[i] == 0:
        i += 1
    return i


def _llvm_bit_count(builder, name, word, *flags):
    """``llvm.<name>.i64(word, flags...)``; ``flags`` are i1 constants."""
    i64 = ir.IntType(64)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(i64, [i64] + [ir.IntType(1)] * len(flags)),
        f"llvm.{name}.i64")
    return builder.call(fn, [word] + [ir.Constant(ir.IntType(1), f) for f in flags])


@intrinsic
def _ones(typingctx, word):
    """The set bits of a word (x86's ``popcnt``)."""
    def codegen(context, builder, sig, args):
        return _llvm_bit_count(builder, "ctpop", args[0])
    return types.uint64(types.uint64), codegen


@intrinsic
def _trailing_zeros(typingctx, word):
    """The zero bits below the lowest set bit of a word (x86's ``tzcnt``; 64 for 0)."""
    def codegen(context, builder, sig, args):
        return _llvm_bit_count(builder, "cttz", args[0], 0)
    return types.uint64(types.uint64), codegen


@numba.njit(error_model="numpy", boundscheck=False, nogil=True, cache=True)
def nonzero_bytes(flat):
    """``np.flatnonzero`` of a contiguous uint8 array, 64 bytes at a time: one pass counts,
    one lists (lowest set bit first, so in order)."""
    n, start = flat.shape[0], flat.ctypes.data
    whole = n // _BLOCK * _BLOCK
    count = 0
    for b in range(0, whole, _BLOCK):
        count += _ones(_nonzero_byte_mask(start + b))
    for i in range(whole, n):
        count += flat[i] != 0
    at = np.empty(count, np.int64)
    k = 0
    for b in range(0, whole, _BLOCK):
        mask = _nonzero_byte_mask(start + b)
        while mask:
            at[k] = b + _trailing_zeros(mask)
            k += 1
            mask &= mask - numba.uint64(1)
    for i in range(whole, n):
        if flat[i] != 0:
            at[k] = i
            k += 1
    return at


_EXPORTED = {}     # symbol -> its ctypes word (kept alive: compiled code reads it)


def export_word(symbol: str, value: int) -> None:
    """Define (or set) the process's int64 symbol ``symbol``, read by :func:`extern_word`;
    before any code that refers to it is compiled or loaded."""
    import llvmlite.binding as llvm
    word = _EXPORTED.get(symbol)
    if word is None:
        word = _EXPORTED[symbol] = ctypes.c_int64(0)
        llvm.add_symbol(symbol, ctypes.addressof(word))
    word.value = int(value)


@intrinsic
def call_address(typingctx, function, argument):
    """Call the native ``void function(int64 argument)`` at address ``function``."""
    def codegen(context, builder, sig, args):
        callee = ir.FunctionType(ir.VoidType(), [ir.IntType(64)])
        builder.call(builder.inttoptr(args[0], callee.as_pointer()), [args[1]])
        return context.get_dummy_value()
    return types.void(types.int64, types.int64), codegen


# The memory and call-frame readers below are overloads (register_jitable), not dispatchers:
# numba compiles a dispatcher once per literal argument value, and the handlers and loops call
# them with constants (buffer(frame, ARGS, 3), words(address, 1)): 46 compilations of
# ``buffer`` alone in the GLIF network's first run (its dispatcher's overloads, counted in a
# scratch run); an overload is typed with plain integers, once. The first run of
# benchmarks/glif_network.py with empty caches went from 22.9-24.0 s to 16.9-18.0 s.
@register_jitable
def words(address, n):
    """``n`` int64 words at ``address``."""
    return numba.carray(_pointer(address), (n,), np.int64)


@register_jitable
def frame_of(address):
    """The call frame's words, up to the table of results."""
    return numba.carray(address, (RETS + 1,), np.int64)


@intrinsic
def integer_address(typingctx, pointer):
    """A pointer (a handler's ``frame_address``) as an int64, to hand on; :func:`frame_at`
    reads the frame back."""
    def codegen(context, builder, sig, args):
        return builder.ptrtoint(args[0], ir.IntType(64))
    return types.int64(types.voidptr), codegen


@register_jitable
def frame_at(address):
    """:func:`frame_of` for a frame address held as an int64."""
    return frame_of(_pointer(address))


@register_jitable
def buffer(frame, table, i):
    """XLA_FFI_Buffer of argument/result ``i`` (``table``: ARGS or RETS), as words."""
    return words(words(frame[table], i + 1)[i], _BUFFER_DIMS + 1)


@register_jitable
def vector(buf, element):
    """A rank-1 buffer's data as a 1-d array of ``element``."""
    n = words(buf[_BUFFER_DIMS], 1)[0]
    return numba.carray(_pointer(buf[_BUFFER_DATA]), (n,), element)


@register_jitable
def data(buf, size, element):
    """A buffer's data (any rank, row-major) as a flat array of ``size`` ``element``s, the
    size known to the caller. (Computing it from the buffer's dimensions in a loop left the
    glif_cond loop the handler calls unvectorised inside XLA, several times slower; seen
    with scratch timings only.)"""
    return numba.carray(_pointer(buf[_BUFFER_DATA]), (size,), element)


@register_jitable        # no compilation per literal argument (words)
def neurons_from(values, first, end, n):
    """Neurons ``first … end − 1`` of an (N,) array of ``n``, or a one-number array (a value
    shared by every neuron, read before the loop) as it is."""
    return values[first:end] if values.shape[0] == n else values


@register_jitable        # no compilation per literal argument (words)
def rows_from(values, first, rows, n):
    """A constant from neuron ``first`` on, where it has a value per neuron (``rows`` rows of
    ``n``); else (one value per row) as it is."""
    return values[first:] if values.shape[0] == rows * n else values


@register_jitable
def is_f64(buf):
    return (buf[_BUFFER_DTYPE] & 0xFFFFFFFF) == _F64


@register_jitable
def done():
    """A handler's return value: no error."""
    return _pointer(0)


@functools.lru_cache(maxsize=None)
def api_version() -> Optional[Tuple[int, int]]:
    """(major, minor) of the XLA FFI C API of the installed jaxlib, or None."""
    import jaxlib
    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api",
                          "c_api.h")
    try:
        with open(header) as f:
            text = f.read()
    except OSError:
        return None
    found = [re.search(rf"#define XLA_FFI_API_{part}\s+(\d+)", text) for part in
             ("MAJOR", "MINOR")]
    return None if None in found else (int(found[0].group(1)), int(found[1].group(1)))


_KEEP_ALIVE = []   # compiled handlers: their code must outlive every call

#: The numba signature of every handler: ``XLA_FFI_Error* handler(XLA_FFI_CallFrame*)``.
HANDLER_SIGNATURE = types.voidptr(types.voidptr)


def named_handler(handler: Callable) -> Callable:
    """``handler`` named as numba keeps its machine code on disk: its own name, the installed
    jaxlib's FFI C API version (a cached handler never answers for another) and the native
    sources' digest (:func:`with_sources_digest`)."""
    major, minor = api_version()
    handler.__qualname__ = f"{handler.__name__}_ffi_api_{major}_{minor}"
    return with_sources_digest(handler)


def _vectoriser_options(memory_checks: int, vector_width: int) -> None:
    import llvmlite.binding as llvm
    llvm.set_option("", f"-vectorize-memory-check-threshold={int(memory_checks)}")
    llvm.set_option("", f"-force-vector-width={int(vector_width)}")


def import_generated(path: str):
    """The generated module in the file ``path`` (:mod:`.native_loop`), imported under a name
    of its own: numba's cache finds the functions it keeps on disk by their module."""
    name = "pynn_brainpy_native_" + os.path.splitext(os.path.basename(path))[0]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def wide_vector_width() -> int:
    """A loop vector width, in elements, for the native loops whose every element is a long
    chain of dependent operations: 32 where numba compiles for the host and the host has
    AVX2 (two to four vector registers per value, enough independent work to hide the
    chain's latency), else 0 (LLVM's own choice)."""
    import llvmlite.binding as llvm
    from numba.core import config
    if config.CPU_NAME:                       # numba compiles for another CPU than this one
        return 0
    return 32 if llvm.get_host_cpu_features().get("avx2", False) else 0


# LLVM's default limit on the run-time checks by which its loop vectoriser proves that a
# loop's arrays do not overlap (numba cannot tell it that they never do)
_DEFAULT_MEMORY_CHECKS = 128


def compile_cfunc(function: Callable, signature, cache: bool = True,
                  memory_checks: int = _DEFAULT_MEMORY_CHECKS, vector_width: int = 0):
    """``numba.cfunc(signature)(function)``, kept alive for the process. ``cache``: keep the
    machine code on disk (the function needs a source file). ``memory_checks``: LLVM's limit
    on the vectoriser's overlap checks while it compiles (a loop over many arrays needs more
    than the default to be vectorised); ``vector_width``: the width, in elements, that LLVM's
    loop vectoriser must use (0: its own choice); both set back afterwards. Neither is part
    of numba's cache key: a function compiled with other values must have another source."""
    options = dict(error_model="numpy", boundscheck=False)
    # LLVM's options are the process's: numba's lock keeps other threads' compilations out
    # until they are set back
    with global_compiler_lock:
        _vectoriser_options(memory_checks, vector_width)
        try:
            try:
                compiled = numba.cfunc(signature, cache=cache, **options)(
                    with_sources_digest(function))
            except RuntimeError:        # no writable cache directory: for this process only
                compiled = numba.cfunc(signature, **options)(function)
        finally:
            _vectoriser_options(_DEFAULT_MEMORY_CHECKS, 0)
    _KEEP_ALIVE.append(compiled)
    return compiled


# numba's compilations (seconds, mostly Python) run on this executor's thread while the caller
# traces on and XLA compiles without Python's lock; the handlers' forwarders and the loops'
# handlers wait for the machine code at their first call. numba's own lock keeps one
# compilation from overlapping another.
_COMPILER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pynn_brainpy compiler")
_FAILED: Dict[str, BaseException] = {}       # symbol -> why its function did not compile


# A compilation that waits for :mod:`.warmup`'s second process waits on this thread, so that
# the compiler thread goes on with the others meanwhile.
_WAITER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pynn_brainpy waiter")


def compile_in_background(symbol: str, function: Callable, signature,
                          after: Optional[str] = None, **options) -> None:
    """Compile ``function`` (:func:`compile_cfunc` with ``options``) in the background and set
    the process's word ``symbol`` (:func:`extern_word`) to its address: 0 until then, -1 if
    the compilation failed (:func:`check_compiled` then raises its error). ``after``: a
    :mod:`.warmup` item that is ``function``; if the second process will report it, the
    compilation waits for that (and then loads the machine code from disk)."""
    export_word(symbol, 0)
    if after is not None and warmup.request(after):
        _WAITER.submit(_compile_after, after, symbol, function, signature, options)
    else:
        _COMPILER.submit(_compile_into, symbol, function, signature, options)


def _compile_after(item: str, symbol: str, function: Callable, signature,
                   options: dict) -> None:
    warmup.wait_for(item)
    _compile_into(symbol, function, signature, options)


def _compile_into(symbol: str, function: Callable, signature, options: dict) -> None:
    try:
        compiled = compile_cfunc(function, signature, **options)
    except BaseException as error:      # noqa: BLE001 -- raised by check_compiled
        _FAILED[symbol] = error          # before a waiting caller can see -1
        export_word(symbol, -1)
        return
    export_word(symbol, compiled.address)


def wait_for_compilations() -> None:
    """Return once every compilation submitted so far has ended (each thread takes its own
    in order)."""
    _WAITER.submit(lambda: None).result()
    _COMPILER.submit(lambda: None).result()


def check_compiled() -> None:
    """Raise the error of a function whose background compilation failed: a computation that
    called it since did not run it, so its results are not valid."""
    if _FAILED:
        raise RuntimeError("pynn_brainpy: compiling a native handler or neuron loop failed; "
                           "the results of the computation that called it are not valid"
                           ) from next(iter(_FAILED.values()))


@functools.lru_cache(maxsize=None)
def register(name: str, handler: Callable, cache: bool = True,
             item: Optional[str] = None) -> Optional[str]:
    """Register ``handler(frame_address) -> error pointer`` (a Python function written for
    numba with the helpers above) as the CPU target ``name`` and compile it in the background
    as a ``numba.cfunc`` (:func:`compile_cfunc`, ``cache`` as there), after :mod:`.warmup`'s
    second process if that compiles it (its item ``item``, by default ``name``; only what
    numba keeps on disk): XLA calls a forwarder (:mod:`._forwarder`) that answers its
    metadata query and, at the first call, waits for the handler. Returns ``name``, or None
    where jaxlib lacks the C API header."""
    version = api_version()
    if version is None:
        return None
    symbol = f"{name}_handler"
    compile_in_background(symbol, named_handler(handler), HANDLER_SIGNATURE, cache=cache,
                          after=(item or name) if cache else None)
    address = _forwarder.forwarder(ctypes.addressof(_EXPORTED[symbol]), version, dict(
        frame_extension=_FRAME_EXTENSION, extension_type=_EXTENSION_TYPE,
        extension_next=_EXTENSION_NEXT, extension_metadata=_EXTENSION_METADATA,
        metadata_type=_METADATA_TYPE, major=_MAJOR, minor=_MINOR, traits=_TRAITS))
    import jax
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(address), platform="cpu")
    return name
