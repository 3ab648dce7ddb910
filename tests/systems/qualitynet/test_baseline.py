"""Ridge baseline on spectral statistics: features, alpha selection on dev, and that
it learns a label that is a deterministic function of the SNR."""
import numpy as np
import pytest

from tfaudio.systems.qualitynet import baseline as B

SR = 16000


def _snr_label(snr):
    return 1 + 3.5 / (1 + np.exp(-(snr - 8) / 5))


def _toy(n, seed):
    """Harmonic 'speech' + white noise at an SNR in [-5, 25] dB, random level and
    length; label = a fixed increasing function of the SNR."""
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for _ in range(n):
        m = int(rng.uniform(0.4, 1.0) * SR)
        t = np.arange(m) / SR
        f0 = rng.uniform(100, 220)
        phase = 2 * np.pi * f0 * t
        speech = sum(np.sin(k * phase) / k for k in range(1, 12))
        speech *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t))
        snr = rng.uniform(-5, 25)
        noise = rng.standard_normal(m)
        noise *= np.sqrt(np.mean(speech ** 2) / np.mean(noise ** 2)) * 10 ** (-snr / 20)
        x = speech + noise
        x *= rng.uniform(0.05, 0.9) / np.max(np.abs(x))
        waves.append(x.astype(np.float32))
        labels.append(_snr_label(snr))
    return waves, np.asarray(labels)


@pytest.fixture(scope="module")
def toy_features():
    out = {}
    for split, (n, seed) in {"train": (60, 0), "dev": (20, 1), "test": (30, 2)}.items():
        waves, y = _toy(n, seed)
        out[split] = (B.feature_matrix(waves, SR), y)
    return out


def test_features_have_named_finite_columns():
    x = np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32) * 0.1
    f = B.spectral_features(x, SR)
    assert f.shape == (len(B.feature_names()),)
    assert np.all(np.isfinite(f))
    # Shorter than a frame and digital silence still give finite features.
    assert np.all(np.isfinite(B.spectral_features(np.zeros(100, np.float32), SR)))
    # Level features follow a gain; the rest (computed at unit RMS) do not.
    g = B.spectral_features(0.5 * x, SR)
    assert g[0] - f[0] == pytest.approx(20 * np.log10(0.5), abs=1e-6)
    np.testing.assert_allclose(g[3:], f[3:], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        B.spectral_features(np.zeros(0), SR)


def test_ridge_baseline_learns_an_snr_label(toy_features):
    (xtr, ytr), (xdv, ydv), (xte, yte) = (toy_features[s] for s in ("train", "dev", "test"))
    base = B.fit_ridge_baseline(xtr, ytr, xdv, ydv)
    assert base.alpha in B.ALPHAS and set(base.dev_metrics) == set(B.ALPHAS)
    # the chosen alpha has the best dev LCC of all tried
    assert base.dev_metrics[base.alpha]["lcc"] == max(m["lcc"] for m in base.dev_metrics.values())
    pred = base.predict_features(xte)
    lcc = np.corrcoef(yte, pred)[0, 1]
    assert lcc > 0.8
    assert np.mean((pred - yte) ** 2) < np.var(yte)  # better than predicting the mean
    assert "alpha" in base.describe() and base.to_dict()["n_train"] == 60


def test_alpha_selection_by_mse_and_bad_inputs(toy_features):
    (xtr, ytr), (xdv, ydv) = toy_features["train"], toy_features["dev"]
    base = B.fit_ridge_baseline(xtr, ytr, xdv, ydv, alphas=(0.01, 1.0, 1e6), select="mse")
    assert base.dev_metrics[base.alpha]["mse"] == min(m["mse"] for m in base.dev_metrics.values())
    assert base.alpha != 1e6  # a ridge that predicts the mean is not the best on dev
    with pytest.raises(ValueError):
        B.fit_ridge_baseline(xtr, ytr, xdv, ydv, select="accuracy")
    with pytest.raises(ValueError):
        B.fit_ridge_baseline(xtr[:1], ytr[:1], xdv, ydv)
