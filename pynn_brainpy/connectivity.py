"""
Vectorised construction of PyNN projections.

PyNN's generic connectors (``pyNN.connectors``) build a projection by looping
over post-synaptic cells in Python and calling
``Projection._convergent_connect(presynaptic_indices, postsynaptic_index,
**parameters)`` once per cell.  That is slow for large networks, so this
module builds the whole connection list of the common connectors with NumPy
array operations instead.

Entry point::

    build_connections(connector, projection)
        -> (pre_idx, post_idx, params) | None

* ``pre_idx`` / ``post_idx``: ``int64`` arrays of indices *within*
  ``projection.pre`` / ``projection.post`` (not IDs), sorted by post index,
  then pre index (stable: repeated pairs of multi-connections keep their
  generation order).
* ``params``: ``dict`` mapping every parameter name of
  ``projection.synapse_type.parameter_space`` -- the **PyNN (standard) names
  and units**, e.g. ``weight`` in µS (conductance-based) or nA
  (current-based), ``delay`` in ms, ``U``, ``tau_rec``... -- to a ``float64``
  array with one value per connection.  Translation to native names/units
  is left to the caller (e.g. ``synapse_type.translate``), because the
  translations may need the values of several parameters together.
* ``None``: the connector (or one of its options, or one of the synapse
  parameter values) is not handled here; the caller should fall back to
  ``connector.connect(projection)``, i.e. PyNN's own loop.

What the caller must provide on ``projection``:

* ``pre`` and ``post``: objects with ``size`` (int), ``all_cells`` (array of
  IDs; a pre and a post cell are the same cell iff their IDs are equal) and,
  for distance-dependent connectors or parameters, ``positions`` (3 x size);
* ``synapse_type`` with ``parameter_space`` (a ``pyNN.parameters.
  ParameterSpace`` in PyNN names/units; the ``None`` delay default is
  already replaced by the minimum delay when the synapse type is created)
  and, for ``FromListConnector``, ``get_parameter_names()``;
* ``space`` (a ``pyNN.space.Space``) for anything distance-dependent.

Random numbers are drawn through the connector's ``rng`` (``rng.next(...)``)
so that results are reproducible from its seed.  For the probabilistic
connectors on small and medium projections (fewer than ``_SPARSE_MIN_PAIRS``
candidate pairs) the uniform variates are drawn column by column exactly as
``pyNN.connectors`` draws them, so the connection set is the same as PyNN's
own loop for the same seed.  Synapse parameters given as
``RandomDistribution`` are drawn once per connection in the output order
(post-major), which is also the order PyNN's loop uses.

Connectors handled: AllToAll, OneToOne, FixedProbability,
DistanceDependentProbability, IndexBasedProbability (and its subclass
DisplacementDependentProbability), FixedNumberPre, FixedNumberPost,
FixedTotalNumber, FromList and Array.  ``None`` is returned for the others
(CloneConnector, CSAConnector, SmallWorldConnector, FromFileConnector and
any subclass that overrides ``connect``), for connectors with a
``location_selector``, for ``allow_self_connections='NoMutual'`` except on
the probability-based connectors between identical cell sets, for a
``NativeRNG`` and for synapse parameter values of unsupported kinds.
"""

from copy import copy

import numpy as np

from pyNN import connectors as _c
from pyNN import errors
from pyNN.core import IndexBasedExpression
from pyNN.random import NativeRNG, RandomDistribution
from pyNN.space import Space

__all__ = ["build_connections", "evaluate_parameters", "pair_distances"]

#: Number of elements (pairs) processed per block by the dense builders.
_BLOCK_ELEMENTS = 1 << 22
#: FixedProbabilityConnector switches from drawing one uniform variate per
#: candidate pair to sampling the connections directly (binomial count, then
#: distinct positions) above this number of candidate pairs ...
_SPARSE_MIN_PAIRS = 1 << 24
#: ... when p_connect is at most this.
_SPARSE_MAX_P = 0.2

_INT = np.int64


class _Unsupported(Exception):
    """Internal: a feature this module does not vectorise (-> return None)."""


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

def _empty():
    return np.empty(0, dtype=_INT), np.empty(0, dtype=_INT)


def _ids(cells):
    return np.asarray([int(x) for x in cells], dtype=_INT) if len(cells) else np.empty(0, _INT)


def _cell_ids(population):
    cells = population.all_cells
    try:
        return np.asarray(cells, dtype=_INT)
    except (TypeError, ValueError):
        return _ids(cells)


def _same_cells(projection):
    """True if pre and post are the same cells in the same order."""
    return np.array_equal(_cell_ids(projection.pre), _cell_ids(projection.post))


def _self_index(source_ids, target_ids):
    """For each target cell, the index in ``source_ids`` of the same cell (or -1).

    Raises ``_Unsupported`` if ``source_ids`` contains duplicates (then a
    target could coincide with several sources).
    """
    out = np.full(target_ids.size, -1, dtype=_INT)
    if source_ids.size == 0 or target_ids.size == 0:
        return out
    order = np.argsort(source_ids, kind="stable")
    sorted_ids = source_ids[order]
    if np.any(sorted_ids[1:] == sorted_ids[:-1]):
        raise _Unsupported("duplicate cell IDs")
    pos = np.searchsorted(sorted_ids, target_ids)
    pos_c = np.minimum(pos, sorted_ids.size - 1)
    hit = sorted_ids[pos_c] == target_ids
    out[hit] = order[pos_c[hit]]
    return out


def _uniform(rng, n):
    """``n`` uniform variates in [0, 1) drawn through a PyNN RNG."""
    if n == 0:
        return np.empty(0)
    return np.asarray(rng.next(int(n), "uniform", {"low": 0.0, "high": 1.0}), dtype=float)


def _randint(rng, highs):
    """One uniform integer in [0, highs[k]) per element of ``highs`` (all > 0)."""
    highs = np.asarray(highs, dtype=_INT)
    u = _uniform(rng, highs.size)
    return np.minimum(np.floor(u * highs).astype(_INT), highs - 1)


def _skip_excluded(values, excluded):
    """Map ranks among allowed values to values, skipping ``excluded``.

    ``values[k]`` is a rank in [0, m - 1); ``excluded[k]`` is the single value
    to skip for that element (or -1 for none).
    """
    return values + ((excluded >= 0) & (values >= excluded))


def _sort_pairs(pre, post, n_pre):
    """Permutation ordering pairs by (post, pre), stable; None if already ordered."""
    if pre.size < 2:
        return None
    key = post * max(n_pre, 1) + pre
    if np.all(key[1:] >= key[:-1]):
        return None
    return np.argsort(key, kind="stable")


def _column_blocks(n_rows, n_cols):
    """Yield arrays of column indices, blocks of about _BLOCK_ELEMENTS elements."""
    step = max(1, _BLOCK_ELEMENTS // max(n_rows, 1))
    for start in range(0, n_cols, step):
        yield np.arange(start, min(start + step, n_cols), dtype=_INT)


def _to_counts(n, size, what):
    """Per-cell connection counts from an int or a RandomDistribution."""
    if isinstance(n, RandomDistribution):
        counts = np.asarray(n.next(size), dtype=float).reshape(-1) if size else np.empty(0)
    else:
        counts = np.full(size, n, dtype=float)
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise errors.ConnectionError(f"{what}: number of connections must be >= 0")
    return counts.astype(_INT)


# ---------------------------------------------------------------------------
# sampling without replacement, vectorised over many rows
# ---------------------------------------------------------------------------

def _sample_distinct(rng, k, m):
    """Draw ``k[r]`` distinct integers from ``range(m[r])`` for every row r.

    Each k-subset is equally likely.  Rows with k <= m/4 use rejection (draw
    with replacement, redraw repeats until all distinct; the procedure is
    symmetric under relabelling, hence uniform over subsets), denser rows
    pick the k smallest of m uniform keys.  Cost is O(sum(k)) on average.

    Returns ``(rows, values)`` ordered by row, then value.
    """
    k = np.asarray(k, dtype=_INT)
    m = np.asarray(m, dtype=_INT)
    if np.any(k > m):
        raise ValueError("cannot draw more distinct values than available")
    m_max = int(m.max()) if m.size else 0
    keys_out = []

    sparse_rows = np.nonzero((k > 0) & (4 * k <= m))[0]
    if sparse_rows.size:
        rows = np.repeat(sparse_rows, k[sparse_rows])
        keys = rows * m_max + _randint(rng, m[rows])
        keys_sorted = np.sort(keys, kind="stable")
        repeat = np.zeros(keys_sorted.size, dtype=bool)
        repeat[1:] = keys_sorted[1:] == keys_sorted[:-1]
        accepted = keys_sorted[~repeat]
        pending = keys_sorted[repeat] // m_max  # rows still needing a value
        while pending.size:
            cand = pending * m_max + _randint(rng, m[pending])
            _, first = np.unique(cand, return_index=True)
            fresh = np.zeros(cand.size, dtype=bool)
            fresh[first] = True
            pos = np.minimum(np.searchsorted(accepted, cand), accepted.size - 1)
            fresh &= accepted[pos] != cand
            accepted = np.sort(np.concatenate([accepted, cand[fresh]]), kind="stable")
            pending = pending[~fresh]
        keys_out.append(accepted)

    dense_rows = np.nonzero((k > 0) & (4 * k > m))[0]
    if dense_rows.size:
        step = max(1, _BLOCK_ELEMENTS // max(m_max, 1))
        cols = np.arange(m_max, dtype=_INT)
        for start in range(0, dense_rows.size, step):
            rws = dense_rows[start:start + step]
            u = _uniform(rng, rws.size * m_max).reshape(rws.size, m_max)
            u[cols[None, :] >= m[rws, None]] = 2.0  # outside this row's range
            kmax = int(k[rws].max())
            chosen = np.argsort(u, axis=1, kind="stable")[:, :kmax]
            take = np.arange(kmax)[None, :] < k[rws, None]
            sel = np.zeros((rws.size, m_max), dtype=bool)
            sel[np.nonzero(take)[0], chosen[take]] = True
            r_local, v = np.nonzero(sel)
            keys_out.append(rws[r_local] * m_max + v)

    if not keys_out:
        return _empty()
    keys = keys_out[0] if len(keys_out) == 1 else np.sort(np.concatenate(keys_out))
    return keys // m_max, keys % m_max


def _fixed_number(rng, counts, pool, exclude, with_replacement):
    """Core of FixedNumberPre/Post.

    For each row r (a target cell of the choice), pick ``counts[r]`` partners
    among ``pool`` candidates, skipping the candidate ``exclude[r]`` (>= 0) if
    self-connections are forbidden.  With replacement: independent uniform
    draws.  Without replacement: every allowed partner ``counts // allowed``
    times, plus a uniformly chosen subset of size ``counts % allowed``
    (PyNN's semantics).  Returns ``(rows, partners)``.
    """
    allowed = pool - (exclude >= 0)
    if np.any((counts > 0) & (allowed <= 0)):
        raise errors.ConnectionError(
            "cannot make the requested connections: no allowed partner cell")
    rows_all = np.arange(counts.size, dtype=_INT)
    if with_replacement:
        rows = np.repeat(rows_all, counts)
        vals = _randint(rng, allowed[rows])
        return rows, _skip_excluded(vals, exclude[rows])
    safe_allowed = np.maximum(allowed, 1)
    full_sets = np.where(allowed > 0, counts // safe_allowed, 0)
    remainder = np.where(allowed > 0, counts % safe_allowed, 0)
    n_full = full_sets * allowed
    rows_f = np.repeat(rows_all, n_full)
    offsets = np.cumsum(n_full) - n_full
    vals_f = (np.arange(rows_f.size, dtype=_INT) - offsets[rows_f]) % safe_allowed[rows_f]
    rows_r, vals_r = _sample_distinct(rng, remainder, allowed)
    rows = np.concatenate([rows_f, rows_r])
    vals = np.concatenate([vals_f, vals_r])
    return rows, _skip_excluded(vals, exclude[rows])


# ---------------------------------------------------------------------------
# distances and parameter evaluation
# ---------------------------------------------------------------------------

def pair_distances(space, pre_positions, post_positions, pre_idx, post_idx):
    """Distances between the pairs (pre_idx[k], post_idx[k]) in ``space``.

    Same rules as ``pyNN.space.Space.distances`` (axes, scale_factor and
    offset applied to the post-synaptic positions, periodic boundaries), but
    evaluated on the given pairs only, without a dense distance matrix.
    ``*_positions`` are 3 x N arrays.
    """
    pre_idx = np.asarray(pre_idx, dtype=_INT)
    post_idx = np.asarray(post_idx, dtype=_INT)
    if not (isinstance(space, Space) and type(space).distances is Space.distances):
        # unknown space class: use its own (outer) distances one post cell at a time
        out = np.empty(pre_idx.size)
        for j in np.unique(post_idx):
            sel = post_idx == j
            out[sel] = space.distances(pre_positions.T[pre_idx[sel]],
                                       post_positions.T[j]).reshape(-1)
        return out
    a = np.asarray(pre_positions).T[pre_idx]
    b = space.scale_factor * (np.asarray(post_positions).T[post_idx] + space.offset)
    d2 = np.zeros(pre_idx.size, dtype=np.result_type(a.dtype, float))
    for axis in space.axes:
        diff = a[:, axis] - b[:, axis]
        if space.periodic_boundaries is not None:
            bounds = space.periodic_boundaries[axis]
            if bounds is not None:
                span = bounds[1] - bounds[0]
                diff = np.abs(diff)
                diff = np.minimum(diff, span - diff)
        d2 += diff * diff
    return np.sqrt(d2)


def _broadcast(values, n):
    values = np.asarray(values, dtype=float)
    if values.shape == (n,):
        return values
    if values.size == 1:
        return np.full(n, values.reshape(()), dtype=float)
    raise _Unsupported(f"parameter evaluates to shape {values.shape}, expected ({n},)")


def _evaluate_lazy(lazy, projection, pre_idx, post_idx, cache):
    """Evaluate a PyNN LazyArray (or plain value) on the given pairs."""
    n = pre_idx.size
    base = getattr(lazy, "base_value", lazy)
    operations = getattr(lazy, "operations", [])
    n_pre, n_post = projection.pre.size, projection.post.size

    if isinstance(base, (bool, int, float, np.number, np.bool_)):
        values = np.full(n, float(base))
    elif isinstance(base, RandomDistribution):
        values = (np.asarray(base.next(n), dtype=float).reshape(-1)
                  if n else np.empty(0))
    elif isinstance(base, IndexBasedExpression):
        expr = copy(base)
        expr.projection = projection
        values = _broadcast(expr(pre_idx, post_idx) if n else np.empty(0), n)
    elif callable(base):
        # a function of the pre-post distance (PyNN's convention for
        # callables and string expressions of 'd' in synapse parameters)
        if "d" not in cache:
            cache["d"] = pair_distances(projection.space, projection.pre.positions,
                                        projection.post.positions, pre_idx, post_idx)
        values = _broadcast(base(cache["d"]) if n else np.empty(0), n)
    elif isinstance(base, (np.ndarray, list, tuple)):
        arr = np.asarray(base)
        if arr.dtype == object:
            raise _Unsupported("object array parameter")
        if arr.ndim == 0 or arr.size == 1:
            values = np.full(n, float(arr.reshape(-1)[0]))
        elif arr.shape == (n_pre, n_post):
            values = np.asarray(arr[pre_idx, post_idx], dtype=float)
        elif arr.shape == (n,):
            values = np.asarray(arr, dtype=float)  # one value per connection
        else:
            raise errors.InvalidDimensionsError(
                f"parameter array of shape {arr.shape} matches neither "
                f"({n_pre}, {n_post}) nor the number of connections ({n})")
    else:
        raise _Unsupported(f"parameter value of type {type(base).__name__}")

    for f, arg in operations:
        if arg is None:
            values = f(values)
        elif hasattr(arg, "base_value"):
            values = f(values, _evaluate_lazy(arg, projection, pre_idx, post_idx, cache))
        else:
            values = f(values, arg)
    return _broadcast(values, n)


def _check_lazy(lazy):
    """Raise ``_Unsupported`` if ``_evaluate_lazy`` cannot handle this value."""
    base = getattr(lazy, "base_value", lazy)
    if isinstance(base, (np.ndarray, list, tuple)):
        if np.asarray(base).dtype == object:
            raise _Unsupported("object array parameter")
    elif not (isinstance(base, (bool, int, float, np.number, np.bool_, RandomDistribution))
              or callable(base)):
        raise _Unsupported(f"parameter value of type {type(base).__name__}")
    for _, arg in getattr(lazy, "operations", []):
        if hasattr(arg, "base_value"):
            _check_lazy(arg)


def _check_parameters(projection, skip=()):
    for name, lazy in projection.synapse_type.parameter_space.items():
        if name not in skip:
            _check_lazy(lazy)


def evaluate_parameters(projection, pre_idx, post_idx, skip=()):
    """Evaluate the synapse parameters of ``projection`` on given connections.

    Returns ``{name: float64 array of len(pre_idx)}`` for every parameter of
    ``projection.synapse_type.parameter_space`` (PyNN names and units) not in
    ``skip``.  Values may be scalars, ``RandomDistribution`` (one draw per
    connection, in the given order), (n_pre, n_post) arrays (indexed with the
    pairs), arrays with one value per connection, ``IndexBasedExpression``
    (called with the paired index arrays) or functions / string expressions
    of the distance ``d`` (evaluated on the pairs only).

    Raises ``_Unsupported`` (internal) for other kinds of values.
    """
    pre_idx = np.asarray(pre_idx, dtype=_INT)
    post_idx = np.asarray(post_idx, dtype=_INT)
    cache = {}
    out = {}
    for name, lazy in projection.synapse_type.parameter_space.items():
        if name in skip:
            continue
        out[name] = _evaluate_lazy(lazy, projection, pre_idx, post_idx, cache)
    return out


# ---------------------------------------------------------------------------
# builders: each returns (pre_idx, post_idx) or raises _Unsupported
# ---------------------------------------------------------------------------

def _check_self_option(connector, allow_no_mutual):
    flag = getattr(connector, "allow_self_connections", True)
    if isinstance(flag, str):
        if flag == "NoMutual" and allow_no_mutual:
            return flag
        raise _Unsupported(f"allow_self_connections={flag!r}")
    return bool(flag)


def _get_rng(connector):
    rng = connector.rng
    if isinstance(rng, NativeRNG):
        raise _Unsupported("NativeRNG")
    return rng


def _pair_mask_block(flag, projection, cols, pre_ids, post_ids, same_cells):
    """Allowed pairs for a block of post columns, shape (len(cols), n_pre), or None."""
    if flag is True:
        return None
    if flag == "NoMutual":
        return np.arange(projection.pre.size)[None, :] > cols[:, None]
    return pre_ids[None, :] != post_ids[cols, None]


def _connect_dense(projection, flag, probability_block=None, rng=None):
    """Generic post-column-blocked builder for map-based connectors.

    ``probability_block(cols)`` returns an array broadcastable to
    (len(cols), n_pre) of connection probabilities; a uniform variate per
    candidate pair is drawn column by column (PyNN's order) and the pair is
    connected if it is below the probability.  With ``probability_block=None``
    every allowed pair is connected.
    """
    n_pre, n_post = projection.pre.size, projection.post.size
    pre_ids = _cell_ids(projection.pre)
    post_ids = _cell_ids(projection.post)
    same = flag == "NoMutual" and _same_cells(projection)
    if flag == "NoMutual" and not same:
        raise _Unsupported("NoMutual between different cell sets")
    pres, posts = [], []
    for cols in _column_blocks(n_pre, n_post):
        if probability_block is None:
            conn = np.ones((cols.size, n_pre), dtype=bool)
        else:
            p = probability_block(cols)
            u = _uniform(rng, cols.size * n_pre).reshape(cols.size, n_pre)
            conn = u < p
        mask = _pair_mask_block(flag, projection, cols, pre_ids, post_ids, same)
        if mask is not None:
            conn &= mask
        c, i = np.nonzero(conn)
        pres.append(i.astype(_INT))
        posts.append(cols[c])
    if not pres:
        return _empty()
    return np.concatenate(pres), np.concatenate(posts)


def _build_all_to_all(connector, projection):
    """AllToAllConnector: every pre cell to every post cell.

    With ``allow_self_connections=False`` pairs whose pre and post cells are
    the same cell (equal IDs) are left out, whatever the pre/post objects are
    (Population, view or Assembly).
    """
    flag = _check_self_option(connector, allow_no_mutual=False)
    return _connect_dense(projection, flag)


def _build_one_to_one(connector, projection):
    """OneToOneConnector: pre cell i to post cell i.

    As in PyNN's generic implementation, for different sizes only the first
    min(n_pre, n_post) indices are connected.
    """
    n = min(projection.pre.size, projection.post.size)
    idx = np.arange(n, dtype=_INT)
    return idx, idx.copy()


def _build_fixed_probability(connector, projection):
    """FixedProbabilityConnector: each allowed pair independently with p_connect.

    Self pairs (equal IDs) are removed when ``allow_self_connections=False``;
    with ``'NoMutual'`` (pre and post the same cells) only pairs with
    pre index > post index are kept, as in PyNN.  Up to
    ``_SPARSE_MIN_PAIRS`` candidate pairs (or for p_connect > _SPARSE_MAX_P)
    one uniform variate is drawn per pair in PyNN's order (same connections
    as PyNN for the same seed); beyond that the number of connections is
    drawn from Binomial(n_pre*n_post, p) and their positions uniformly
    without replacement, which has the same distribution.
    """
    flag = _check_self_option(connector, allow_no_mutual=True)
    rng = _get_rng(connector)
    p = float(connector.p_connect)
    n_pre, n_post = projection.pre.size, projection.post.size
    n_pairs = n_pre * n_post
    if n_pairs <= _SPARSE_MIN_PAIRS or p > _SPARSE_MAX_P:
        return _connect_dense(projection, flag, lambda cols: p, rng)
    if flag == "NoMutual" and not _same_cells(projection):
        raise _Unsupported("NoMutual between different cell sets")
    n_conn = int(np.asarray(rng.next(1, "binomial", {"n": n_pairs, "p": p})).reshape(-1)[0])
    _, flat = _sample_distinct(rng, [n_conn], [n_pairs])
    post, pre = flat // n_pre, flat % n_pre
    if flag is False:
        keep = _cell_ids(projection.pre)[pre] != _cell_ids(projection.post)[post]
        pre, post = pre[keep], post[keep]
    elif flag == "NoMutual":
        keep = pre > post
        pre, post = pre[keep], post[keep]
    return pre, post


def _distance_function(connector):
    f = getattr(connector, "distance_function", None)
    if f is None:
        expr = connector.d_expression
        f = expr if callable(expr) else eval("lambda d: %s" % expr, vars(_c))
    return f


def _build_distance_dependent(connector, projection):
    """DistanceDependentProbabilityConnector: pair (i, j) with probability f(d_ij).

    ``d_ij`` is the distance in ``projection.space`` between the positions of
    pre cell i and post cell j; ``f`` is the connector's ``d_expression``.
    Self-connection options as for FixedProbabilityConnector; one uniform
    variate per pair, drawn in PyNN's order.
    """
    flag = _check_self_option(connector, allow_no_mutual=True)
    rng = _get_rng(connector)
    f = _distance_function(connector)
    space = projection.space
    pre_pos = np.asarray(projection.pre.positions).T
    post_pos = np.asarray(projection.post.positions).T
    n_pre = projection.pre.size

    def probability(cols):
        d = space.distances(pre_pos, post_pos[cols]).reshape(n_pre, cols.size).T
        return f(d)

    return _connect_dense(projection, flag, probability, rng)


def _build_index_based(connector, projection):
    """IndexBasedProbabilityConnector: pair (i, j) with probability expr(i, j).

    The ``IndexBasedExpression`` is copied, given the projection, and called
    with paired 1-D index arrays (pre index, post index) for blocks of post
    cells.  Self-connection options as for FixedProbabilityConnector.
    """
    flag = _check_self_option(connector, allow_no_mutual=True)
    rng = _get_rng(connector)
    expr = copy(connector.index_expression)
    expr.projection = projection
    n_pre = projection.pre.size
    pre_range = np.arange(n_pre, dtype=_INT)

    def probability(cols):
        i = np.tile(pre_range, cols.size)
        j = np.repeat(cols, n_pre)
        p = np.asarray(expr(i, j), dtype=float)
        return p.reshape(cols.size, n_pre) if p.size == i.size else p

    return _connect_dense(projection, flag, probability, rng)


def _build_fixed_number_pre(connector, projection):
    """FixedNumberPreConnector: every post cell receives exactly n connections.

    ``n`` is an int or a ``RandomDistribution`` (one draw per post cell).
    With replacement: n independent uniform choices of pre cell (duplicates
    possible).  Without replacement: no duplicates while n <= number of
    allowed pre cells; beyond that every allowed pre cell is taken
    ``n // allowed`` times plus ``n % allowed`` distinct random ones (PyNN's
    semantics).  With ``allow_self_connections=False`` the pre cell that is
    the same cell (equal ID) as the post cell is never chosen; note PyNN's
    own loop applies this only when ``pre == post``, here it holds for any
    overlapping cell sets.
    """
    flag = _check_self_option(connector, allow_no_mutual=False)
    rng = _get_rng(connector)
    n_pre, n_post = projection.pre.size, projection.post.size
    if flag:
        exclude = np.full(n_post, -1, dtype=_INT)
    else:
        exclude = _self_index(_cell_ids(projection.pre), _cell_ids(projection.post))
    counts = _to_counts(connector.n, n_post, "FixedNumberPreConnector")
    post, pre = _fixed_number(rng, counts, n_pre, exclude, connector.with_replacement)
    return pre, post


def _build_fixed_number_post(connector, projection):
    """FixedNumberPostConnector: every pre cell makes exactly n connections.

    Mirror image of FixedNumberPreConnector: ``n`` (int, or one draw per pre
    cell from a ``RandomDistribution``) post cells are chosen per pre cell,
    with the same replacement and self-connection rules.
    """
    flag = _check_self_option(connector, allow_no_mutual=False)
    rng = _get_rng(connector)
    n_pre, n_post = projection.pre.size, projection.post.size
    if flag:
        exclude = np.full(n_pre, -1, dtype=_INT)
    else:
        exclude = _self_index(_cell_ids(projection.post), _cell_ids(projection.pre))
    counts = _to_counts(connector.n, n_pre, "FixedNumberPostConnector")
    pre, post = _fixed_number(rng, counts, n_post, exclude, connector.with_replacement)
    return pre, post


def _build_fixed_total_number(connector, projection):
    """FixedTotalNumberConnector: exactly n connections in total.

    Each connection is a uniformly chosen (pre, post) pair.  With replacement
    (the default) the pairs are independent, as in PyNN; without
    replacement n distinct pairs are chosen (error if n exceeds the number of
    allowed pairs).  ``allow_self_connections=False`` removes the self pairs
    (equal IDs) from the candidates.  (PyNN's generic loop ignores both
    options; these are the documented semantics, as in NEST's
    ``fixed_total_number`` rule.)  A ``RandomDistribution`` n is drawn once.
    """
    flag = _check_self_option(connector, allow_no_mutual=False)
    rng = _get_rng(connector)
    n_pre, n_post = projection.pre.size, projection.post.size
    if flag:
        excluded = np.empty(0, dtype=_INT)
    else:
        self_pre = _self_index(_cell_ids(projection.pre), _cell_ids(projection.post))
        cols = np.nonzero(self_pre >= 0)[0]
        excluded = np.sort(cols * n_pre + self_pre[cols])  # flat = post*n_pre + pre
    n = int(_to_counts(connector.n, 1, "FixedTotalNumberConnector")[0])
    if n == 0:
        return _empty()
    n_allowed = n_pre * n_post - excluded.size
    if n_allowed <= 0:
        raise errors.ConnectionError("FixedTotalNumberConnector: no allowed pair of cells")
    if connector.with_replacement:
        ranks = np.sort(_randint(rng, np.full(n, n_allowed, dtype=_INT)))
    else:
        if n > n_allowed:
            raise errors.ConnectionError(
                f"FixedTotalNumberConnector: {n} connections requested without "
                f"replacement but only {n_allowed} pairs are allowed")
        _, ranks = _sample_distinct(rng, [n], [n_allowed])
    # rank among allowed flat indices -> flat index (skip excluded ones)
    flat = ranks + np.searchsorted(excluded - np.arange(excluded.size), ranks, side="right")
    return flat % n_pre, flat // n_pre


def _build_array(connector, projection):
    """ArrayConnector: connect (i, j) wherever ``array[i, j]`` is true/non-zero.

    The array must have shape (n_pre, n_post).
    """
    arr = np.asarray(connector.array)
    shape = (projection.pre.size, projection.post.size)
    if arr.shape != shape:
        raise errors.InvalidDimensionsError(
            f"ArrayConnector: array of shape {arr.shape}, projection shape {shape}")
    post, pre = np.nonzero(arr.astype(bool).T)
    return pre.astype(_INT), post.astype(_INT)


def _from_list(connector, projection):
    """FromListConnector: the connections listed in ``conn_list``.

    Columns are (pre index, post index, *column_names).  Parameters given as
    columns override the synapse type's values; the other parameters come
    from the synapse type, evaluated per connection.  Repeated pairs give
    multiple connections.  Returns ``(pre, post, params)`` already ordered.
    """
    names = tuple(connector.column_names)
    valid = projection.synapse_type.get_parameter_names()
    for name in names:
        if name not in valid:
            raise ValueError("%s is not a valid parameter for %s" % (
                name, projection.synapse_type.__class__.__name__))
    conn = np.asarray(connector.conn_list)
    if conn.size == 0:
        pre, post = _empty()
        return pre, post, evaluate_parameters(projection, pre, post)
    conn = conn.reshape(conn.shape[0], -1) if conn.ndim != 2 else conn
    pre = conn[:, 0].astype(_INT)
    post = conn[:, 1].astype(_INT)
    if np.any(pre < 0) or np.any(pre >= projection.pre.size):
        raise errors.ConnectionError("source index out of range")
    if np.any(post < 0) or np.any(post >= projection.post.size):
        raise errors.ConnectionError("target index out of range")
    columns = {name: conn[:, col].astype(float) for col, name in enumerate(names, 2)}
    order = _sort_pairs(pre, post, projection.pre.size)
    if order is not None:
        pre, post = pre[order], post[order]
        columns = {name: values[order] for name, values in columns.items()}
    params = evaluate_parameters(projection, pre, post, skip=columns)
    params.update(columns)
    return pre, post, params


_BUILDERS = (
    (_c.AllToAllConnector, _build_all_to_all),
    (_c.OneToOneConnector, _build_one_to_one),
    (_c.FixedProbabilityConnector, _build_fixed_probability),
    (_c.DistanceDependentProbabilityConnector, _build_distance_dependent),
    (_c.IndexBasedProbabilityConnector, _build_index_based),
    (_c.FixedNumberPreConnector, _build_fixed_number_pre),
    (_c.FixedNumberPostConnector, _build_fixed_number_post),
    (_c.FixedTotalNumberConnector, _build_fixed_total_number),
    (_c.ArrayConnector, _build_array),
    (_c.FromListConnector, _from_list),
)


def _find_builder(connector):
    """Builder for the connector's class, if its ``connect`` is PyNN's own."""
    for cls, builder in _BUILDERS:
        if isinstance(connector, cls) and type(connector).connect is cls.connect:
            return builder
    return None


def build_connections(connector, projection):
    """Build all connections of ``projection`` made by ``connector``, vectorised.

    Returns ``(pre_idx, post_idx, params)`` or ``None``:

    * ``pre_idx``, ``post_idx``: ``int64`` arrays of indices within
      ``projection.pre`` / ``projection.post``, ordered by post index then
      pre index (stable);
    * ``params``: ``{name: float64 array}`` with one value per connection
      for every parameter in ``projection.synapse_type.parameter_space``,
      in PyNN names and units (weight in µS or nA, delay in ms, ...);
    * ``None`` if the connector type, one of its options or one of the
      synapse parameter values is not vectorised here; the caller should
      then use ``connector.connect(projection)``.

    Invalid requests raise the same kinds of error as PyNN
    (``pyNN.errors.ConnectionError``, ``ValueError``,
    ``pyNN.errors.InvalidDimensionsError``).
    """
    builder = _find_builder(connector)
    if builder is None or getattr(connector, "location_selector", None) is not None:
        return None
    try:
        # check parameter values first, so that no random number is consumed
        # before a fallback to PyNN's loop
        skip = tuple(getattr(connector, "column_names", ())) if builder is _from_list else ()
        _check_parameters(projection, skip)
        result = builder(connector, projection)
        if len(result) == 3:
            pre, post, params = result
        else:
            pre, post = result
            pre = np.asarray(pre, dtype=_INT)
            post = np.asarray(post, dtype=_INT)
            order = _sort_pairs(pre, post, projection.pre.size)
            if order is not None:
                pre, post = pre[order], post[order]
            params = evaluate_parameters(projection, pre, post)
    except _Unsupported:
        return None
    return (np.ascontiguousarray(pre, dtype=_INT),
            np.ascontiguousarray(post, dtype=_INT),
            {name: np.ascontiguousarray(v, dtype=float) for name, v in params.items()})


def evaluate_on_pairs(parameter_space, projection, pre_idx, post_idx):
    """Evaluate every value of a (n_pre, n_post) ``ParameterSpace`` on the given pairs.

    Used by ``Projection.set``: the vectorised evaluation of :func:`evaluate_parameters`
    where it applies, otherwise the whole matrix evaluated by PyNN and indexed.
    """
    pre_idx = np.asarray(pre_idx, dtype=_INT)
    post_idx = np.asarray(post_idx, dtype=_INT)
    cache, out = {}, {}
    for name, lazy in parameter_space.items():
        try:
            _check_lazy(lazy)
            out[name] = _evaluate_lazy(lazy, projection, pre_idx, post_idx, cache)
        except (_Unsupported, TypeError):
            # e.g. a distance function that PyNN has already applied to its (i, j) distance
            # generator (Projection.set does that): PyNN evaluates the matrix
            full = np.asarray(lazy.evaluate(simplify=False), dtype=float)
            out[name] = np.broadcast_to(full, (projection.pre.size, projection.post.size))[
                pre_idx, post_idx].copy()
    return out
