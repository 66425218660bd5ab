"""Adaptive discriminator augmentation (ADA): every image D sees, augmented with probability p.

Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"
(StyleGAN2-ADA). Each transform is applied to each sample independently with probability p;
while p stays below ~0.8 the un-augmented distribution can be recovered from the augmented
one, so the augmentations do not leak into G's images. `AdaController` adjusts p from how
confidently D calls the reals real.

Batched: the geometric transforms of a sample are composed into one 3x3 matrix (output →
input pixel coordinates) and applied to the whole batch with ONE grid_sample; the colour
transforms into one 4x4 matrix per sample (a per-pixel affine map of RGB).

Resampling that does not leak (the paper's recipe): reflect padding (no black borders), ×2
up-sampling with the sym6 wavelet low-pass, bilinear grid_sample on the ×2 grid, and ×2
down-sampling with the time-reversed filter. sym6 is orthogonal (its autocorrelation at even
lags is a unit impulse), so up-then-down is exactly the identity: an identity matrix gives the
input back to float precision and resampling adds no blur of its own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

# Daubechies' least-asymmetric wavelet with 6 vanishing moments ("symlet 6"), decomposition
# low-pass, as PyWavelets lists it (`pywt.Wavelet("sym6").dec_lo`; Daubechies 1992, "Ten
# Lectures on Wavelets", §8.1). The ADA paper's resampling filter. Sum √2, sum of squares 1.
SYM6 = (
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
)  # fmt: skip

# The 'bgc' set of the ADA paper in its order: b = pixel blitting, g = general geometric,
# c = colour. Geometric transforms run before colour ones.
BLIT = ("xflip", "rotate90", "xint")
GEOM = ("scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
TRANSFORMS = BLIT + GEOM + COLOR
AUGPIPES: dict[str, tuple[str, ...]] = {
    "b": BLIT, "g": GEOM, "c": COLOR, "bg": BLIT + GEOM, "bc": BLIT + COLOR,
    "gc": GEOM + COLOR, "bgc": TRANSFORMS,
}  # fmt: skip

# Strengths (ADA paper, appendix B.2). Translations are fractions of the image size; the
# images are in [-1, 1], so brightness is in those units and contrast scales about mid-grey.
XINT_MAX = 0.125  # integer translation, uniform in ±0.125 of the size, rounded to pixels
SCALE_STD = 0.2  # isotropic scaling, log2-normal
ROTATE_MAX = math.pi  # arbitrary rotation, uniform in ±π
ANISO_STD = 0.2  # anisotropic scaling, log2-normal
XFRAC_STD = 0.125  # fractional translation, normal
BRIGHTNESS_STD = 0.2  # additive, normal
CONTRAST_STD = 0.5  # multiplicative, log2-normal
HUE_MAX = math.pi  # rotation about the luma axis, uniform in ±π
SATURATION_STD = 1.0  # chroma scaling, log2-normal

_LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64) / math.sqrt(3)  # luma axis v


def resolve_augpipe(augpipe: str | Sequence[str]) -> tuple[str, ...]:
    """A named subset ('bgc', 'bg', ...) or a list of transform names → the transform names."""
    if isinstance(augpipe, str):
        if augpipe not in AUGPIPES:
            raise ValueError(f"unknown augpipe {augpipe!r}; choose from {', '.join(AUGPIPES)}")
        return AUGPIPES[augpipe]
    unknown = [name for name in augpipe if name not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transforms {unknown}; choose from {', '.join(TRANSFORMS)}")
    return tuple(name for name in TRANSFORMS if name in augpipe)  # the paper's order


# -- per-sample matrices (float64 on the CPU: cheap, exact identities, no device sync) -------


def _mat(n: int, rows: Sequence[Sequence[torch.Tensor | float]]) -> torch.Tensor:
    """[N, R, C] from rows of scalars or [N] tensors."""

    def column(v: torch.Tensor | float) -> torch.Tensor:
        return torch.as_tensor(v, dtype=torch.float64).expand(n)

    return torch.stack([torch.stack([column(v) for v in row], -1) for row in rows], -2)


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _mat(len(tx), [[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale2d(sx: torch.Tensor, sy: torch.Tensor | float) -> torch.Tensor:
    return _mat(len(sx), [[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return _mat(len(cos), [[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])


def _rotate_luma(theta: torch.Tensor) -> torch.Tensor:
    """[N, 4, 4] rotation of RGB about the luma axis (Rodrigues' formula)."""
    v = _LUMA[:3]
    cross = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    R = cos * torch.eye(3) + sin * cross + (1 - cos) * torch.outer(v, v)
    out = torch.eye(4, dtype=torch.float64).repeat(len(theta), 1, 1)
    out[:, :3, :3] = R
    return out


class AugmentPipe:
    """The ADA augmentations: `pipe(img)` augments each sample with probability `pipe.p`.

    Randomness comes from `generator` when given (a CPU torch.Generator), else from torch's
    global RNG, so a checkpointed RNG state resumes the same augmentations.
    """

    def __init__(self, augpipe: str | Sequence[str] = "bgc", p: float = 0.0) -> None:
        self.transforms = resolve_augpipe(augpipe)
        self.p = float(p)

    def __call__(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """[N, C, H, W] float in [-1, 1] → same shape; p = 0 returns `img` itself."""
        if self.p <= 0 or not self.transforms:
            return img
        n, channels, height, width = img.shape
        G_inv = self.geometric_matrices(n, width, height, generator)
        C = self.colour_matrices(n, generator)
        out = img
        moved = (G_inv != torch.eye(3, dtype=G_inv.dtype)).flatten(1).any(1)
        if moved.all():
            out = resample(img, G_inv)
        elif moved.any():  # only the samples that move are resampled; the rest stay bit-exact
            idx = moved.nonzero()[:, 0]
            resampled = resample(img[idx.to(img.device)], G_inv[idx])
            out = out.index_copy(0, idx.to(img.device), resampled)
        if (torch.eye(4, dtype=C.dtype) != C).any():
            if channels != 3:
                raise ValueError(f"colour augmentations need RGB images, got {channels} channels")
            C = C.to(img.device, img.dtype)
            out = torch.einsum("nij,njhw->nihw", C[:, :3, :3], out) + C[:, :3, 3, None, None]
        return out

    def _gate(self, n: int, generator: torch.Generator | None, prob: float = -1) -> torch.Tensor:
        """[N] bool: which samples get this transform (probability p unless given)."""
        return torch.rand(n, generator=generator, dtype=torch.float64) < (
            self.p if prob < 0 else prob
        )

    def _normal(self, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    def _uniform(self, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
        """Uniform in [-1, 1)."""
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    def geometric_matrices(
        self, n: int, width: int, height: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[N, 3, 3] float64: output → input pixel coordinates (origin at the image centre)."""
        G = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        on, gen = self.transforms, generator
        if "xflip" in on:
            i = torch.randint(2, [n], generator=gen) * self._gate(n, gen)
            G = G @ _scale2d(1.0 - 2 * i, 1)
        if "rotate90" in on:  # exact cos/sin of quarter turns
            i = torch.randint(4, [n], generator=gen) * self._gate(n, gen)
            cos, sin = torch.tensor([1.0, 0, -1, 0])[i], torch.tensor([0.0, 1, 0, -1])[i]
            G = G @ _rotate2d(cos, -sin)
        if "xint" in on:
            t = self._uniform([n, 2], gen) * XINT_MAX * self._gate(n, gen)[:, None]
            G = G @ _translate2d(-(t[:, 0] * width).round(), -(t[:, 1] * height).round())
        if "scale" in on:
            s = torch.where(self._gate(n, gen), (self._normal([n], gen) * SCALE_STD).exp2(), 1)
            G = G @ _scale2d(1 / s, 1 / s)
        # Rotation runs before and after the anisotropic scaling, each with probability
        # 1 - sqrt(1 - p), so that the sample is rotated at all with probability p.
        p_rot = 1 - math.sqrt(max(1 - self.p, 0))
        for stage in ("pre", "post"):
            if "rotate" in on:
                theta = self._uniform([n], gen) * ROTATE_MAX * self._gate(n, gen, p_rot)
                G = G @ _rotate2d(theta.cos(), -theta.sin())
            if "aniso" in on and stage == "pre":
                s = torch.where(self._gate(n, gen), (self._normal([n], gen) * ANISO_STD).exp2(), 1)
                G = G @ _scale2d(1 / s, s)
        if "xfrac" in on:
            t = self._normal([n, 2], gen) * XFRAC_STD * self._gate(n, gen)[:, None]
            G = G @ _translate2d(-t[:, 0] * width, -t[:, 1] * height)
        return G

    def colour_matrices(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[N, 4, 4] float64 acting on (r, g, b, 1), composed in the paper's order."""
        C = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
        on, gen = self.transforms, generator
        vv = torch.outer(_LUMA, _LUMA)
        eye = torch.eye(4, dtype=torch.float64)
        if "brightness" in on:
            b = self._normal([n], gen) * BRIGHTNESS_STD * self._gate(n, gen)
            C = _mat(n, [[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]]) @ C
        if "contrast" in on:
            c = torch.where(self._gate(n, gen), (self._normal([n], gen) * CONTRAST_STD).exp2(), 1)
            C = _mat(n, [[c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]]) @ C
        if "lumaflip" in on:  # mirror the luma axis: dark ↔ light, chroma kept
            i = torch.randint(2, [n], generator=gen) * self._gate(n, gen)
            C = (eye - 2 * vv * i[:, None, None]) @ C
        if "hue" in on:
            theta = self._uniform([n], gen) * HUE_MAX * self._gate(n, gen)
            C = _rotate_luma(theta) @ C
        if "saturation" in on:
            s = torch.where(self._gate(n, gen), (self._normal([n], gen) * SATURATION_STD).exp2(), 1)
            C = (vv + (eye - vv) * s[:, None, None]) @ C
        return C


# -- resampling ---------------------------------------------------------------------------------

# With the 12-tap filter, the valid part of the ×2 up-sampled padded input spans
# [3.25, size - 2.75] pixels (of the padded input, from its left edge), and the ×2 down-sampling
# eats 5 + 6 samples of the ×2 output grid; the numbers below follow from that alignment.
_TAPS = len(SYM6)
# sym6 is only nearly symmetric: its low-frequency group delay Σk·f_k / Σf_k = 5.098 taps, not
# the 5.5 of a symmetric 12-tap filter, so up-sampling displaces content by (5.098 - 5.5) / 2 =
# -0.2 pixels and down-sampling moves it back. Warps are conjugated by that shift so that flips
# and rotations turn about the true image centre (translations are unaffected).
_DELAY = (sum(k * f for k, f in enumerate(SYM6)) / sum(SYM6) - (_TAPS - 1) / 2) / 2


def _band(
    rows: int, cols: int, taps: torch.Tensor, offset: int, step: tuple[int, int]
) -> torch.Tensor:
    """[rows, cols] matrix M[r, c] = taps[step[0]·r - step[1]·c + offset] (0 outside the taps).

    Separable filtering as two dense matmuls: measured 3x faster on 2 CPU cores than depthwise
    (transposed) convolutions, which have no fast kernel for 12-tap, 3-channel filters.
    """
    k = torch.arange(rows, device=taps.device)[:, None] * step[0] + offset
    k = k - torch.arange(cols, device=taps.device)[None, :] * step[1]
    inside = (k >= 0) & (k < len(taps))
    return torch.where(inside, taps[k.clamp(0, len(taps) - 1)], torch.zeros_like(taps[0]))


@functools.lru_cache(maxsize=64)
def _up_band(padded: int) -> torch.Tensor:
    """[2 padded - 11, padded] float64: the valid part of sym6 ×2 up-sampling."""
    f = torch.tensor(SYM6, dtype=torch.float64) * math.sqrt(2)
    return _band(2 * padded - 11, padded, f, 11, (1, 2))


@functools.lru_cache(maxsize=256)
def _up_matrix(
    size: int, pad_lo: int, pad_hi: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """[2 (size + pads) - 11, size]: reflect padding, then ×2 up-sampling, as one matrix
    (so the matmul runs over the unpadded input)."""
    padded = size + pad_lo + pad_hi
    source = (torch.arange(padded) - pad_lo).abs()  # reflect about the first pixel ...
    source = torch.where(source > size - 1, 2 * (size - 1) - source, source)  # ... and the last
    band = _up_band(padded)
    matrix = torch.zeros(band.shape[0], size, dtype=torch.float64).index_add_(1, source, band)
    return matrix.to(device, dtype)


@functools.lru_cache(maxsize=32)
def _down_matrix(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[(size - 11) / 2, size]: the band matrix of downsample2x."""
    f = torch.tensor(SYM6, dtype=torch.float64) / math.sqrt(2)
    return _band((size - 11) // 2, size, f, 0, (-2, -1)).to(device, dtype)


def upsample2x(x: torch.Tensor, pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """[N, C, H, W] → [N, C, 2Hp-11, 2Wp-11]: reflect padding by pad = (left, right, top,
    bottom) (each < the size) to Hp x Wp, then the valid part of sym6 ×2 up-sampling:
    out[t] = Σ_i x[i] · √2 f[t + 11 - 2i] per axis (zero insertion, then the filter; gain 2).
    """
    h, w = x.shape[-2:]
    M_h = _up_matrix(h, pad[2], pad[3], x.dtype, x.device)
    M_w = _up_matrix(w, pad[0], pad[1], x.dtype, x.device)
    return M_h @ x @ M_w.T


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """[N, C, 2H+11, 2W+11] → [N, C, H, W]: out[i] = Σ_k f[k] / √2 · x[2i + k] per axis.

    The correlation with f is the convolution with the time-reversed filter, which makes
    down(up(x)) = x exactly for the orthogonal sym6.
    """
    h, w = x.shape[-2:]
    return _down_matrix(h, x.dtype, x.device) @ x @ _down_matrix(w, x.dtype, x.device).T


def resample(img: torch.Tensor, G_inv: torch.Tensor) -> torch.Tensor:
    """Warp [N, C, H, W] by per-sample output → input matrices [N, 3, 3] (centred pixels).

    Reflect padding, ×2 up-sampling, one bilinear grid_sample, ×2 down-sampling.
    """
    n, c, height, width = img.shape
    shift = _translate2d(torch.tensor([_DELAY]), torch.tensor([_DELAY]))
    unshift = _translate2d(torch.tensor([-_DELAY]), torch.tensor([-_DELAY]))
    G_inv = shift @ G_inv.to(torch.float64).cpu() @ unshift
    # The ×2 output grid plus the 5 + 6 samples the down filter needs: sample t sits at
    # (t - 4.5) / 2 pixels from the output's left edge; these are its extremes, centred.
    lo_x, hi_x = -4.5 / 2 - width / 2, (2 * width + 10 - 4.5) / 2 - width / 2
    lo_y, hi_y = -4.5 / 2 - height / 2, (2 * height + 10 - 4.5) / 2 - height / 2
    corners = torch.tensor(
        [[lo_x, lo_y, 1], [hi_x, lo_y, 1], [lo_x, hi_y, 1], [hi_x, hi_y, 1]], dtype=torch.float64
    )
    points = G_inv @ corners.T  # [N, 3, 4] input points; the transform is affine
    lo, hi = points[:, :2].amin(dim=(0, 2)), points[:, :2].amax(dim=(0, 2))
    size = torch.tensor([width, height], dtype=torch.float64)
    # One reflect pad for the batch; reflect allows at most size-1, beyond which grid_sample's
    # own reflection takes over (only for extreme scales).
    need_lo = (3.25 - size / 2 - lo).ceil().clamp(0, None)
    need_hi = (hi - size / 2 + 2.75).ceil().clamp(0, None)
    pad_lo: list[int] = torch.minimum(need_lo, size - 1).long().tolist()
    pad_hi: list[int] = torch.minimum(need_hi, size - 1).long().tolist()
    x = upsample2x(img, (pad_lo[0], pad_hi[0], pad_lo[1], pad_hi[1]))
    # theta: centred output pixels → input pixels (G_inv) → grid_sample's input coordinates
    # (align_corners: -1 and 1 are the first and last up-sample; input pixel p sits at
    # up-sample 2 (p + size/2 + pad) - 6.5).
    up_h, up_w = x.shape[2], x.shape[3]
    to_input = _mat(1, [[4 / (up_w - 1), 0, (4 * (width / 2 + pad_lo[0]) - 13) / (up_w - 1) - 1],
                        [0, 4 / (up_h - 1), (4 * (height / 2 + pad_lo[1]) - 13) / (up_h - 1) - 1],
                        [0, 0, 1]])  # fmt: skip
    theta = (to_input @ G_inv)[:, :2].to(img.device, img.dtype)  # [N, 2, 3]
    # The ×2 output grid, sample t at (t - 4.5) / 2 - size / 2 centred pixels. Built by
    # broadcasting: affine_grid's batched matmul was measured 3x slower on CPU.
    px = (torch.arange(2 * width + 11, device=img.device, dtype=img.dtype) - 4.5) / 2 - width / 2
    py = (torch.arange(2 * height + 11, device=img.device, dtype=img.dtype) - 4.5) / 2
    py = py - height / 2
    grid = (
        theta[:, None, None, :, 0] * px[None, None, :, None]
        + theta[:, None, None, :, 1] * py[None, :, None, None]
        + theta[:, None, None, :, 2]
    )  # [N, 2H+11, 2W+11, 2] (x, y)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    return downsample2x(x)


class AdaController:
    """Adjusts p from the sign of D's outputs on reals (the ADA overfitting heuristic r_t).

    Every `interval` steps: p += sign(r_t - target) · batch · interval / (ada_kimg · 1000), p ≥ 0,
    where r_t = E[sign(D(real))] over those steps. Reaching p = 1 from 0 takes ada_kimg kimg.
    """

    def __init__(
        self, target: float = 0.6, ada_kimg: float = 500, interval: int = 4, p: float = 0.0
    ) -> None:
        if ada_kimg <= 0 or interval < 1:
            raise ValueError(f"ada_kimg must be > 0 and interval ≥ 1, got {ada_kimg}, {interval}")
        self.target, self.ada_kimg, self.interval = float(target), float(ada_kimg), int(interval)
        self.p = float(p)
        self.rt = 0.0  # the last r_t, for logs
        self._sign_sum: torch.Tensor | float = 0.0  # Σ sign(D(real)) since the last adjustment
        self.sign_count = 0.0

    @property
    def sign_sum(self) -> float:
        """Σ sign(D(real)) since the last adjustment (reading it syncs with the device)."""
        return float(self._sign_sum)

    def observe(self, real_logits: torch.Tensor) -> None:
        """Accumulate sign(D(real)) of one batch of real logits (on its device: no sync)."""
        signs = real_logits.detach().sign().double()
        self._sign_sum = self._sign_sum + signs.sum()
        self.sign_count += signs.numel()

    def update(self, batch_idx: int, batch: int, totals: tuple[float, float] | None = None) -> bool:
        """After step `batch_idx` (0-based): adjust p when an interval ends; True if it did.

        `totals` (sign sum, count) replaces the local sums, e.g. after an all-reduce over ranks.
        """
        if (batch_idx + 1) % self.interval != 0:
            return False
        sign_sum, count = totals if totals is not None else (self.sign_sum, self.sign_count)
        if count > 0:
            self.rt = sign_sum / count
            direction = (self.rt > self.target) - (self.rt < self.target)  # sign(r_t - target)
            step = batch * self.interval / (self.ada_kimg * 1000)
            self.p = max(self.p + direction * step, 0.0)
        self._sign_sum, self.sign_count = 0.0, 0.0
        return True

    def state_dict(self) -> dict[str, Any]:
        """Plain floats: p, the last r_t and the running sign sums."""
        return {
            "p": self.p,
            "rt": self.rt,
            "sign_sum": self.sign_sum,
            "sign_count": self.sign_count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore exactly what state_dict returned."""
        self.p = float(state["p"])
        self.rt = float(state.get("rt", 0.0))
        self._sign_sum = float(state.get("sign_sum", 0.0))
        self.sign_count = float(state.get("sign_count", 0.0))
