"""The CSI model: a fixed room, TX/RX links, static multipath, and a body that shadows and scatters.

Per link (one ESP32 node = one TX/RX pair) and frame, the complex channel of LLTF bin k is

    H_k = G * [ sum_p g_p(pose) * a_p * exp(-j 2 pi f_k L_p / c)
              + beta * sum_j rho_j / (d1_j d2_j) * exp(-j 2 pi f_k (d1_j + d2_j) / c) ]

``f_k = f_c + s_k * 312.5 kHz`` with ``s_k = k`` for k < 32 and ``k - 64`` above (FFT order).
Static paths p: the line of sight (``a = 1/L``), six first-order reflections off walls, floor and
ceiling (image method, ``a = Gamma/L``) and a few furniture scatterers (``a = rho/(d1 d2)``).
``g_p`` is the body's shadowing of path p: each joint j near a path segment multiplies it by
``1 - alpha_j exp(-r^2 / (2 sigma^2))``, r the joint's distance from the segment, ``sigma^2 =
F1^2/4 + radius_j^2`` with F1 the first Fresnel radius there. Joints also scatter (bistatic radar
equation, amplitude ``rho_j = sqrt(RCS_j / 4 pi)``, ``d1``/``d2`` the TX-joint and joint-RX
distances), scaled by ``beta`` (:attr:`ChannelParams.scatter_gain`). G scales the empty room's
mean amplitude to :attr:`ChannelParams.level_lsb`. Deliberate idealisations (see
:class:`ChannelParams` and docs/simulator.md): body paths use ``f_k' = body_phase_hz + Z s_k
312.5 kHz`` in place of ``f_k`` (no carrier-scale speckle; delays resolved Z = ``delay_zoom``
times finer than 20 MHz allows) and shadowing zones are ``shadow_scale`` times wider.
Lengths in metres, frequencies in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .skeleton import F64

__all__ = [
    "LINKS",
    "NULL_BINS",
    "ROOM",
    "ChannelModel",
    "ChannelParams",
    "Link",
    "amplitudes",
    "subcarrier_freqs",
]

C = 299_792_458.0
N_BINS = 64
#: LLTF bins that carry no signal on a 64-subcarrier ESP32 frame: DC and the guard band.
NULL_BINS = (0, *range(27, 38))
#: Room size (m): width (x), depth (y), height (z).
ROOM = (6.0, 5.0, 2.8)


@dataclass(frozen=True, slots=True)
class Link:
    """One sensing node: its id, transmitter and receiver positions (m)."""

    node_id: int
    tx: tuple[float, float, float]
    rx: tuple[float, float, float]


#: Links of nodes 1..4, crossing the area where the person moves; ``n_nodes`` takes the first n.
LINKS: tuple[Link, ...] = (
    Link(1, (0.2, 1.0, 1.0), (5.8, 4.2, 1.1)),
    Link(2, (5.8, 1.0, 1.3), (0.2, 4.2, 0.8)),
    Link(3, (3.0, 0.2, 0.7), (3.0, 4.8, 1.6)),
    Link(4, (0.2, 2.7, 1.6), (5.8, 2.7, 0.5)),
)
#: Fixed furniture scatterers: position (m) and radar cross-section (m^2).
FURNITURE: tuple[tuple[float, float, float, float], ...] = (
    (0.6, 4.5, 0.8, 1.5), (5.4, 0.5, 1.0, 1.0), (2.0, 4.7, 1.8, 0.8),
    (4.5, 4.6, 0.4, 1.2), (0.4, 0.4, 1.2, 0.6), (5.6, 3.0, 2.0, 0.8),
)  # fmt: skip
#: Per COCO joint: shadowing depth alpha, shadowing radius (m), radar cross-section (m^2).
JOINT_ALPHA = np.array([0.12, 0.03, 0.03, 0.04, 0.04, 0.30, 0.30, 0.12, 0.12,
                        0.08, 0.08, 0.30, 0.30, 0.15, 0.15, 0.08, 0.08])  # fmt: skip
JOINT_RADIUS = np.array([0.09, 0.03, 0.03, 0.04, 0.04, 0.12, 0.12, 0.06, 0.06,
                         0.04, 0.04, 0.13, 0.13, 0.07, 0.07, 0.05, 0.05])  # fmt: skip
JOINT_RCS = np.array([0.05, 0.005, 0.005, 0.01, 0.01, 0.12, 0.12, 0.04, 0.04,
                      0.03, 0.03, 0.12, 0.12, 0.05, 0.05, 0.03, 0.03])  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChannelParams:
    """Physical and radio parameters of the model (defaults: ESP32 on 2.4 GHz channel 6)."""

    carrier_hz: float = 2.437e9
    spacing_hz: float = 312.5e3
    wall_gamma: float = 0.5  #: reflection coefficient of walls (floor 0.4, ceiling 0.3)
    scatter_gain: float = 3.0  #: beta: body scatter relative to the radar equation
    level_lsb: float = 12.0  #: empty-room mean amplitude (int8 units)
    gain_jitter: float = 0.02  #: per-frame relative AGC gain jitter (std)
    sto_samples: float = 0.3  #: per-frame symbol-timing offset (std, samples)
    #: Idealisations that make pose learnable (physical values: carrier_hz, 1.0, 1.0; see
    #: docs/simulator.md): carrier used for the phase of body paths (0 = no wavelength-scale
    #: speckle), widening of the shadowing zones, and exaggeration of body-path delays.
    body_phase_hz: float = 0.0
    shadow_scale: float = 3.0
    delay_zoom: float = 20.0


def subcarrier_freqs(p: ChannelParams) -> F64:
    """Frequencies (Hz) of the 64 LLTF bins in FFT order."""
    s = np.arange(N_BINS)
    return p.carrier_hz + np.where(s < 32, s, s - N_BINS) * p.spacing_hz


def _reflections(tx: F64, rx: F64, gamma: float) -> list[tuple[F64, float]]:
    """First-order image-method reflections: (vertices (3, 3), coefficient) per surface."""
    out = []
    for axis, size in enumerate(ROOM):
        g = gamma if axis < 2 else (0.4 if axis == 2 else 0.3) * gamma / 0.5
        for wall in (0.0, size):
            image = tx.copy()
            image[axis] = 2 * wall - tx[axis]
            u = (wall - image[axis]) / (rx[axis] - image[axis])
            out.append((np.stack([tx, image + u * (rx - image), rx]), g))
    return out


class ChannelModel:
    """The channel of one link. Static paths are set up once; :meth:`response` adds the body."""

    def __init__(self, link: Link, params: ChannelParams | None = None) -> None:
        self.link, self.p = link, params or ChannelParams()
        self.freqs = subcarrier_freqs(self.p)
        self.wavelength = C / self.p.carrier_hz
        tx, rx = np.array(link.tx), np.array(link.rx)
        self.los = float(np.linalg.norm(rx - tx))
        paths: list[tuple[F64, float]] = [(np.stack([tx, rx]), 1.0 / self.los)]
        for verts, g in _reflections(tx, rx, self.p.wall_gamma):
            paths.append((verts, g / _length(verts)))
        for x, y, z, rcs in FURNITURE:
            verts = np.stack([tx, np.array([x, y, z]), rx])
            d1, d2 = np.linalg.norm(verts[1] - tx), np.linalg.norm(rx - verts[1])
            paths.append((verts, float(np.sqrt(rcs / (4 * np.pi)) / (d1 * d2))))
        self.amp = np.array([a for _, a in paths])
        phase = np.array([_length(v) for v, _ in paths])[:, None] * self.freqs / C
        self.static = self.amp[:, None] * np.exp(-2j * np.pi * phase)  # (P, 64)
        # Segments (S, 2, 3) and the path each belongs to, for shadowing.
        self.seg = np.array([[v[i], v[i + 1]] for v, _ in paths for i in range(len(v) - 1)])
        self.seg_path = np.array([p for p, (v, _) in enumerate(paths) for _ in range(len(v) - 1)])
        self.null = np.zeros(N_BINS, dtype=bool)
        self.null[list(NULL_BINS)] = True
        empty = np.abs(self.static.sum(axis=0))[~self.null].mean()
        self.gain = self.p.level_lsb / float(empty)

    def shadowing(self, joints: F64) -> F64:
        """Per-path amplitude factors ``(T, P)`` in (0, 1] for joints ``(T, 17, 3)``."""
        a, b = self.seg[:, 0], self.seg[:, 1]  # (S, 3)
        ab = b - a
        seg_len = np.linalg.norm(ab, axis=1)
        q = joints[:, :, None, :] - a  # (T, 17, S, 3)
        u = np.clip((q * ab).sum(-1) / seg_len**2, 0.0, 1.0)  # (T, 17, S)
        r2 = ((q - u[..., None] * ab) ** 2).sum(-1)
        d1, d2 = u * seg_len, (1 - u) * seg_len
        fresnel2 = self.wavelength * d1 * d2 / np.maximum(d1 + d2, 1e-9)
        sigma2 = self.p.shadow_scale**2 * (fresnel2 / 4 + JOINT_RADIUS[:, None] ** 2)
        keep = np.log1p(-JOINT_ALPHA[:, None] * np.exp(-r2 / (2 * sigma2))).sum(axis=1)
        out = np.zeros((joints.shape[0], self.amp.shape[0]))
        np.add.at(out.T, self.seg_path, keep.T)
        return np.exp(out)

    def response(self, joints: F64) -> npt.NDArray[np.complex128]:
        """Noise-free channel ``(T, 64)`` in int8 units for joints ``(T, 17, 3)`` (m)."""
        tx, rx = np.array(self.link.tx), np.array(self.link.rx)
        h = self.shadowing(joints) @ self.static
        d1 = np.linalg.norm(joints - tx, axis=-1)
        d2 = np.linalg.norm(joints - rx, axis=-1)  # (T, 17)
        rho = self.p.scatter_gain * np.sqrt(JOINT_RCS / (4 * np.pi)) / (d1 * d2)
        f_body = (self.freqs - self.p.carrier_hz) * self.p.delay_zoom + self.p.body_phase_hz
        phase = ((d1 + d2) / C)[..., None] * f_body  # (T, 17, 64)
        h = h + (rho[..., None] * np.exp(-2j * np.pi * phase)).sum(axis=1)
        h[:, self.null] = 0.0
        return np.asarray(self.gain * h)

    def quantise(
        self, h: npt.NDArray[np.complex128], rng: np.random.Generator, noise_lsb: float
    ) -> npt.NDArray[np.int8]:
        """ESP32-like int8 CSI ``(T, 64, 2)`` (imaginary, real) of a channel ``(T, 64)``: per
        frame AGC gain jitter, random common phase and timing offset, complex Gaussian noise of
        ``noise_lsb`` (std per component), rounding; null bins stay exactly zero."""
        n = h.shape[0]
        s = np.where(np.arange(N_BINS) < 32, np.arange(N_BINS), np.arange(N_BINS) - N_BINS)
        gain = 1.0 + self.p.gain_jitter * np.asarray(rng.standard_normal(n))
        common = np.asarray(rng.uniform(0, 2 * np.pi, n))
        sto = self.p.sto_samples * np.asarray(rng.standard_normal(n))
        rot = np.exp(1j * (common[:, None] - 2 * np.pi * sto[:, None] * s / N_BINS))
        noise = noise_lsb * (
            rng.standard_normal((n, N_BINS)) + 1j * rng.standard_normal((n, N_BINS))
        )
        y = gain[:, None] * h * rot + noise
        iq = np.stack([y.imag, y.real], axis=-1)
        iq[:, self.null] = 0.0
        return np.asarray(np.clip(np.rint(iq), -127, 127), dtype=np.int8)


def amplitudes(iq: npt.NDArray[np.int8]) -> npt.NDArray[np.float32]:
    """Amplitudes ``(..., n)`` of int8 CSI ``(..., n, 2)``: sqrt(im^2 + re^2)."""
    v = iq.astype(np.float32)
    return np.asarray(np.sqrt(v[..., 0] ** 2 + v[..., 1] ** 2), dtype=np.float32)


def _length(verts: F64) -> float:
    return float(np.linalg.norm(np.diff(verts, axis=0), axis=1).sum())
