r"""Plastic and stochastic synapse dynamics mirroring NEST 3.10's synapse models.

Each class is an engine synapse dynamics (see :class:`pynn_brainpy.engine.network.Synapses`):

* ``params``: dict of per-connection float arrays (may change between runs, no recompiling);
* ``initial_state(weight, n_pre, n_post)``: dict of per-connection (and, for the STDP rules,
  per-target) arrays, always with ``"weight"`` (the weight NEST would report);
* ``step(state, params, pre, post, pre_idx, post_idx, t, key) -> (state, transmitted)``,
  called once per time step over all connections; ``pre``/``post`` are the spike counts of
  the step whose spikes have the time ``t``; ``transmitted`` is what each connection sends
  for this step's presynaptic spikes (it arrives ``delay`` steps later).

Weights, ``w_min``, ``w_max`` and ``eta`` are in the target model's input unit (the PyNN
layer scales them). Times are in ms. Nothing here imports PyNN.

A presynaptic spike with the time stamp ``t`` is handled as NEST's ``send()`` handles it:
``t`` is the spike's stamp (not its arrival time), and a spike count ``n > 1`` in one step is
``n`` spikes with the same stamp handled one after the other.

===================================  ============================  ============================
class                                NEST model                    PyNN type
===================================  ============================  ============================
:class:`TsodyksSynapse`              ``tsodyks_synapse``           TsodyksMarkramSynapse
:class:`StdpSynapse`                 ``stdp_synapse``              STDPMechanism(SpikePairRule)
:class:`VogelsSprekelerSynapse`      ``vogels_sprekeler_synapse``  STDPMechanism(Vogels2011Rule)
:class:`BernoulliSynapse`            ``bernoulli_synapse``         SimpleStochasticSynapse
:class:`QuantalStpSynapse`           ``quantal_stp_synapse``       MultiQuantalSynapse
:class:`StochasticStpSynapse`        PyNN's NEST extension         StochasticTsodyksMarkram...
                                     ``stochastic_stp_synapse``
===================================  ============================  ============================
"""

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TsodyksSynapse", "StdpSynapse", "VogelsSprekelerSynapse", "BernoulliSynapse",
           "QuantalStpSynapse", "StochasticStpSynapse"]


def _array(value, n=None):
    a = np.asarray(value, np.float64)
    return a.reshape(-1) if n is None else np.broadcast_to(a, (n,)).astype(np.float64)


def _check(name, values, ok, sentence):
    """Refuse bad parameter values with a ValueError naming the parameter."""
    values = np.asarray(values, np.float64)
    good = ok(values) & np.isfinite(values) if values.size else np.ones(0, bool)
    if not np.all(good):
        bad = values.reshape(-1)[np.argmin(np.asarray(good).reshape(-1))]
        raise ValueError(f"{name} {sentence} (got {bad}).")


def _each_spike(counts, body, carry):
    """``carry = body(k, active, carry)`` for the k-th spike of every connection with
    ``counts > k`` (k = 0, 1, ... up to the largest count of this step)."""
    counts = jnp.asarray(counts).astype(jnp.int32)

    def cond(c):
        return c[0] < jnp.max(counts, initial=0)

    def loop(c):
        k, inner = c
        return k + 1, body(k, counts > k, inner)

    return jax.lax.while_loop(cond, loop, (jnp.asarray(0, jnp.int32), carry))[1]


class _Dynamics:
    """Shared construction: ``params`` from keyword arrays, all of one length."""
    _names = ()

    def __init__(self, size=None, /, **values):
        sizes = {np.size(v) for v in values.values() if np.size(v) != 1}
        if size is None:
            size = max(sizes) if sizes else 1
        self.params = {name: _array(values[name], size) for name in self._names}
        self.validate(self.params)

    @staticmethod
    def validate(params):
        pass


# ---------------------------------------------------------------------------------------------
class TsodyksSynapse(_Dynamics):
    r"""NEST's ``tsodyks_synapse``: Tsodyks, Uziel & Markram (2000) short-term plasticity.

    Resources: ``x`` (recovered), ``y`` (active), ``z = 1 − x − y`` (inactive); release
    probability ``u``. Nothing changes between spikes except by the exact propagators below.
    At a presynaptic spike at ``t`` with ``h = t − t_last`` (``t_last = 0`` initially),
    in NEST's order::

        P_uu = exp(−h/τ_fac)  (0 if τ_fac = 0)     P_yy = exp(−h/τ_psc)   P_zz = exp(−h/τ_rec)
        P_xy = ((P_zz − 1) τ_rec − (P_yy − 1) τ_psc) / (τ_psc − τ_rec)     P_xz = 1 − P_zz
        z = 1 − x − y
        u ← u·P_uu;   x ← x + P_xy·y + P_xz·z;   y ← y·P_yy
        u ← u + U(1 − u)
        Δ = u·x;   x ← x − Δ;   y ← y + Δ
        transmitted weight = Δ·w;   t_last ← t

    Initial state as NEST's defaults: ``x = 1``, ``y = 0``, ``u = 0``.
    ``τ_psc`` (NEST's time constant of ``y``; pyNN.nest sets it to the target's ``tau_syn``)
    may be 0: then ``P_yy = 0`` and ``P_xy = 1 − P_zz`` (the limit, ``y`` returns to ``z``
    at once: the Tsodyks–Markram model without a cleft stage). For ``τ_psc = τ_rec`` (a 0/0
    in NEST) the limit ``P_xy = 1 − P_zz (1 + h/τ_rec)`` is used.
    """
    _names = ("U", "tau_rec", "tau_fac", "tau_psc")

    def __init__(self, U=0.5, tau_rec=800.0, tau_fac=0.0, tau_psc=0.0, n=None):
        super().__init__(n, U=U, tau_rec=tau_rec, tau_fac=tau_fac, tau_psc=tau_psc)

    @staticmethod
    def validate(p):
        _check("U", p["U"], lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]")
        _check("tau_rec", p["tau_rec"], lambda v: v > 0, "must be > 0 ms")
        _check("tau_fac", p["tau_fac"], lambda v: v >= 0, "must be >= 0 ms")
        _check("tau_psc", p["tau_psc"], lambda v: v >= 0, "must be >= 0 ms")

    def initial_state(self, weight, n_pre, n_post):
        n = np.size(weight)
        return {"weight": np.asarray(weight, np.float64), "x": np.ones(n), "y": np.zeros(n),
                "u": np.zeros(n), "t_last": np.zeros(n)}

    @staticmethod
    def step(state, params, pre, post, pre_idx, post_idx, t, key):
        U, tau_rec, tau_fac, tau_psc = (params[k] for k in TsodyksSynapse._names)
        counts = pre[pre_idx]

        def spike(k, active, carry):
            s, sent = carry
            h = t - s["t_last"]
            Puu = jnp.where(tau_fac == 0.0, 0.0,
                            jnp.exp(-h / jnp.where(tau_fac == 0.0, 1.0, tau_fac)))
            Pyy = jnp.where(tau_psc == 0.0, 0.0,
                            jnp.exp(-h / jnp.where(tau_psc == 0.0, 1.0, tau_psc)))
            Pzz = jnp.exp(-h / tau_rec)
            same = tau_psc == tau_rec
            Pxy = jnp.where(same, 1.0 - Pzz * (1.0 + h / tau_rec),
                            ((Pzz - 1.0) * tau_rec - (Pyy - 1.0) * tau_psc)
                            / jnp.where(same, 1.0, tau_psc - tau_rec))
            Pxz = 1.0 - Pzz
            z = 1.0 - s["x"] - s["y"]
            u = s["u"] * Puu
            x = s["x"] + Pxy * s["y"] + Pxz * z
            y = s["y"] * Pyy
            u = u + U * (1.0 - u)
            delta = u * x
            x = x - delta
            y = y + delta
            new = {"weight": s["weight"], "x": x, "y": y, "u": u, "t_last": t + 0.0 * h}
            s = {name: jnp.where(active, new[name], s[name]) for name in s}
            return s, sent + jnp.where(active, delta * s["weight"], 0.0)

        state, sent = _each_spike(counts, spike, (state, jnp.zeros_like(state["weight"])))
        return state, sent


# ---------------------------------------------------------------------------------------------
class _PairBased(_Dynamics):
    r"""All-to-all spike-pair STDP with a purely dendritic delay, as NEST's archiving nodes.

    NEST updates a weight only at a presynaptic spike, from the postsynaptic spikes recorded
    since the previous one, seen ``d`` (the connection's delay) later. Here every postsynaptic
    spike of time ``t_post`` is applied in the step of time ``t_post + d`` (a per-target ring
    of the last ``max(D) + 1`` steps' spike counts), in the same order NEST applies it: the
    facilitations of the post spikes with ``t_last < t_post + d ≤ t_pre`` and then the
    presynaptic update of ``t_pre``. Two weights are kept: ``w_run`` (all post spikes seen
    so far) and ``weight``, what NEST stores and reports, which only changes at a presynaptic
    spike (there it becomes ``w_run``). Weights read between runs are therefore NEST's
    (post spikes after the last presynaptic spike are not yet in them, as in NEST); a weight
    set from outside replaces ``w_run`` too (NEST would apply the pending post spikes to the
    new weight, here they are dropped -- the only difference from NEST).

    Traces, exact between events (NEST's formulas)::

        K+ (per connection): K+ ← K+·exp((t_last − t_pre)/τ+) + 1 after each pre spike
        K− (per connection, NEST keeps it per neuron with the neuron's τ−):
            K− ← K−·exp((a_last − a)/τ−) + 1 at each arrival a = t_post + d;
            its value at t_pre counts the arrivals strictly before t_pre.
    """

    def __init__(self, delay_steps, **values):
        delay = np.asarray(delay_steps, np.int64).reshape(-1)
        if delay.size and delay.min() < 1:
            raise ValueError("STDP synapses need delays of at least one time step.")
        self.ring = int(delay.max(initial=0)) + 1
        super().__init__(delay.size if delay.size else None, **values)
        self.params["delay_steps"] = delay.astype(np.float64)
        self.dt = None

    def initial_state(self, weight, n_pre, n_post):
        n = np.size(weight)
        w = np.asarray(weight, np.float64)
        return {"weight": w, "w_run": w.copy(), "w_ref": w.copy(),
                "Kplus": np.zeros(n), "t_pre": np.zeros(n),
                "Kminus": np.zeros(n), "t_post": np.zeros(n),
                "history": np.zeros((self.ring, n_post), np.int32)}

    # subclasses: tau of K+, tau of K-, facilitate(w, K, p), pre_update(w, K-, p)
    def step(self, state, params, pre, post, pre_idx, post_idx, t, key):
        ring = self.ring
        m = jnp.round(t / self.dt).astype(jnp.int32) - 1          # this step's index
        delay = params["delay_steps"].astype(jnp.int32)
        tau_p, tau_m = self._taus(params)
        history = state["history"]
        arrived = history[(m - delay) % ring, post_idx]            # post spikes seen now
        counts = pre[pre_idx].astype(jnp.int32)

        w = jnp.where(state["weight"] != state["w_ref"], state["weight"], state["w_run"])
        # 1. facilitation by the postsynaptic spikes arriving now (pre trace before t)
        k_plus = state["Kplus"] * jnp.exp((state["t_pre"] - t) / tau_p)
        w = _each_spike(arrived, lambda k, on, w: jnp.where(
            on, self._facilitate(w, k_plus, params), w), w)
        # 2. presynaptic spikes: update with the post trace of arrivals strictly before t
        k_minus = state["Kminus"] * jnp.exp((state["t_post"] - t) / tau_m)

        def spike(k, on, carry):
            w, kp, t_pre, sent = carry
            w = jnp.where(on, self._pre_update(w, k_minus, params), w)
            kp = jnp.where(on, kp * jnp.exp((t_pre - t) / tau_p) + 1.0, kp)
            t_pre = jnp.where(on, t, t_pre)
            return w, kp, t_pre, sent + jnp.where(on, w, 0.0)

        w, kp, t_pre, sent = _each_spike(
            counts, spike, (w, state["Kplus"], state["t_pre"], jnp.zeros_like(w)))
        weight = jnp.where(counts > 0, w, state["weight"])
        # 3. the post trace takes the arrivals of this step
        n_arr = arrived.astype(w.dtype)
        k_minus_new = jnp.where(arrived > 0, k_minus + n_arr, state["Kminus"])
        new = {"weight": weight, "w_run": w, "w_ref": weight, "Kplus": kp, "t_pre": t_pre,
               "Kminus": k_minus_new,
               "t_post": jnp.where(arrived > 0, t, state["t_post"]),
               "history": history.at[m % ring].set(post.astype(jnp.int32))}
        return new, sent


class StdpSynapse(_PairBased):
    r"""NEST's ``stdp_synapse`` (Gütig et al. 2003 weight dependence), dendritic delay.

    With ``W = w_max``, ``λ = A_plus`` and ``αλ = A_minus``::

        facilitate(w, K+):  n = w/W + λ (1 − w/W)^μ+ · K+;          w ← n < 1 ? n·W : W
        depress(w, K−):     n = w/W − αλ ((w − w_min)/W)^μ− · K−;   w ← n > w_min/W ? n·W : w_min

    the arithmetic of NEST's ``facilitate_``/``depress_`` (NEST has ``w_min = 0``; here
    ``w_min`` may be set). At each postsynaptic spike (seen at ``t_post + d``):
    ``facilitate(w, K+(t_post + d))``; at each presynaptic spike: ``depress(w, K−(t_pre))``,
    transmit ``w``, then ``K+ += 1``. μ+ = μ− = 0: additive; 1, 1: multiplicative;
    0, 1: additive potentiation, multiplicative depression; else Gütig.
    (NEST computes ``α = A_minus/A_plus`` then ``α·λ``; here ``A_minus`` is used directly,
    a difference of at most an ulp in the product.)
    """
    _names = ("tau_plus", "tau_minus", "A_plus", "A_minus", "mu_plus", "mu_minus",
              "w_min", "w_max")

    def __init__(self, delay_steps, dt, tau_plus=20.0, tau_minus=20.0, A_plus=0.01,
                 A_minus=0.01, mu_plus=0.0, mu_minus=0.0, w_min=0.0, w_max=1.0):
        super().__init__(delay_steps, tau_plus=tau_plus, tau_minus=tau_minus, A_plus=A_plus,
                         A_minus=A_minus, mu_plus=mu_plus, mu_minus=mu_minus, w_min=w_min,
                         w_max=w_max)
        self.dt = float(dt)

    @staticmethod
    def validate(p):
        for name in ("tau_plus", "tau_minus"):
            _check(name, p[name], lambda v: v > 0, "must be > 0 ms")
        for name in ("A_plus", "A_minus", "mu_plus", "mu_minus"):
            _check(name, p[name], lambda v: v >= 0, "must be >= 0")
        _check("w_max", p["w_max"], lambda v: v != 0, "must not be 0")
        _check("w_min", p["w_max"] - p["w_min"], lambda v: v * np.sign(p["w_max"]) >= 0,
               "must lie between 0 and w_max (w_max - w_min has the wrong sign)")

    @staticmethod
    def _taus(p):
        return p["tau_plus"], p["tau_minus"]

    @staticmethod
    def _facilitate(w, k, p):
        W = p["w_max"]
        norm = w / W + p["A_plus"] * jnp.power(1.0 - w / W, p["mu_plus"]) * k
        return jnp.where(norm < 1.0, norm * W, W)

    @staticmethod
    def _pre_update(w, k, p):
        W, w_min = p["w_max"], p["w_min"]
        norm = w / W - p["A_minus"] * jnp.power((w - w_min) / W, p["mu_minus"]) * k
        return jnp.where(norm > w_min / W, norm * W, w_min)


class VogelsSprekelerSynapse(_PairBased):
    r"""NEST's ``vogels_sprekeler_synapse`` (Vogels et al. 2011 inhibitory plasticity).

    ``K+`` and ``K−`` both decay with ``τ`` (NEST's ``K−`` is the target's, with its
    ``tau_minus``, which must be set to ``τ``)::

        facilitate(w, K): n = |w| + η·K;       w ← copysign(n < |W| ? n : W, W)
        depress(w):       n = |w| − α·η;       w ← copysign(n > |w_min| ? n : |w_min|, W)

    At each postsynaptic spike: ``facilitate(w, K+)``; at each presynaptic spike:
    ``facilitate(w, K−)`` then ``depress(w)``, transmit ``w``, ``K+ += 1``. ``α = 2ρτ``
    (ρ in Hz, τ in ms: ``α = 2·ρ·τ/1000``, the PyNN layer converts). NEST has ``w_min = 0``.
    """
    _names = ("tau", "eta", "alpha", "w_min", "w_max")

    def __init__(self, delay_steps, dt, tau=20.0, eta=0.001, alpha=0.12, w_min=0.0,
                 w_max=1.0):
        super().__init__(delay_steps, tau=tau, eta=eta, alpha=alpha, w_min=w_min, w_max=w_max)
        self.dt = float(dt)

    @staticmethod
    def validate(p):
        _check("tau", p["tau"], lambda v: v > 0, "must be > 0 ms")
        _check("eta", p["eta"], lambda v: v >= 0, "must be >= 0")
        _check("alpha", p["alpha"], lambda v: v >= 0, "must be >= 0")
        _check("w_min", np.abs(p["w_max"]) - np.abs(p["w_min"]), lambda v: v >= 0,
               "must not exceed w_max in magnitude")

    @staticmethod
    def _taus(p):
        return p["tau"], p["tau"]

    @staticmethod
    def _facilitate(w, k, p):
        W = p["w_max"]
        n = jnp.abs(w) + p["eta"] * k
        return jnp.copysign(jnp.where(n < jnp.abs(W), n, W), W)

    @staticmethod
    def _pre_update(w, k, p):
        W, lo = p["w_max"], jnp.abs(p["w_min"])
        w = VogelsSprekelerSynapse._facilitate(w, k, p)
        n = jnp.abs(w) - p["alpha"] * p["eta"]
        return jnp.copysign(jnp.where(n > lo, n, lo), W)


# ---------------------------------------------------------------------------------------------
class BernoulliSynapse(_Dynamics):
    r"""NEST's ``bernoulli_synapse``: each presynaptic spike is transmitted with probability
    ``p`` (independently; a spike count ``n`` transmits ``Binomial(n, p)`` spikes)."""
    _names = ("p",)

    def __init__(self, p=1.0, n=None):
        super().__init__(n, p=p)

    @staticmethod
    def validate(params):
        _check("p", params["p"], lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]")

    def initial_state(self, weight, n_pre, n_post):
        return {"weight": np.asarray(weight, np.float64)}

    @staticmethod
    def step(state, params, pre, post, pre_idx, post_idx, t, key):
        counts = pre[pre_idx]

        def spike(k, on, n_out):
            draw = jax.random.uniform(jax.random.fold_in(key, k), n_out.shape, n_out.dtype)
            return n_out + jnp.where(on & (draw < params["p"]), 1.0, 0.0)

        n_out = _each_spike(counts, spike, jnp.zeros_like(state["weight"]))
        return state, n_out * state["weight"]


class QuantalStpSynapse(_Dynamics):
    r"""NEST's ``quantal_stp_synapse`` (Fuhrmann et al. 2002): ``n`` release sites, ``a``
    of them available (``a = n`` initially), release probability ``u`` (``u = U``
    initially). At a presynaptic spike at ``t``, if it is not the first one::

        h = t − t_last;  p_decay = exp(−h/τ_rec);  u_decay = τ_fac < 1e-10 ? 0 : exp(−h/τ_fac)
        u ← U + u(1 − U)·u_decay
        each of the n − a depleted sites recovers with probability 1 − p_decay

    then each of the ``a`` available sites releases with probability ``u``; ``k`` released
    sites transmit ``k·w`` (nothing if ``k = 0``) and ``a ← a − k``.
    (NEST starts ``u`` at its default 0.5 whatever ``U``, unless ``u`` is set; pyNN.nest does
    not set it. Here ``u`` starts at ``U``.)
    """
    _names = ("U", "tau_rec", "tau_fac", "n")

    def __init__(self, U=0.5, tau_rec=800.0, tau_fac=0.0, n_sites=1, n=None):
        super().__init__(n, U=U, tau_rec=tau_rec, tau_fac=tau_fac, n=n_sites)

    @staticmethod
    def validate(p):
        _check("U", p["U"], lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]")
        _check("tau_rec", p["tau_rec"], lambda v: v > 0, "must be > 0 ms")
        _check("tau_fac", p["tau_fac"], lambda v: v >= 0, "must be >= 0 ms")
        _check("n", p["n"], lambda v: (v >= 1) & (v == np.round(v)),
               "(number of release sites) must be a whole number >= 1")

    def initial_state(self, weight, n_pre, n_post):
        m = np.size(weight)
        return {"weight": np.asarray(weight, np.float64),
                "u": self.params["U"].copy() if self.params["U"].size == m else np.zeros(m),
                "a": np.round(self.params["n"]).astype(np.int32),
                "t_last": np.zeros(m), "spiked": np.zeros(m, bool)}

    @staticmethod
    def step(state, params, pre, post, pre_idx, post_idx, t, key):
        U, tau_rec, tau_fac = params["U"], params["tau_rec"], params["tau_fac"]
        n_sites = jnp.round(params["n"]).astype(jnp.int32)
        counts = pre[pre_idx]

        def sites(key, number, prob):
            """How many of ``number`` sites succeed, each with probability ``prob``."""
            def body(i, total):
                draw = jax.random.uniform(jax.random.fold_in(key, i), prob.shape, prob.dtype)
                return total + ((i < number) & (draw < prob)).astype(jnp.int32)
            return jax.lax.fori_loop(0, jnp.max(number, initial=0), body,
                                     jnp.zeros(number.shape, jnp.int32))

        def spike(k, on, carry):
            s, sent = carry
            kk = jax.random.fold_in(key, k)
            later = s["spiked"]
            h = t - s["t_last"]
            p_decay = jnp.exp(-h / tau_rec)
            u_decay = jnp.where(tau_fac < 1e-10, 0.0,
                                jnp.exp(-h / jnp.where(tau_fac < 1e-10, 1.0, tau_fac)))
            u = jnp.where(later, U + s["u"] * (1.0 - U) * u_decay, s["u"])
            recovered = sites(jax.random.fold_in(kk, 0),
                              jnp.where(on & later, n_sites - s["a"], 0), 1.0 - p_decay)
            a = s["a"] + recovered
            released = sites(jax.random.fold_in(kk, 1), jnp.where(on, a, 0), u)
            new = {"weight": s["weight"], "u": u, "a": a - released, "t_last": t + 0.0 * h,
                   "spiked": jnp.ones_like(later)}
            s = {name: jnp.where(on, new[name], s[name]) for name in s}
            return s, sent + released.astype(sent.dtype) * s["weight"]

        return _each_spike(counts, spike, (state, jnp.zeros_like(state["weight"])))


class StochasticStpSynapse(_Dynamics):
    r"""PyNN's NEST extension ``stochastic_stp_synapse`` (Blue Brain Project's
    ProbGABAAB_EMS.mod): one release site, recovered (``R = 1``) or not (``R = 0``).
    State: ``u = 0``, ``R = 1``, ``t_surv = 0``, ``t_last = 0`` initially. At a presynaptic
    spike at ``t``::

        u ← τ_fac > 1e-10 ? u·exp(−(t − t_last)/τ_fac) then u + U(1 − u) : U
        if R = 0: it recovers (R ← 1) with probability 1 − exp(−(t − t_surv)/τ_rec),
                  else t_surv ← t
        if R = 1: release with probability u: transmit w, R ← 0, t_surv ← t
        t_last ← t
    """
    _names = ("U", "tau_rec", "tau_fac")

    def __init__(self, U=0.5, tau_rec=800.0, tau_fac=0.0, n=None):
        super().__init__(n, U=U, tau_rec=tau_rec, tau_fac=tau_fac)

    @staticmethod
    def validate(p):
        _check("U", p["U"], lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]")
        _check("tau_rec", p["tau_rec"], lambda v: v > 0, "must be > 0 ms")
        _check("tau_fac", p["tau_fac"], lambda v: v >= 0, "must be >= 0 ms")

    def initial_state(self, weight, n_pre, n_post):
        m = np.size(weight)
        return {"weight": np.asarray(weight, np.float64), "u": np.zeros(m), "R": np.ones(m),
                "t_surv": np.zeros(m), "t_last": np.zeros(m)}

    @staticmethod
    def step(state, params, pre, post, pre_idx, post_idx, t, key):
        U, tau_rec, tau_fac = params["U"], params["tau_rec"], params["tau_fac"]
        counts = pre[pre_idx]

        def spike(k, on, carry):
            s, sent = carry
            kk = jax.random.fold_in(key, k)
            r1 = jax.random.uniform(jax.random.fold_in(kk, 0), U.shape, U.dtype)
            r2 = jax.random.uniform(jax.random.fold_in(kk, 1), U.shape, U.dtype)
            facil = tau_fac > 1e-10
            u = s["u"] * jnp.exp(-(t - s["t_last"]) / jnp.where(facil, tau_fac, 1.0))
            u = jnp.where(facil, u + U * (1.0 - u), U)
            R, t_surv = s["R"], s["t_surv"]
            p_surv = jnp.exp(-(t - t_surv) / tau_rec)
            recovered = (R == 0) & (r1 > p_surv)
            t_surv = jnp.where((R == 0) & ~recovered, t, t_surv)
            R = jnp.where(recovered, 1.0, R)
            release = (R == 1) & (r2 < u)
            R = jnp.where(release, 0.0, R)
            t_surv = jnp.where(release, t, t_surv)
            new = {"weight": s["weight"], "u": u, "R": R, "t_surv": t_surv,
                   "t_last": jnp.zeros_like(u) + t}
            s = {name: jnp.where(on, new[name], s[name]) for name in s}
            return s, sent + jnp.where(on & release, s["weight"], 0.0)

        return _each_spike(counts, spike, (state, jnp.zeros_like(state["weight"])))
