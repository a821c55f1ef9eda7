"""The pose is recoverable from CSI amplitudes: simple regressors from 20-frame amplitude
windows to keypoints beat the mean-pose baseline on a held-out recording (another seed)."""

from __future__ import annotations

import numpy as np

from posecog.nodes.sim import NULL_BINS, SimConfig, generate

KEEP = [k for k in range(56) if k not in NULL_BINS]


def _windows(seed: int, duration_s: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    sim = generate(SimConfig(seed=seed, duration_s=duration_s, n_nodes=2))
    out = []
    for node in sim.nodes:
        n = node.ts.size // 20
        amp = node.amplitudes()[: n * 20, KEEP].reshape(n, 20, -1)
        kp = node.keypoints[: n * 20].reshape(n, 20, 34).mean(1)
        out.append((amp.mean(1), kp, node.activity[: n * 20 : 20]))
    return out


def _mpjpe(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm((pred - truth).reshape(-1, 17, 2), axis=-1).mean())


def test_pose_is_learnable_from_amplitude_windows() -> None:
    train, test = _windows(11, 900.0), _windows(12, 240.0)
    for (ftr, ytr, _), (fte, yte, _) in zip(train, test, strict=True):
        mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
        a, b = (ftr - mu) / sd, (fte - mu) / sd
        baseline = _mpjpe(np.tile(ytr.mean(0), (len(yte), 1)), yte)
        # Ridge least squares on the window-mean amplitudes of the 44 live bins.
        a1, b1 = np.c_[a, np.ones(len(a))], np.c_[b, np.ones(len(b))]
        w = np.linalg.solve(a1.T @ a1 + np.eye(a1.shape[1]), a1.T @ ytr)
        ridge = _mpjpe(b1 @ w, yte)
        # 5-nearest-neighbour regression on the same features.
        d = ((b[:, None] - a[None]) ** 2).sum(-1)
        knn = _mpjpe(ytr[np.argsort(d, axis=1)[:, :5]].mean(1), yte)
        print(f"baseline {baseline:.4f} ridge {ridge:.4f} knn {knn:.4f}")
        assert max(ridge, knn) < 0.9 * baseline
        assert min(ridge, knn) < 0.7 * baseline
