"""An independent physics model of trucks crossing a weigh-in-motion scale, as an outside check of the WIM
estimator (issue 16).

Written from first principles and from docs/capture-format.md only: it does not read or import the
estimator, the lane simulator (firmware_sim) or the other WIM benches. It simulates crossings, writes each
as a raw capture (``.wlcap``, numpy + zipfile + json), replays them all with ``edge wim replay --json`` (the
lane's own weighing and judging) and compares the replayed weights with the true static loads.

What it models
--------------
* **Vehicles.** Chinese goods vehicles: 2-axle rigid (4x2, 18 t limit), 3-axle rigid (6x4, steer + tandem,
  25 t), 4-axle rigid (8x4, twin steer + tandem, 31 t), 5-axle tractor (4x2) + tridem semitrailer (43 t),
  6-axle tractor (6x4) + tridem semitrailer (49 t); tandem/tridem spacings 1.30-1.40 m. Gross from the tare
  to 120 % of the legal limit (uniform), payload spread over the axles by typical shares with a random
  +/-8 % placement; the semitrailer's payload centre is placed at random and sets the kingpin load by
  statics, which the tractor's axles share by the lever rule.
* **Dynamics.** A linear pitch-plane model per rigid unit: the sprung body heaves and pitches (mass and
  pitch inertia, radius of gyration 0.28-0.35 x the unit's axle span + 1 m), each axle has a suspension
  spring + viscous damper (body bounce 1.6-3.2 Hz laden, damping ratio 0.12-0.30), an unsprung mass on a
  tyre spring (0.9 MN/m per tyre) with a small tyre damper. A semitrailer is a second body joined to the
  tractor at the fifth wheel by a stiff vertical spring + damper. The equations are integrated exactly
  (matrix exponential, inputs held over each 0.5 ms step: 2 kHz), starting at static equilibrium.
* **Load transfer.** Longitudinal acceleration a(t) puts a pitch couple m a h on each unit (h: the unit's
  centre-of-gravity height, 1.0 m empty to 1.6-2.3 m laden). Braking is taken as ideally proportioned
  (each unit brakes its own mass); under traction the tractor pulls the trailer at the fifth wheel (height
  1.2 m), so the trailer gets m2 a (h2 - h5) and the tractor m1 a h1 + m2 a h5. The couple goes through the
  suspensions, so a brake pulse pitches the bodies and rings at their pitch frequency.
* **Road.** ISO 8608 profile (displacement PSD G_d(n0) (n/n0)^-2, n0 = 0.1 cycle/m, G_d(n0) log-uniform
  8-64e-6 m^3: class A to mid class B, wavelengths 0.1-20 m), enveloped by a 0.25 m tyre patch, faded in
  over 4 m ahead of the truck's start so the simulation starts at rest; optional approach bump (half-cosine,
  ``--bump-mm``, 0.3-0.6 m long, 1-5 m before the scale). The same profile continues over the platforms.
* **Driving.** Speeds 3-40 km/h (log-uniform, about half at or below 10 km/h). Populations: ``steady``
  (driver's wander: two slow sinusoids, +/-1-2 % in total), ``speed-change-10pct`` (a constant
  acceleration changing the speed by up to +/-10 % over the scale length + axle span, faded in over the 1 s
  before the crossing, 0-1 % wander on top), ``braking`` (-0.3 to -2.0 m/s^2 from a random point on the scale down to 30-80 % of
  the speed), ``stop-and-go`` (brake 0.5-1.5 m/s^2 to a stop on the scale, stand 1-4 s, pull away at
  0.3-1.0 m/s^2), ``jump`` (a brake pulse of -1.5 to -3.5 m/s^2 or a throttle pulse of +0.8 to +1.5 m/s^2
  for 0.3-0.8 s at a random moment while the truck is on the scale), ``throttle-blip`` (+0.3 to +1.0 m/s^2
  for 0.3-1.0 s at a random moment). Driver commands reach the wheels through a first-order lag of
  0.08-0.15 s (brake and engine response).
* **Scale.** Platforms end to end (x = 0 at the scale entry), 4 load cells at the corners. Each tyre's
  force is spread uniformly over a 0.25 m patch centred on the axle; each platform takes the share of the
  patch on it, split between entry and exit cells by the lever rule at the share's centroid, and left/right
  by the truck's lateral offset (+/-0.25 m on a 3 m deck) plus a small per-axle left/right imbalance. A patch
  share off the platforms (approach, run-out) is not weighed. Platform vibration: each axle arriving on a
  platform rings it (20-35 Hz, 0.05 s decay, 0.3 % of the axle load). Load cells: nominal 0.02 kg/count,
  a per-cell span error (0.03 % sd), a random zero (20,000-60,000 counts), 3 kg white noise, 1000 Hz.
  Strips: entry at -0.5 m, exit at the scale end; the exact time each axle centre passes a strip plus
  uniform jitter (+/-4 ms by default; ``scale.strip_timing_sd_s`` = jitter / sqrt(3)). Pre-roll 0.8 s of
  empty scale, 0.1 s after the last exit.

What it simplifies (where it may be unrealistic)
------------------------------------------------
* Linear springs and viscous dampers: no leaf-spring Coulomb friction (which real steel suspensions have,
  and which locks the suspension at small amplitudes), no tyre lift-off nonlinearity beyond clipping the
  contact force at zero, no walking-beam load sharing in tandems (each axle its own spring).
* No anti-dive / anti-squat geometry: the whole braking couple goes through the springs. No driveline
  wind-up, no liquid cargo slosh, no load shifting.
* The platforms are rigid (apart from the added ring), abut with no gap, and carry the road profile;
  no platform tilt or hysteresis, no temperature drift. The deck is 3 m wide.
* The truth is the static axle load of this model's own statics (for 3 or more axles on one unit the
  static split is set by the load shares, not by suspension compliance).
* Strip jitter is uniform and independent per event; no missed or doubled strip events.

Run::

    python bench/independent_wim_model.py --crossings 100 --seed 1
    python bench/independent_wim_model.py --scale full-length --population steady --crossings 20 --out keep/
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
G = 9.81

SCALES: dict[str, list[float]] = {
    "full-length": [6.0, 6.0, 6.0],
    "axle-group": [3.6, 3.6],
    "single": [4.2],
}
SCALE_TITLES = {
    "full-length": "full-length 3x6 m",
    "axle-group": "axle-group 2x3.6 m",
    "single": "single 1x4.2 m",
}
# The accuracy class each scale is held to for the brake/stop/jump "handled" share (gross, %).
CLASS_LIMIT_PCT = {"full-length": 1.0, "axle-group": 2.5, "single": 2.5}
POPULATIONS = ["steady", "speed-change-10pct", "braking", "stop-and-go", "jump", "throttle-blip"]
HARD_POPULATIONS = {"braking", "stop-and-go", "jump"}
VEHICLE_KINDS = ["2-rigid", "3-rigid", "4-rigid", "5-semi", "6-semi"]
LEGAL_LIMIT_KG = {"2-rigid": 18000, "3-rigid": 25000, "4-rigid": 31000, "5-semi": 43000, "6-semi": 49000}

ENTRY_STRIP_X_M = -0.5
FOOTPRINT_M = 0.25
PLATFORM_WIDTH_M = 3.0
RATE_HZ = 1000
SIM_HZ = 2000
PREROLL_S = 0.8
POSTROLL_S = 0.1
KG_PER_COUNT = 0.02


# ----------------------------------------------------------------------------------------------------------
# Vehicles
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Body:
    """One sprung body of the pitch-plane model (positions: metres behind the front axle)."""

    mass_kg: float
    pitch_inertia: float
    cg_d_m: float
    cg_height_m: float
    unit_mass_kg: float  # sprung + unsprung of the unit: carries the unit's inertial couple


@dataclass
class Truck:
    kind: str
    axle_d_m: np.ndarray  # distance of each axle behind the front axle
    static_kg: np.ndarray  # true static axle loads
    tyres: list[str]
    axle_body: list[int]  # which body each axle's suspension holds
    unsprung_kg: np.ndarray
    susp_k: np.ndarray  # N/m
    susp_c: np.ndarray  # N s/m
    tyre_k: np.ndarray
    tyre_c: np.ndarray
    bodies: list[Body]
    fifth_wheel_d_m: float | None = None
    fifth_wheel_height_m: float = 1.2
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gross_kg(self) -> float:
        return float(self.static_kg.sum())

    @property
    def limit_kg(self) -> int:
        return LEGAL_LIMIT_KG[self.kind]

    @property
    def span_m(self) -> float:
        return float(self.axle_d_m[-1])


def _shares(rng: np.random.Generator, base: list[float]) -> np.ndarray:
    s = np.array(base) * (1 + rng.normal(0, 0.08, len(base)))
    s = np.clip(s, 0.02, None)
    return s / s.sum()


def _unsprung(tyres: list[str], rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(550, 700) if t == "single" else rng.uniform(800, 1100) for t in tyres])


def _suspension(
    rng: np.random.Generator,
    sprung_share_kg: np.ndarray,
    laden: float,
    tyres: list[str],
    unsprung: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Bounce frequency of the body on each axle: stiff when empty (progressive leaf springs), 1.6-3.2 Hz laden.
    f = rng.uniform(1.6, 3.2, len(tyres)) * (1.0 + 0.4 * (1 - laden))
    k = np.maximum(sprung_share_kg, 300.0) * (2 * np.pi * f) ** 2
    zeta = rng.uniform(0.12, 0.30, len(tyres))
    c = 2 * zeta * np.sqrt(k * np.maximum(sprung_share_kg, 300.0))
    per_tyre = rng.uniform(0.8e6, 1.0e6)
    tk = np.array([2 * per_tyre if t == "single" else 4 * per_tyre for t in tyres])
    tc = 2 * 0.03 * np.sqrt(tk * unsprung)  # a lightly damped tyre
    return k, c, tk, tc


def make_truck(kind: str, rng: np.random.Generator, load_fraction: float | None = None) -> Truck:
    """A random truck of ``kind``; ``load_fraction`` in [0, 1] places its gross between tare and 120 % of limit."""
    limit = LEGAL_LIMIT_KG[kind]
    frac = rng.uniform() if load_fraction is None else load_fraction
    if kind in ("2-rigid", "3-rigid", "4-rigid"):
        if kind == "2-rigid":
            d = np.array([0.0, rng.uniform(4.5, 5.6)])
            tyres = ["single", "dual"]
            tare = np.array([3800.0, 3200.0]) * rng.uniform(0.93, 1.07)
            base = [0.30, 0.70]
        elif kind == "3-rigid":
            wb = rng.uniform(3.8, 4.8)
            sp = rng.uniform(1.30, 1.40)
            d = np.array([0.0, wb, wb + sp])
            tyres = ["single", "dual", "dual"]
            tare = np.array([4200.0, 2400.0, 2400.0]) * rng.uniform(0.93, 1.07)
            base = [0.20, 0.40, 0.40]
        else:
            s1 = rng.uniform(1.8, 2.0)
            wb = rng.uniform(3.2, 4.3)
            sp = rng.uniform(1.30, 1.40)
            d = np.array([0.0, s1, s1 + wb, s1 + wb + sp])
            tyres = ["single", "single", "dual", "dual"]
            tare = np.array([3600.0, 3600.0, 2400.0, 2400.0]) * rng.uniform(0.93, 1.07)
            base = [0.15, 0.15, 0.35, 0.35]
        gross = tare.sum() + frac * (1.2 * limit - tare.sum())
        static = tare + (gross - tare.sum()) * _shares(rng, base)
        laden = (gross - tare.sum()) / (limit - tare.sum())
        unsprung = _unsprung(tyres, rng)
        sprung_share = static - unsprung
        m = float(sprung_share.sum())
        cg = float((sprung_share * d).sum() / m)
        h = 1.0 + min(laden, 1.2) * rng.uniform(0.6, 1.1)
        rg = rng.uniform(0.28, 0.35) * (d[-1] + 1.0)
        k, c, tk, tc = _suspension(rng, sprung_share, min(laden, 1.0), tyres, unsprung)
        body = Body(m, m * rg**2, cg, h, float(static.sum()))
        return Truck(kind, d, static, tyres, [0] * len(d), unsprung, k, c, tk, tc, [body])

    # Tractor + tridem semitrailer.
    sp3 = rng.uniform(1.30, 1.40)
    if kind == "5-semi":
        wb = rng.uniform(3.5, 3.9)
        tractor_d = np.array([0.0, wb])
        tractor_own = np.array([4700.0, 2500.0]) * rng.uniform(0.95, 1.05)
        fifth = wb - rng.uniform(0.3, 0.5)
        tractor_tyres = ["single", "dual"]
    else:
        wb = rng.uniform(3.1, 3.5)
        sp2 = rng.uniform(1.30, 1.40)
        tractor_d = np.array([0.0, wb, wb + sp2])
        tractor_own = np.array([5000.0, 1900.0, 1900.0]) * rng.uniform(0.95, 1.05)
        fifth = wb + sp2 / 2 - rng.uniform(0.2, 0.4)
        tractor_tyres = ["single", "dual", "dual"]
    kingpin_to_tridem = rng.uniform(7.4, 8.2)  # kingpin to the tridem's centre
    tri_c = fifth + kingpin_to_tridem
    trailer_d = np.array([tri_c - sp3, tri_c, tri_c + sp3])
    trailer_tare = rng.uniform(6800, 7600)
    tare_total = tractor_own.sum() + trailer_tare
    gross = tare_total + frac * (1.2 * limit - tare_total)
    payload = gross - tare_total
    laden = payload / (limit - tare_total)
    # Trailer: tare centre 5.6 m behind the kingpin, payload centre drawn; the kingpin load by statics.
    s_pay = rng.uniform(5.0, 5.9) * kingpin_to_tridem / 7.8
    m2 = trailer_tare + payload
    s2 = (trailer_tare * 5.6 * kingpin_to_tridem / 7.8 + payload * s_pay) / m2
    kingpin = m2 * (kingpin_to_tridem - s2) / kingpin_to_tridem
    tridem_total = m2 - kingpin
    tri_static = tridem_total * _shares(rng, [1 / 3, 1 / 3, 1 / 3])
    tractor_static = tractor_own.copy()
    rear = tractor_d[1:].mean()
    to_steer = kingpin * (rear - fifth) / rear
    tractor_static[0] += to_steer
    tractor_static[1:] += (kingpin - to_steer) / (len(tractor_d) - 1)
    d = np.concatenate([tractor_d, trailer_d])
    static = np.concatenate([tractor_static, tri_static])
    tyres = [*tractor_tyres, "dual", "dual", "dual"]
    unsprung = _unsprung(tyres, rng)
    nt = len(tractor_d)
    # Tractor body: carries its sprung own weight and the kingpin load.
    own_sprung = tractor_own - unsprung[:nt]
    m1 = float(own_sprung.sum())
    cg1 = float((own_sprung * tractor_d).sum() / m1)
    h1 = rng.uniform(1.0, 1.2)
    rg1 = rng.uniform(0.28, 0.35) * (tractor_d[-1] + 1.0)
    # Trailer body: its sprung mass, centre s2 behind the kingpin.
    m2s = m2 - float(unsprung[nt:].sum())
    cg2 = float((m2 * (fifth + s2) - (unsprung[nt:] * trailer_d).sum()) / m2s)
    h2 = 1.3 + min(laden, 1.2) * rng.uniform(0.5, 0.9)
    rg2 = rng.uniform(0.28, 0.33) * 13.0
    sprung_share = static - unsprung
    k, c, tk, tc = _suspension(rng, sprung_share, min(laden, 1.0), tyres, unsprung)
    bodies = [
        Body(m1, m1 * rg1**2, cg1, h1, float(tractor_own.sum())),
        Body(m2s, m2s * rg2**2, cg2, h2, m2),
    ]
    return Truck(
        kind,
        d,
        static,
        tyres,
        [0] * nt + [1] * 3,
        unsprung,
        k,
        c,
        tk,
        tc,
        bodies,
        fifth_wheel_d_m=float(fifth),
        extra={"kingpin_kg": round(float(kingpin), 1)},
    )


# ----------------------------------------------------------------------------------------------------------
# Driving
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Motion:
    t: np.ndarray  # s, simulation clock at SIM_HZ
    x_front: np.ndarray  # m, front axle position
    v: np.ndarray
    a: np.ndarray
    params: dict[str, Any]


def _wander(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """A driver's slow speed wander: two sinusoids, total amplitude ``amplitude`` (fraction)."""
    w = np.zeros_like(t)
    dw = np.zeros_like(t)
    split = rng.uniform(0.3, 0.7)
    for share in (split, 1 - split):
        period = rng.uniform(3.0, 12.0)
        phase = rng.uniform(0, 2 * np.pi)
        om = 2 * np.pi / period
        w += amplitude * share * np.sin(om * t + phase)
        dw += amplitude * share * om * np.cos(om * t + phase)
    return w, dw


def make_motion(
    population: str,
    rng: np.random.Generator,
    v0_kmh: float,
    span_m: float,
    scale_len_m: float,
    overrides: dict[str, float] | None = None,
) -> Motion:
    """Front-axle motion for one crossing; events are placed while the truck is on the scale.

    ``overrides`` fixes a drawn parameter of a jump or blip: ``pulse_mps2``, ``pulse_s``, ``event_x_m``."""
    over = overrides or {}
    v0 = v0_kmh / 3.6
    dt = 1.0 / SIM_HZ
    t_pre = max(3.0, 8.0 / v0)  # settle the dynamics before the entry strip
    x0 = ENTRY_STRIP_X_M - v0 * t_pre
    crossing_m = scale_len_m - ENTRY_STRIP_X_M + span_m  # front at entry strip -> last axle at exit strip
    x_end = scale_len_m + span_m + 0.6
    params: dict[str, Any] = {"v0_kmh": round(v0_kmh, 3)}
    lag = rng.uniform(0.08, 0.15)
    # Wander: +/-1-2 % when steady; 0-1 % on top of a deliberate change or event.
    wander_amp = rng.uniform(0.01, 0.02) if population == "steady" else rng.uniform(0.0, 0.01)
    params["wander"] = round(wander_amp, 4)
    n_max = int(180 * SIM_HZ)
    # Commanded acceleration as a function of (t, x, v) via a small state machine.
    a_const = 0.0
    if population == "speed-change-10pct":
        f = rng.uniform(-0.10, 0.10)
        a_const = ((1 + f) ** 2 - 1) * v0**2 / (2 * crossing_m)
        params["speed_change"] = round(f, 4)
        params["accel_mps2"] = round(a_const, 4)
    event_x = ENTRY_STRIP_X_M + rng.uniform(0.0, 1.0) * (scale_len_m - ENTRY_STRIP_X_M + 0.7 * span_m)
    event_x = over.get("event_x_m", event_x)
    if population == "braking":
        a_ev = -rng.uniform(0.3, 2.0)
        v_stop = v0 * rng.uniform(0.3, 0.8)
        params.update(
            brake_mps2=round(a_ev, 3), brake_at_x_m=round(event_x, 2), brake_to_kmh=round(v_stop * 3.6, 2)
        )
    elif population == "stop-and-go":
        # Stop with the front axle somewhere the truck is on the scale.
        stop_x = rng.uniform(0.5, scale_len_m + span_m * 0.8)
        a_ev = -rng.uniform(0.5, 1.5)
        brake_x = stop_x - v0**2 / (2 * -a_ev)
        dwell = rng.uniform(1.0, 4.0)
        a_go = rng.uniform(0.3, 1.0)
        v_go = min(v0, rng.uniform(5, 12) / 3.6)
        params.update(
            brake_mps2=round(a_ev, 3),
            stop_x_m=round(stop_x, 2),
            dwell_s=round(dwell, 2),
            go_mps2=round(a_go, 3),
        )
        event_x = brake_x
        if brake_x < x0 + 1.0:
            x0 = brake_x - 2.0 * v0
    elif population == "jump":
        # 60 % brake pulses (-1.5 to -3.5 m/s²), 40 % throttle pulses (+0.8 to +1.5 m/s²).
        a_ev = -rng.uniform(1.5, 3.5) if rng.uniform() < 0.6 else rng.uniform(0.8, 1.5)
        dur = rng.uniform(0.3, 0.8)
        a_ev, dur = over.get("pulse_mps2", a_ev), over.get("pulse_s", dur)
        if a_ev < 0:
            dur = min(dur, 0.8 * v0 / -a_ev)  # a pulse, not a stop
        params.update(pulse_mps2=round(a_ev, 3), pulse_s=round(dur, 3), pulse_at_x_m=round(event_x, 2))
    elif population == "throttle-blip":
        a_ev = rng.uniform(0.3, 1.0)
        dur = rng.uniform(0.3, 1.0)
        a_ev, dur = over.get("pulse_mps2", a_ev), over.get("pulse_s", dur)
        params.update(pulse_mps2=round(a_ev, 3), pulse_s=round(dur, 3), pulse_at_x_m=round(event_x, 2))

    t = np.arange(n_max) * dt
    w, dw = _wander(rng, t, wander_amp)
    xs = np.empty(n_max)
    vs = np.empty(n_max)
    acc = np.empty(n_max)
    # A speed change fades in over the second before the front axle reaches the entry strip (at about
    # t_pre), so that the speed there is v0 and changes by the drawn fraction over the crossing.
    x, v, a_act = x0, v0 - 0.5 * a_const, 0.0
    state = "cruise"
    t_state = 0.0
    t_ev_start = None
    n = n_max
    for k in range(n_max):
        tk = t[k]
        cmd = a_const * min(max(tk - (t_pre - 1.0), 0.0), 1.0)
        if population == "braking":
            if state == "cruise" and x >= event_x:
                state = "brake"
            if state == "brake":
                cmd = a_ev
                if v <= v_stop + abs(a_act) * lag:  # the lag still takes |a| x lag off
                    state = "after"
        elif population == "stop-and-go":
            if state == "cruise" and x >= event_x:
                state = "brake"
            if state == "brake":
                cmd = a_ev
                if v <= 0.0:
                    state, t_state = "stand", tk
            if state == "stand":
                cmd = 0.0
                if tk - t_state >= dwell:
                    state = "go"
            if state == "go":
                cmd = a_go
                if v >= v_go:
                    state = "after"
        elif population in ("jump", "throttle-blip"):
            if state == "cruise" and x >= event_x:
                state, t_ev_start = "pulse", tk
            if state == "pulse":
                cmd = a_ev
                if tk - t_ev_start >= dur:
                    state = "after"
        a_act += (cmd - a_act) * dt / lag
        a_total = a_act + (v0 * dw[k] if state in ("cruise", "after") else 0.0)
        if state == "stand":
            a_act, a_total, v = 0.0, 0.0, 0.0
        v_new = v + a_total * dt
        if v_new <= 0.0 and state != "go":
            v_new = 0.0
            a_total = -v / dt
            if population == "stop-and-go" and state == "brake":
                state, t_state = "stand", tk
        xs[k], vs[k], acc[k] = x, v, a_total
        x += 0.5 * (v + v_new) * dt
        v = v_new
        if x - span_m > scale_len_m + 0.6 + 0.3 * v and x > x_end:
            n = k + 1
            break
        if v <= 0.0 and population not in ("stop-and-go",):
            raise RuntimeError(f"{population}: the truck stopped (v0 {v0_kmh:.1f} km/h)")
    del w
    return Motion(t[:n], xs[:n], vs[:n], acc[:n], params)


# ----------------------------------------------------------------------------------------------------------
# Road
# ----------------------------------------------------------------------------------------------------------


def make_road(
    rng: np.random.Generator,
    x_lo: float,
    x_start: float,
    x_stop: float,
    bump_mm: float = 0.0,
    gd_max: float = 64e-6,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """An ISO 8608 profile on a 1 cm grid over [x_lo, x_stop], enveloped by the tyre patch, level before
    ``x_start`` and faded in over the 4 m after it."""
    dx = 0.01
    x = np.arange(x_lo - 0.5, x_stop + 1.0, dx)
    gd0 = math.exp(rng.uniform(math.log(min(8e-6, gd_max / 4)), math.log(gd_max)))
    n = np.arange(0.05, 10.0, 0.01)  # cycles/m: wavelengths 0.1-20 m
    amp = np.sqrt(2 * gd0 * (n / 0.1) ** -2 * 0.01)
    phase = rng.uniform(0, 2 * np.pi, n.size)
    z = np.zeros_like(x)
    for chunk in range(0, n.size, 100):
        sl = slice(chunk, chunk + 100)
        z += (amp[sl, None] * np.cos(2 * np.pi * n[sl, None] * x[None, :] + phase[sl, None])).sum(axis=0)
    fade = np.clip((x - x_start) / 4.0, 0, 1)
    z = z * (0.5 - 0.5 * np.cos(np.pi * fade))
    info: dict[str, Any] = {"iso8608_gd_n0_m3": gd0}
    if bump_mm > 0:
        h = rng.uniform(0.5, 1.0) * bump_mm / 1000
        length = rng.uniform(0.3, 0.6)
        xc = -rng.uniform(1.0, 5.0)
        on = np.abs(x - xc) < length / 2
        z[on] += h * 0.5 * (1 + np.cos(2 * np.pi * (x[on] - xc) / length))
        info.update(bump_mm=round(h * 1000, 2), bump_x_m=round(xc, 2))
    k = round(FOOTPRINT_M / dx)
    z = np.convolve(z, np.ones(k) / k, mode="same")
    return x, z, info


# ----------------------------------------------------------------------------------------------------------
# Vehicle dynamics
# ----------------------------------------------------------------------------------------------------------


def tyre_forces(truck: Truck, motion: Motion, road_x: np.ndarray, road_z: np.ndarray) -> np.ndarray:
    """Tyre contact force of every axle (N) at each simulation step: shape (n_steps, n_axles)."""
    nb = len(truck.bodies)
    na = len(truck.axle_d_m)
    nq = 2 * nb + na
    mass = np.zeros(nq)
    for b, body in enumerate(truck.bodies):
        mass[2 * b] = body.mass_kg
        mass[2 * b + 1] = body.pitch_inertia
    mass[2 * nb :] = truck.unsprung_kg
    stiff = np.zeros((nq, nq))
    damp = np.zeros((nq, nq))

    def point(b: int, d: float) -> np.ndarray:
        g = np.zeros(nq)
        g[2 * b] = 1.0
        g[2 * b + 1] = truck.bodies[b].cg_d_m - d  # pitch positive nose-up: points ahead rise
        return g

    for i in range(na):
        e = np.zeros(nq)
        e[2 * nb + i] = 1.0
        r = point(truck.axle_body[i], truck.axle_d_m[i]) - e
        stiff += truck.susp_k[i] * np.outer(r, r)
        damp += truck.susp_c[i] * np.outer(r, r)
        stiff += truck.tyre_k[i] * np.outer(e, e)
        damp += truck.tyre_c[i] * np.outer(e, e)
    if nb == 2:
        assert truck.fifth_wheel_d_m is not None
        r = point(0, truck.fifth_wheel_d_m) - point(1, truck.fifth_wheel_d_m)
        kf = 5e7
        stiff += kf * np.outer(r, r)
        damp += 2 * 0.3 * math.sqrt(kf * truck.bodies[1].mass_kg * 0.3) * np.outer(r, r)
    # Inputs: road height and rate under each axle, then the acceleration (two columns: a and a+ = max(a, 0)).
    n_in = 2 * na + 2
    force_in = np.zeros((nq, n_in))
    for i in range(na):
        force_in[2 * nb + i, i] = truck.tyre_k[i]
        force_in[2 * nb + i, na + i] = truck.tyre_c[i]
    if nb == 1:
        force_in[1, 2 * na] = truck.bodies[0].unit_mass_kg * truck.bodies[0].cg_height_m
    else:
        m1, m2 = truck.bodies[0].unit_mass_kg, truck.bodies[1].unit_mass_kg
        h5 = truck.fifth_wheel_height_m
        force_in[1, 2 * na] = m1 * truck.bodies[0].cg_height_m
        force_in[3, 2 * na] = m2 * truck.bodies[1].cg_height_m
        # Traction: the tractor pulls the trailer at the fifth wheel.
        force_in[1, 2 * na + 1] = m2 * h5
        force_in[3, 2 * na + 1] = -m2 * h5
    minv = 1.0 / mass
    a_mat = np.zeros((2 * nq, 2 * nq))
    a_mat[:nq, nq:] = np.eye(nq)
    a_mat[nq:, :nq] = -minv[:, None] * stiff
    a_mat[nq:, nq:] = -minv[:, None] * damp
    b_mat = np.zeros((2 * nq, n_in))
    b_mat[nq:] = minv[:, None] * force_in
    dt = 1.0 / SIM_HZ
    lam, vec = np.linalg.eig(a_mat)
    vinv = np.linalg.inv(vec)
    phi = (vec * np.exp(lam * dt)) @ vinv
    gam = (vec * ((np.exp(lam * dt) - 1) / lam)) @ vinv @ b_mat
    phi, gam = phi.real, gam.real

    axle_x = motion.x_front[:, None] - truck.axle_d_m[None, :]
    zr = np.interp(axle_x, road_x, road_z)
    zr_rate = np.gradient(zr, dt, axis=0)
    u = np.concatenate([zr, zr_rate, motion.a[:, None], np.maximum(motion.a, 0)[:, None]], axis=1)
    drive = u @ gam.T
    n = motion.t.size
    states = np.empty((n, 2 * nq))
    x = np.zeros(2 * nq)
    for k in range(n):
        states[k] = x
        x = phi @ x + drive[k]
    zu = states[:, 2 * nb : nq]
    zu_rate = states[:, nq + 2 * nb :]
    force = truck.static_kg * G + truck.tyre_k * (zr - zu) + truck.tyre_c * (zr_rate - zu_rate)
    return np.maximum(force, 0.0)


# ----------------------------------------------------------------------------------------------------------
# Scale and capture
# ----------------------------------------------------------------------------------------------------------


def platform_shares(axle_x: np.ndarray, lengths: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Share of each axle's patch on each platform and the share's lever position u along the platform.

    ``axle_x`` (n, a) -> (n, a, P) shares and (n, a, P) u in [0, 1]."""
    edges = np.concatenate(([0.0], np.cumsum(lengths)))
    lo = axle_x[..., None] - FOOTPRINT_M / 2
    hi = axle_x[..., None] + FOOTPRINT_M / 2
    ov_lo = np.maximum(lo, edges[None, None, :-1])
    ov_hi = np.minimum(hi, edges[None, None, 1:])
    share = np.clip(ov_hi - ov_lo, 0, None) / FOOTPRINT_M
    u = np.clip(((ov_lo + ov_hi) / 2 - edges[None, None, :-1]) / np.array(lengths)[None, None, :], 0, 1)
    return share, u


@dataclass
class Crossing:
    truck: Truck
    motion: Motion
    population: str
    scale: str
    entry_t: np.ndarray
    exit_t: np.ndarray
    times: np.ndarray
    counts: np.ndarray
    meta: dict[str, Any]
    mid_t: np.ndarray | None = None  # (n_axles, 1): the entry strip's times when an approach strip leads


def _strip_time(t: np.ndarray, x: np.ndarray, x_strip: float) -> float:
    idx = int(np.searchsorted(x, x_strip, side="left"))
    if idx <= 0 or idx >= x.size:
        return math.nan
    x_a, x_b = x[idx - 1], x[idx]
    f = (x_strip - x_a) / (x_b - x_a) if x_b > x_a else 0.0
    return float(t[idx - 1] + f * (t[idx] - t[idx - 1]))


def simulate_crossing(
    scale: str,
    population: str,
    rng: np.random.Generator,
    *,
    kind: str | None = None,
    v0_kmh: float | None = None,
    load_fraction: float | None = None,
    strip_jitter_ms: float = 4.0,
    bump_mm: float = 0.0,
    span_error_sd: float = 3e-4,
    noise_kg: float = 3.0,
    vehicle_number: int = 1,
    motion_overrides: dict[str, float] | None = None,
    road_gd_max: float = 64e-6,
    approach_strip_m: float = 0.0,
) -> Crossing:
    """Simulate one crossing and build its capture (counts, times, strip times, meta).

    ``approach_strip_m`` > 0 adds a strip that far before the entry strip: the capture's entry strip is then
    that one, and the strip at -0.5 m becomes its intermediate strip (``scale.mid_strips_x_m``).  The
    capture then starts its pre-roll before the approach strip: more samples, so from the second crossing
    of a population on, the random draws (and the trucks) differ from a run without it."""
    lengths = SCALES[scale]
    scale_len = float(sum(lengths))
    kind = kind or VEHICLE_KINDS[int(rng.integers(len(VEHICLE_KINDS)))]
    truck = make_truck(kind, rng, load_fraction)
    if v0_kmh is None:
        v0_kmh = math.exp(rng.uniform(math.log(3.0), math.log(40.0)))
    motion = make_motion(population, rng, v0_kmh, truck.span_m, scale_len, motion_overrides)
    # The road is level under every axle at the start and fades in ahead of the front axle.
    x_first = float(motion.x_front[0])
    road_x, road_z, road_info = make_road(
        rng, x_first - truck.span_m, x_first + 0.5, float(motion.x_front[-1]) + 1.0, bump_mm, road_gd_max
    )
    force_n = tyre_forces(truck, motion, road_x, road_z)

    # True strip times (axle centres), then jitter.
    axle_x_all = motion.x_front[:, None] - truck.axle_d_m[None, :]
    exit_x = scale_len
    entry_true = np.array(
        [_strip_time(motion.t, axle_x_all[:, i], ENTRY_STRIP_X_M) for i in range(len(truck.tyres))]
    )
    exit_true = np.array([_strip_time(motion.t, axle_x_all[:, i], exit_x) for i in range(len(truck.tyres))])
    jit = strip_jitter_ms / 1000.0
    entry_t = entry_true + rng.uniform(-jit, jit, entry_true.size)
    exit_t = exit_true + rng.uniform(-jit, jit, exit_true.size)
    true_axle_speed = (exit_x - ENTRY_STRIP_X_M) / (exit_true - entry_true) * 3.6

    approach_x = ENTRY_STRIP_X_M - approach_strip_m
    approach_true = (
        np.array([_strip_time(motion.t, axle_x_all[:, i], approach_x) for i in range(len(truck.tyres))])
        if approach_strip_m > 0
        else None
    )
    # Samples at 1000 Hz from the pre-roll to just after the last exit.
    t0 = (entry_true if approach_true is None else approach_true)[0] - PREROLL_S
    t1 = exit_true[-1] + POSTROLL_S
    step = SIM_HZ // RATE_HZ
    k0 = math.ceil(t0 * SIM_HZ / step) * step
    k1 = math.floor(t1 * SIM_HZ)
    idx = np.arange(k0, min(k1, motion.t.size - 1) + 1, step)
    times = motion.t[idx]
    ax = axle_x_all[idx]
    f_kg = force_n[idx] / G
    share, u = platform_shares(ax, lengths)
    n_pl = len(lengths)
    left = np.clip(
        0.5 + rng.uniform(-0.25, 0.25) / PLATFORM_WIDTH_M + rng.normal(0, 0.015, ax.shape[1]), 0.3, 0.7
    )
    on_kg = f_kg[:, :, None] * share  # (n, a, P)
    cell_kg = np.zeros((times.size, 4 * n_pl))
    for p in range(n_pl):
        entry_kg = on_kg[:, :, p] * (1 - u[:, :, p])
        exit_kg = on_kg[:, :, p] * u[:, :, p]
        cell_kg[:, 4 * p + 0] = (entry_kg * left).sum(axis=1)
        cell_kg[:, 4 * p + 1] = (entry_kg * (1 - left)).sum(axis=1)
        cell_kg[:, 4 * p + 2] = (exit_kg * left).sum(axis=1)
        cell_kg[:, 4 * p + 3] = (exit_kg * (1 - left)).sum(axis=1)
        # Platform ring: each axle's arrival on this platform excites a damped 20-35 Hz mode.
        f_ring = rng.uniform(20, 35)
        arrive = np.argmax(share[:, :, p] > 0, axis=0)
        for i in range(ax.shape[1]):
            if not share[arrive[i], i, p] > 0:
                continue
            tau = times[arrive[i] :] - times[arrive[i]]
            ring = 0.003 * truck.static_kg[i] * np.exp(-tau / 0.05) * np.sin(2 * np.pi * f_ring * tau)
            cell_kg[arrive[i] :, 4 * p : 4 * p + 4] += ring[:, None] / 4
    span_true = KG_PER_COUNT * (1 + rng.normal(0, span_error_sd, 4 * n_pl))
    zero = rng.integers(20_000, 60_000, 4 * n_pl)
    noisy = cell_kg + rng.normal(0, noise_kg, cell_kg.shape)
    counts = np.rint(zero + noisy / span_true).astype("<i4")

    true_mean_kmh = float(np.mean(true_axle_speed))
    # The true speed change between the first and the last strip event (front axle's speed), of the mean.
    v_first = float(np.interp(entry_true[0], motion.t, motion.v))
    v_last = float(np.interp(exit_true[-1], motion.t, motion.v))
    span_change = 2 * (v_last - v_first) / (v_last + v_first)
    meta = {
        "format": "weighlane-capture",
        "version": 1,
        "created_utc": "2026-12-05T00:00:00.000Z",
        "site_id": "independent-model",
        "lane": 1,
        "vehicle_number": vehicle_number,
        "sample_rate_hz": RATE_HZ,
        "samples_lost": 0,
        "tyres": truck.tyres,
        "problems": [],
        "scale": {
            "platform_lengths_m": lengths,
            "kg_per_count": KG_PER_COUNT,
            "entry_strip_x_m": ENTRY_STRIP_X_M if approach_true is None else approach_x,
            "exit_strip_x_m": exit_x,
            "mid_strips_x_m": [] if approach_true is None else [ENTRY_STRIP_X_M],
            "tyre_footprint_m": FOOTPRINT_M,
            "strip_timing_sd_s": max(jit / math.sqrt(3), 1e-6),
            "platform_width_m": PLATFORM_WIDTH_M,
        },
        "software": {"name": "bench/independent_wim_model.py", "version": "1"},
        "extra": {
            "truth": {
                "population": population,
                "scale": scale,
                "kind": kind,
                "axle_loads_kg": [round(float(w), 2) for w in truck.static_kg],
                "gross_kg": round(truck.gross_kg, 2),
                "limit_kg": truck.limit_kg,
                "axle_d_m": [round(float(d), 4) for d in truck.axle_d_m],
                "speed_kmh": round(true_mean_kmh, 3),
                "span_speed_change": round(span_change, 4),
                "axle_speeds_kmh": [round(float(s), 3) for s in true_axle_speed],
                "cg_heights_m": [round(b.cg_height_m, 3) for b in truck.bodies],
                "motion": motion.params,
                "road": road_info,
                **truck.extra,
            }
        },
    }
    if approach_true is None:
        return Crossing(truck, motion, population, scale, entry_t, exit_t, times, counts, meta)
    approach_t = approach_true + rng.uniform(-jit, jit, approach_true.size)
    return Crossing(
        truck, motion, population, scale, approach_t, exit_t, times, counts, meta, entry_t[:, None]
    )


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_capture(crossing: Crossing, path: Path) -> Path:
    """Write ``crossing`` as a .wlcap per docs/capture-format.md (numpy, zipfile and json only)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.json", json.dumps(crossing.meta, indent=1))
        archive.writestr("counts.npy", _npy(crossing.counts))
        archive.writestr("times_s.npy", _npy(crossing.times.astype("<f8")))
        archive.writestr("entry_t_s.npy", _npy(crossing.entry_t.astype("<f8")))
        archive.writestr("exit_t_s.npy", _npy(crossing.exit_t.astype("<f8")))
        if crossing.mid_t is not None:
            archive.writestr("mid_t_s.npy", _npy(crossing.mid_t.astype("<f8")))
    return path


# ----------------------------------------------------------------------------------------------------------
# Replay and report
# ----------------------------------------------------------------------------------------------------------


def replay(paths: list[Path], jobs: int = 1) -> dict[str, dict[str, Any]]:
    """Replay captures with ``edge wim replay --json`` (``jobs`` processes); results by file path."""
    exe = ROOT / ".venv" / "bin" / "edge"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edge"]
    chunks = [paths[i::jobs] for i in range(jobs) if paths[i::jobs]]

    def run(chunk: list[Path]) -> list[str]:
        proc = subprocess.run(
            [*cmd, "wim", "replay", "--json", "-q", *map(str, chunk)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"replay failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return proc.stdout.splitlines()

    out: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for lines in pool.map(run, chunks):
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    out[str(Path(row["file"]))] = row
    return out


def reason_key(reason: str) -> str:
    """A re-weigh reason without its numbers, for counting."""
    return re.sub(r"\s+", " ", re.sub(r"[-+]?\d[\d,]*(\.\d+)?", "#", reason)).strip()


def evaluate(truth: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Compare one replayed crossing with its truth."""
    verdict = result.get("verdict")
    row: dict[str, Any] = {
        "population": truth["population"],
        "kind": truth["kind"],
        "speed_kmh": truth["speed_kmh"],
        "truly_fast": max(truth["axle_speeds_kmh"]) > 40.0,
        "verdict": verdict,
        "reasons": result.get("reasons", []),
        "true_gross_kg": truth["gross_kg"],
        "gross_kg": result.get("gross_kg"),
        "overweight_true": truth["gross_kg"] > 1.05 * truth["limit_kg"],
        "vehicle_class": result.get("vehicle_class"),
        "limit_mismatch": result.get("limit_kg") is not None and result.get("limit_kg") != truth["limit_kg"],
        "span_speed_change": truth.get("span_speed_change"),
    }
    if verdict != "reweigh" and result.get("gross_kg") is not None:
        row["gross_err_pct"] = 100 * (result["gross_kg"] - truth["gross_kg"]) / truth["gross_kg"]
        loads = result.get("axle_loads_kg") or []
        if len(loads) == len(truth["axle_loads_kg"]):
            err = [100 * (m - w) / w for m, w in zip(loads, truth["axle_loads_kg"], strict=True)]
            row["axle_err_pct"] = err
    return row


def summarise(rows: list[dict[str, Any]], scale: str) -> dict[str, Any]:
    """Figures for one scale x population (or any set of rows)."""
    n = len(rows)
    rew = [r for r in rows if r["verdict"] == "reweigh"]
    rew_other = [r for r in rew if not r["truly_fast"]]
    judged = [r for r in rows if "gross_err_pct" in r]
    err = np.array([r["gross_err_pct"] for r in judged])
    out: dict[str, Any] = {
        "crossings": n,
        "reweigh_pct": 100 * len(rew) / n if n else math.nan,
        "reweigh_not_fast_pct": 100 * len(rew_other) / max(1, sum(not r["truly_fast"] for r in rows)),
        "judged": len(judged),
    }
    if judged:
        out.update(
            p5=float(np.percentile(err, 5)),
            p50=float(np.percentile(err, 50)),
            p95=float(np.percentile(err, 95)),
            max_abs=float(np.max(np.abs(err))),
        )
        for lim in (0.5, 1.0, 2.0, 2.5):
            out[f"within_{lim}"] = 100 * float(np.mean(np.abs(err) <= lim))
        with_axles = [r for r in judged if "axle_err_pct" in r]
        if with_axles:
            out["all_axles_2pct"] = 100 * float(
                np.mean([max(map(abs, r["axle_err_pct"])) <= 2.0 for r in with_axles])
            )
            all_axle = np.concatenate([np.abs(r["axle_err_pct"]) for r in with_axles])
            out["axle_loads_2pct"] = 100 * float(np.mean(all_axle <= 2.0))
    limit = CLASS_LIMIT_PCT[scale]
    handled = [r["verdict"] == "reweigh" or abs(r.get("gross_err_pct", math.inf)) <= limit for r in rows]
    out["handled_pct"] = 100 * float(np.mean(handled)) if rows else math.nan
    out["overweight_passed"] = sum(r["overweight_true"] and r["verdict"] == "pass" for r in rows)
    out["limit_mismatch"] = sum(bool(r.get("limit_mismatch")) for r in rows)
    return out


def run_bench(
    scales: list[str],
    populations: list[str],
    crossings: dict[str, int],
    seed: int,
    strip_jitter_ms: float,
    out_dir: Path,
    bump_mm: float = 0.0,
    jobs: int = 1,
    road_gd_max: float = 64e-6,
    approach_strip_m: float = 0.0,
) -> dict[str, Any]:
    rows_by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    t_start = time.monotonic()
    paths: list[Path] = []
    truths: dict[str, dict[str, Any]] = {}
    for scale in scales:
        for pop in populations:
            # One stream per scale and population: a population's crossings do not depend on the others run.
            rng = np.random.default_rng([seed, list(SCALES).index(scale), POPULATIONS.index(pop)])
            sub = out_dir / scale / pop
            sub.mkdir(parents=True, exist_ok=True)
            for c in range(crossings[pop]):
                cr = simulate_crossing(
                    scale,
                    pop,
                    rng,
                    strip_jitter_ms=strip_jitter_ms,
                    bump_mm=bump_mm,
                    vehicle_number=c + 1,
                    road_gd_max=road_gd_max,
                    approach_strip_m=approach_strip_m,
                )
                path = write_capture(cr, sub / f"{c:04d}.wlcap")
                paths.append(path)
                truths[str(path)] = cr.meta["extra"]["truth"]
    t_gen = time.monotonic() - t_start
    results = replay(paths, jobs=jobs)
    t_replay = time.monotonic() - t_start - t_gen
    reasons: dict[str, Counter[str]] = {}
    for path in paths:
        truth = truths[str(path)]
        res = results.get(str(path))
        if res is None:
            raise RuntimeError(f"no replay result for {path}")
        row = evaluate(truth, res)
        row["file"] = str(path)
        rows_by.setdefault((truth["scale"], truth["population"]), []).append(row)
        if row["verdict"] == "reweigh":
            for reason in row["reasons"]:
                reasons.setdefault(truth["scale"], Counter())[reason_key(reason)] += 1
    table = []
    for (scale, pop), rows in rows_by.items():
        entry = {"scale": scale, "population": pop, **summarise(rows, scale)}
        for band, lo, hi in (("<=10", 0.0, 10.0), ("10-40", 10.0, 40.0)):
            band_rows = [r for r in rows if lo < r["speed_kmh"] <= hi]
            if band_rows:
                entry[f"band_{band}"] = summarise(band_rows, scale)
        table.append(entry)
    return {
        "seed": seed,
        "strip_jitter_ms": strip_jitter_ms,
        "bump_mm": bump_mm,
        "road_gd_max": road_gd_max,
        "generate_s": round(t_gen, 1),
        "replay_s": round(t_replay, 1),
        "table": table,
        "reasons": {k: dict(v.most_common()) for k, v in reasons.items()},
        "rows": [r for rows in rows_by.values() for r in rows],
    }


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_report(report: dict[str, Any]) -> None:
    print(
        f"seed {report['seed']}, strip jitter +/-{report['strip_jitter_ms']} ms, bump {report['bump_mm']} mm, "
        f"road G_d(n0) up to {report['road_gd_max']:.1e} m^3; "
        f"generate {report['generate_s']} s, replay {report['replay_s']} s"
    )
    head = (
        f"{'scale':<12}{'population':<20}{'band':<7}{'n':>5}{'rew%':>7}{'rew~v%':>7}{'p5':>7}{'p50':>7}{'p95':>7}"
        f"{'max':>7}{'<.5%':>7}{'<1%':>7}{'<2%':>7}{'<2.5%':>7}{'ax2%':>7}{'axl2%':>7}{'hand%':>7}{'owP':>5}{'lim!':>5}"
    )
    print(head)
    for e in report["table"]:
        for band, s in (("all", e), ("<=10", e.get("band_<=10")), ("10-40", e.get("band_10-40"))):
            if s is None:
                continue
            print(
                f"{e['scale']:<12}{e['population']:<20}{band:<7}{s['crossings']:>5}{_fmt(s['reweigh_pct'], '.1f'):>7}"
                f"{_fmt(s['reweigh_not_fast_pct'], '.1f'):>7}"
                f"{_fmt(s.get('p5')):>7}{_fmt(s.get('p50')):>7}{_fmt(s.get('p95')):>7}{_fmt(s.get('max_abs')):>7}"
                f"{_fmt(s.get('within_0.5'), '.1f'):>7}{_fmt(s.get('within_1.0'), '.1f'):>7}"
                f"{_fmt(s.get('within_2.0'), '.1f'):>7}{_fmt(s.get('within_2.5'), '.1f'):>7}"
                f"{_fmt(s.get('all_axles_2pct'), '.1f'):>7}{_fmt(s.get('axle_loads_2pct'), '.1f'):>7}"
                f"{_fmt(s['handled_pct'], '.1f'):>7}{s['overweight_passed']:>5}{s['limit_mismatch']:>5}"
            )
    print(
        "rew%: re-weighed; rew~v%: re-weighed among crossings truly at or below 40 km/h; p5..max: gross error (%) "
        "of judged crossings vs the true static gross; <x%: share judged within; ax2%: share judged with every axle "
        "within 2 %; axl2%: share of judged axle loads within 2 %; hand%: re-weighed or within the class limit; "
        "owP: truly > 105 % of limit yet passed; lim!: crossings judged against another legal limit than the "
        "vehicle's (misclassified)"
    )
    for scale, counts in report["reasons"].items():
        print(f"re-weigh reasons, {scale}:")
        for reason, n in counts.items():
            print(f"  {n:>5}  {reason}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--scale", action="append", choices=list(SCALES), help="repeatable; default all three")
    ap.add_argument("--population", action="append", choices=POPULATIONS, help="repeatable; default all")
    ap.add_argument("--crossings", type=int, default=100, help="crossings per scale and population")
    ap.add_argument(
        "--normal-crossings",
        type=int,
        default=None,
        help="crossings for steady and speed-change-10pct (default: --crossings)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--strip-jitter-ms", type=float, default=4.0, help="uniform +/- jitter of the strip times"
    )
    ap.add_argument("--bump-mm", type=float, default=0.0, help="approach bump height (0: none)")
    ap.add_argument(
        "--road-gd-max",
        type=float,
        default=64e-6,
        help="largest ISO 8608 G_d(n0) drawn, m^3 (64e-6: mid class B; 32e-6: class A only)",
    )
    ap.add_argument(
        "--approach-strip-m",
        type=float,
        default=0.0,
        help="add a strip this far (m) before the entry strip, which becomes its intermediate strip (0: none)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="replay processes")
    ap.add_argument("--out", type=Path, help="keep the captures in this directory")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--rows", type=Path, help="write every crossing's truth vs result here (JSON lines)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.approach_strip_m <= 7.0:
        ap.error(
            f"--approach-strip-m must be 0-7 m (the truck starts 8 m before the entry strip), got {args.approach_strip_m}"
        )
    scales = args.scale or list(SCALES)
    pops = args.population or POPULATIONS
    normal = args.normal_crossings if args.normal_crossings is not None else args.crossings
    crossings = {p: (normal if p in ("steady", "speed-change-10pct") else args.crossings) for p in pops}
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        out_dir = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="indep-wim-")))
        out_dir.mkdir(parents=True, exist_ok=True)
        report = run_bench(
            scales,
            pops,
            crossings,
            args.seed,
            args.strip_jitter_ms,
            out_dir,
            args.bump_mm,
            args.jobs,
            args.road_gd_max,
            args.approach_strip_m,
        )
    report["wall_s"] = round(time.monotonic() - t0, 1)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in report["rows"]))
    report["cpu"] = f"{os.uname().machine}, {os.cpu_count()} CPUs"
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    else:
        print_report(report)
        print(f"wall {report['wall_s']} s on {report['cpu']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
