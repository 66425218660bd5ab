"""Reference forward passes in NumPy (float64) that read TensorFlow-layout variables directly.

Written from the published descriptions of TF StyleGAN (networks_stylegan.py G_style) and
StyleGAN2 (networks_stylegan2.py G_main): conv weights [k, k, in, out], dense [in, out],
NCHW activations, TF's SAME padding and conv2d_transpose scatter. They share no code with
waifugan's networks, so a converter that gets a transpose, flip or offset wrong cannot match.
"""

from __future__ import annotations

import numpy as np

SQRT2 = np.sqrt(2.0)


def lrelu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.2 * x)


def pixel_norm(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """tf.nn.conv2d(x, w, padding='SAME'): cross-correlation, w [k, k, in, out] or per sample
    [N, k, k, in, out]."""
    k = w.shape[-3]
    p = k // 2
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = 0.0
    for a in range(k):
        for b in range(k):
            patch = xp[:, :, a : a + h, b : b + wd]
            if w.ndim == 4:
                out = out + np.einsum("nchw,co->nohw", patch, w[a, b])
            else:
                out = out + np.einsum("nchw,nco->nohw", patch, w[:, a, b])
    return out


def transpose_scatter(x: np.ndarray, w: np.ndarray, offset: int, size: int) -> np.ndarray:
    """tf.nn.conv2d_transpose, stride 2: out[2i + a - offset] += x[i] · w[a]; w is
    [k, k, in, out] or per sample [N, k, k, in, out]; output cropped to size × size."""
    k = w.shape[-3]
    n, _, h, wd = x.shape
    full = np.zeros((n, w.shape[-1], 2 * h + k, 2 * wd + k))
    for a in range(k):
        for b in range(k):
            if w.ndim == 4:
                contrib = np.einsum("nchw,co->nohw", x, w[a, b])
            else:
                contrib = np.einsum("nchw,nco->nohw", x, w[:, a, b])
            full[:, :, a : a + 2 * h : 2, b : b + 2 * wd : 2] += contrib
    return full[:, :, offset : offset + size, offset : offset + size]


def fir(x: np.ndarray, kernel: np.ndarray, pad0: int, pad1: int, up: int = 1) -> np.ndarray:
    """upfirdn_2d: zero-insertion up-sampling, pad, then true convolution with the kernel."""
    n, c, h, w = x.shape
    if up > 1:
        z = np.zeros((n, c, h * up, w * up))
        z[:, :, ::up, ::up] = x
        x = z
    x = np.pad(x, ((0, 0), (0, 0), (pad0, pad1), (pad0, pad1)))
    kf = kernel[::-1, ::-1]
    k = kernel.shape[0]
    oh, ow = x.shape[2] - k + 1, x.shape[3] - k + 1
    out = np.zeros((n, c, oh, ow))
    for a in range(k):
        for b in range(k):
            out += x[:, :, a : a + oh, b : b + ow] * kf[a, b]
    return out


def truncate(ws: np.ndarray, w_avg: np.ndarray, psi: float, cutoff: int | None) -> np.ndarray:
    layer = np.arange(ws.shape[1])[None, :, None]
    limit = ws.shape[1] if cutoff is None else cutoff
    coef = np.where(layer < limit, psi, 1.0)
    return w_avg + (ws - w_avg) * coef


def to_uint8(img: np.ndarray) -> np.ndarray:
    """tflib.convert_images_to_uint8: x · 127.5 + 128 saturated to uint8, NHWC."""
    return np.clip(img * 127.5 + 128, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


# -- StyleGAN1 (networks_stylegan.G_style) ----------------------------------------------------


def sg1_mapping(v: dict[str, np.ndarray], z: np.ndarray, lrmul: float = 0.01) -> np.ndarray:
    x = pixel_norm(z.astype(np.float64))
    i = 0
    while f"mapping/Dense{i}/weight" in v:
        w = v[f"mapping/Dense{i}/weight"].astype(np.float64)
        coef = SQRT2 / np.sqrt(w.shape[0]) * lrmul  # he_std · lrmul, gain √2
        x = lrelu(x @ (w * coef) + v[f"mapping/Dense{i}/bias"] * lrmul)
        i += 1
    return x


def _instance_norm(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=(2, 3), keepdims=True)
    return x / np.sqrt(np.mean(x**2, axis=(2, 3), keepdims=True) + 1e-8)


def _sg1_epilogue(v, scope, x, w, noise):  # noqa: ANN001, ANN202
    x = x + noise[0, 0] * v[f"{scope}/Noise/weight"].reshape(1, -1, 1, 1)
    x = lrelu(x + v[f"{scope}/bias"].reshape(1, -1, 1, 1))
    x = _instance_norm(x)
    mw = v[f"{scope}/StyleMod/weight"].astype(np.float64)
    style = w @ (mw / np.sqrt(mw.shape[0])) + v[f"{scope}/StyleMod/bias"]
    c = x.shape[1]
    return x * (style[:, :c, None, None] + 1) + style[:, c:, None, None]


def _blur(x: np.ndarray) -> np.ndarray:
    f = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    return fir(x, f, 1, 1)


def _sg1_up_conv(x: np.ndarray, w: np.ndarray, fused: bool) -> np.ndarray:
    coef = SQRT2 / np.sqrt(np.prod(w.shape[:-1]))
    w = w.astype(np.float64) * coef
    if not fused:
        x = x.repeat(2, axis=2).repeat(2, axis=3)  # nearest
        return conv_same(x, w)
    wp = np.pad(w, ((1, 1), (1, 1), (0, 0), (0, 0)))
    w4 = wp[1:, 1:] + wp[:-1, 1:] + wp[1:, :-1] + wp[:-1, :-1]  # [4, 4, in, out]
    # conv2d_transpose, stride 2, SAME, 2H out: total padding 2, one before.
    return transpose_scatter(x, w4, offset=1, size=2 * x.shape[2])


def sg1_synthesis(v: dict[str, np.ndarray], ws: np.ndarray, fused_from: int = 128) -> np.ndarray:
    """ws [N, num_layers, w_dim] → images [N, 3, R, R] at lod 0, noise from the variables."""
    n = ws.shape[0]
    s = "synthesis"
    const = v[f"{s}/4x4/Const/const"].astype(np.float64)
    x = np.tile(const, (n, 1, 1, 1))
    x = _sg1_epilogue(v, f"{s}/4x4/Const", x, ws[:, 0], v[f"{s}/noise0"])
    w = v[f"{s}/4x4/Conv/weight"].astype(np.float64)
    x = conv_same(x, w * SQRT2 / np.sqrt(np.prod(w.shape[:-1])))
    x = _sg1_epilogue(v, f"{s}/4x4/Conv", x, ws[:, 1], v[f"{s}/noise1"])
    res = 8
    while f"{s}/{res}x{res}/Conv1/weight" in v:
        scope = f"{s}/{res}x{res}"
        layer = 2 * int(np.log2(res)) - 4
        x = _blur(_sg1_up_conv(x, v[f"{scope}/Conv0_up/weight"], res >= fused_from))
        x = _sg1_epilogue(v, f"{scope}/Conv0_up", x, ws[:, layer], v[f"{s}/noise{layer}"])
        w = v[f"{scope}/Conv1/weight"].astype(np.float64)
        x = conv_same(x, w * SQRT2 / np.sqrt(np.prod(w.shape[:-1])))
        x = _sg1_epilogue(v, f"{scope}/Conv1", x, ws[:, layer + 1], v[f"{s}/noise{layer + 1}"])
        res *= 2
    w = v[f"{s}/ToRGB_lod0/weight"].astype(np.float64)
    img = conv_same(x, w / np.sqrt(np.prod(w.shape[:-1])))
    return img + v[f"{s}/ToRGB_lod0/bias"].reshape(1, -1, 1, 1)


def sg1_images(
    v: dict[str, np.ndarray],
    z: np.ndarray,
    psi: float = 0.7,
    cutoff: int | None = 8,
    fused_from: int = 128,
) -> np.ndarray:
    """Gs.run(z, None, truncation_psi=psi, truncation_cutoff=cutoff, randomize_noise=False)
    as uint8 NHWC."""
    w = sg1_mapping(v, z)
    num_layers = sum(1 for k in v if k.startswith("synthesis/noise"))
    ws = np.repeat(w[:, None], num_layers, axis=1)
    ws = truncate(ws, v["dlatent_avg"].astype(np.float64), psi, cutoff)
    return to_uint8(sg1_synthesis(v, ws, fused_from))


# -- StyleGAN2 (networks_stylegan2.G_main, config F: skip generator) ---------------------------

_FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def sg2_mapping(v: dict[str, np.ndarray], z: np.ndarray, lrmul: float = 0.01) -> np.ndarray:
    x = pixel_norm(z.astype(np.float64))
    i = 0
    while f"mapping/Dense{i}/weight" in v:
        w = v[f"mapping/Dense{i}/weight"].astype(np.float64)
        x = x @ (w * lrmul / np.sqrt(w.shape[0])) + v[f"mapping/Dense{i}/bias"] * lrmul
        x = lrelu(x) * SQRT2  # apply_bias_act: gain after the activation
        i += 1
    return x


def _sg2_modconv(v, scope, x, w, demodulate=True, up=False):  # noqa: ANN001, ANN202
    weight = v[f"{scope}/weight"].astype(np.float64)
    weight = weight / np.sqrt(np.prod(weight.shape[:-1]))
    mw = v[f"{scope}/mod_weight"].astype(np.float64)
    s = w @ (mw / np.sqrt(mw.shape[0])) + v[f"{scope}/mod_bias"] + 1  # [N, in]
    ww = weight[None] * s[:, None, None, :, None]  # [N, k, k, in, out]
    if demodulate:
        ww = ww / np.sqrt(np.sum(ww**2, axis=(1, 2, 3), keepdims=True) + 1e-8)
    if not up:
        return conv_same(x, ww)
    # upsample_conv_2d: flipped kernel, conv2d_transpose VALID stride 2, then the FIR
    # filter (gain 4) with pads (1, 1).
    h = x.shape[2]
    y = transpose_scatter(x, ww[:, ::-1, ::-1], offset=0, size=2 * h + 1)
    return fir(y, _FIR * 4, 1, 1)


def sg2_synthesis(v: dict[str, np.ndarray], ws: np.ndarray) -> np.ndarray:
    """ws [N, num_layers, w_dim] → images [N, 3, R, R], noise from the variables."""
    n = ws.shape[0]
    s = "synthesis"

    def layer(x, scope, idx, up=False):  # noqa: ANN001, ANN202
        x = _sg2_modconv(v, scope, x, ws[:, idx], up=up)
        x = x + v[f"{s}/noise{idx}"][0, 0] * v[f"{scope}/noise_strength"]
        return lrelu(x + v[f"{scope}/bias"].reshape(1, -1, 1, 1)) * SQRT2

    def torgb(x, scope, idx):  # noqa: ANN001, ANN202
        t = _sg2_modconv(v, scope, x, ws[:, idx], demodulate=False)
        return t + v[f"{scope}/bias"].reshape(1, -1, 1, 1)

    x = np.tile(v[f"{s}/4x4/Const/const"].astype(np.float64), (n, 1, 1, 1))
    x = layer(x, f"{s}/4x4/Conv", 0)
    y = torgb(x, f"{s}/4x4/ToRGB", 1)
    res = 8
    while f"{s}/{res}x{res}/Conv1/weight" in v:
        scope = f"{s}/{res}x{res}"
        log2 = int(np.log2(res))
        x = layer(x, f"{scope}/Conv0_up", 2 * log2 - 5, up=True)
        x = layer(x, f"{scope}/Conv1", 2 * log2 - 4)
        y = fir(y, _FIR * 4, 2, 1, up=2) + torgb(x, f"{scope}/ToRGB", 2 * log2 - 3)
        res *= 2
    return y


def sg2_images(
    v: dict[str, np.ndarray], z: np.ndarray, psi: float = 0.5, cutoff: int | None = None
) -> np.ndarray:
    """Gs.run(z, None, truncation_psi=psi, randomize_noise=False) as uint8 NHWC."""
    w = sg2_mapping(v, z)
    num_layers = sum(1 for k in v if k.startswith("synthesis/noise")) + 1
    ws = np.repeat(w[:, None], num_layers, axis=1)
    ws = truncate(ws, v["dlatent_avg"].astype(np.float64), psi, cutoff)
    return to_uint8(sg2_synthesis(v, ws))
