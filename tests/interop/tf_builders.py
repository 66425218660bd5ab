"""TensorFlow StyleGAN1/StyleGAN2 pickles, built the way dnnlib writes them.

A `dnnlib.tflib.network.Network` pickles through `__getstate__` as a dict: `version` (3 for
StyleGAN1, 4 for StyleGAN2), `name`, `static_kwargs`, `components` (sub-Networks),
`build_module_src`, `build_func_name` and `variables` [(name, ndarray)] in TF layouts. The
file holds the tuple (G, D, Gs). Random weights are drawn as TF initializes them (equalized
LR: N(0, 1 / lrmul)), plus random biases, noise strengths and style biases so every term
counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.interop.foreign import EasyDict, dump

# Never executed by the importer; if it ever were, it would leave the marker file behind.
BUILD_SRC = "import pathlib\npathlib.Path({marker!r}).write_text('executed')\n"


class Network:
    """Pickles as dnnlib.tflib.network.Network with the given state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def __getstate__(self) -> dict[str, Any]:
        return self._state


def network(
    name: str,
    func: str,
    variables: dict[str, np.ndarray],
    kwargs: dict[str, Any],
    version: int,
    marker: Path,
    components: dict[str, Network] | None = None,
) -> Network:
    """One Network object as dnnlib pickles it."""
    return Network(
        {
            "version": version,
            "name": name,
            "static_kwargs": dict(kwargs),
            "components": dict(components or {}),
            "build_module_src": BUILD_SRC.format(marker=str(marker)),
            "build_func_name": func,
            "variables": list(variables.items()),
        }
    )


def _split(variables: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in variables.items() if k.startswith(prefix)}


def write_tf_pickle(
    path: Path,
    G_vars: dict[str, np.ndarray],
    Gs_vars: dict[str, np.ndarray],
    D_vars: dict[str, np.ndarray],
    kwargs: dict[str, Any],
    version: int,
    funcs: tuple[str, str, str, str],
    marker: Path,
    D_kwargs: dict[str, Any] | None = None,
) -> Path:
    """(G, D, Gs) with mapping/synthesis components; funcs = (G, mapping, synthesis, D)."""

    def generator(name: str, v: dict[str, np.ndarray]) -> Network:
        mapping = network(
            f"{name}_mapping", funcs[1], _split(v, "mapping/"), kwargs, version, marker
        )
        synthesis = network(
            f"{name}_synthesis", funcs[2], _split(v, "synthesis/"), kwargs, version, marker
        )
        own = {k: a for k, a in v.items() if "/" not in k}
        comps = {"synthesis": synthesis, "mapping": mapping}
        return network(name, funcs[0], own, kwargs, version, marker, comps)

    D = network("D", funcs[3], D_vars, D_kwargs or kwargs, version, marker)
    data = (generator("G", G_vars), D, generator("Gs", Gs_vars))
    names = {"dnnlib.tflib.network": {"Network": Network}, "dnnlib.util": {"EasyDict": EasyDict}}
    return dump(data, path, names)


def _nf(fmap_base: int, fmap_max: int, stage: int) -> int:
    return min(int(fmap_base / 2.0**stage), fmap_max)


def _mapping(rng: np.random.RandomState, z_dim: int, w_dim: int, depth: int) -> dict:
    out = {}
    for i in range(depth):
        fan_in = z_dim if i == 0 else w_dim
        out[f"mapping/Dense{i}/weight"] = rng.randn(fan_in, w_dim) * 100  # N(0, 1/lrmul)
        out[f"mapping/Dense{i}/bias"] = rng.randn(w_dim) * 10
    out["dlatent_avg"] = rng.randn(w_dim) * 0.5
    out["lod"] = np.float32(0)
    return out


def stylegan1_variables(
    resolution: int = 16,
    z_dim: int = 8,
    w_dim: int = 8,
    depth: int = 2,
    fmap_base: int = 64,
    fmap_max: int = 16,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """G_style variables (flattened 'mapping/…', 'synthesis/…' names), float32."""
    rng = np.random.RandomState(seed)
    v = _mapping(rng, z_dim, w_dim, depth)
    log2 = int(np.log2(resolution))
    s = "synthesis"
    v[f"{s}/lod"] = np.float32(0)
    for layer in range(2 * log2 - 2):
        r = 2 ** (layer // 2 + 2)
        v[f"{s}/noise{layer}"] = rng.randn(1, 1, r, r)

    def epilogue(scope: str, c: int) -> None:
        v[f"{scope}/Noise/weight"] = rng.randn(c) * 0.3
        v[f"{scope}/bias"] = rng.randn(c) * 0.3
        v[f"{scope}/StyleMod/weight"] = rng.randn(w_dim, 2 * c)
        v[f"{scope}/StyleMod/bias"] = rng.randn(2 * c) * 0.3

    c = _nf(fmap_base, fmap_max, 1)
    v[f"{s}/4x4/Const/const"] = rng.randn(1, c, 4, 4)
    epilogue(f"{s}/4x4/Const", c)
    v[f"{s}/4x4/Conv/weight"] = rng.randn(3, 3, c, c)
    epilogue(f"{s}/4x4/Conv", c)
    for res_log2 in range(3, log2 + 1):
        r, c_in, c = 2**res_log2, _nf(fmap_base, fmap_max, res_log2 - 2), None
        c = _nf(fmap_base, fmap_max, res_log2 - 1)
        v[f"{s}/{r}x{r}/Conv0_up/weight"] = rng.randn(3, 3, c_in, c)
        epilogue(f"{s}/{r}x{r}/Conv0_up", c)
        v[f"{s}/{r}x{r}/Conv1/weight"] = rng.randn(3, 3, c, c)
        epilogue(f"{s}/{r}x{r}/Conv1", c)
    for lod in range(log2 - 1):  # a ToRGB per resolution, left over from progressive growing
        c = _nf(fmap_base, fmap_max, log2 - lod - 1)
        v[f"{s}/ToRGB_lod{lod}/weight"] = rng.randn(1, 1, c, 3) * 0.5
        v[f"{s}/ToRGB_lod{lod}/bias"] = rng.randn(3) * 0.1
    return {k: np.asarray(a, np.float32) for k, a in v.items()}


def stylegan1_kwargs(resolution: int, fmap_base: int, fmap_max: int, **extra: Any) -> dict:
    """Static kwargs as StyleGAN1's train.py passes them (plus any overrides)."""
    kwargs = dict(
        num_channels=3,
        resolution=resolution,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        structure="auto",
    )
    kwargs.update(extra)
    return kwargs


def write_stylegan1(path: Path, marker: Path, resolution: int = 16, **kw: Any) -> dict:
    """A TF StyleGAN1 (G, D, Gs) pickle; returns Gs's flattened variables."""
    fmap_base, fmap_max = kw.pop("fmap_base", 64), kw.pop("fmap_max", 16)
    dims = {k: kw.pop(k) for k in ("z_dim", "w_dim", "depth") if k in kw}
    Gs = stylegan1_variables(resolution, fmap_base=fmap_base, fmap_max=fmap_max, seed=1, **dims)
    G = stylegan1_variables(resolution, fmap_base=fmap_base, fmap_max=fmap_max, seed=2, **dims)
    D = {"FromRGB_lod0/weight": np.ones((1, 1, 3, 4), np.float32)}  # StyleGAN1 D: not imported
    kwargs = stylegan1_kwargs(resolution, fmap_base, fmap_max, **kw)
    funcs = ("G_style", "G_mapping", "G_synthesis", "D_basic")
    write_tf_pickle(path, G, Gs, D, kwargs, 3, funcs, marker)
    return Gs


def stylegan2_variables(
    resolution: int = 16,
    z_dim: int = 8,
    w_dim: int = 8,
    depth: int = 2,
    fmap_base: int = 64,
    fmap_max: int = 16,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """G_main variables (config F, skip), flattened 'mapping/…', 'synthesis/…' names."""
    rng = np.random.RandomState(seed)
    v = _mapping(rng, z_dim, w_dim, depth)
    log2 = int(np.log2(resolution))
    s = "synthesis"
    for layer in range(2 * log2 - 3):
        r = 2 ** ((layer + 5) // 2)
        v[f"{s}/noise{layer}"] = rng.randn(1, 1, r, r)

    def modconv(scope: str, k: int, c_in: int, c_out: int, noise: bool = True) -> None:
        v[f"{scope}/weight"] = rng.randn(k, k, c_in, c_out) * (1.0 if noise else 0.5)
        v[f"{scope}/mod_weight"] = rng.randn(w_dim, c_in)
        v[f"{scope}/mod_bias"] = rng.randn(c_in) * 0.3
        v[f"{scope}/bias"] = rng.randn(c_out) * (0.3 if noise else 0.1)
        if noise:
            v[f"{scope}/noise_strength"] = np.float32(rng.randn() * 0.3)

    c = _nf(fmap_base, fmap_max, 1)
    v[f"{s}/4x4/Const/const"] = rng.randn(1, c, 4, 4)
    modconv(f"{s}/4x4/Conv", 3, c, c)
    modconv(f"{s}/4x4/ToRGB", 1, c, 3, noise=False)
    for res_log2 in range(3, log2 + 1):
        r = 2**res_log2
        c_in, c = _nf(fmap_base, fmap_max, res_log2 - 2), _nf(fmap_base, fmap_max, res_log2 - 1)
        modconv(f"{s}/{r}x{r}/Conv0_up", 3, c_in, c)
        modconv(f"{s}/{r}x{r}/Conv1", 3, c, c)
        modconv(f"{s}/{r}x{r}/ToRGB", 1, c, 3, noise=False)
    return {k: np.asarray(a, np.float32) for k, a in v.items()}


def stylegan2_d_variables(
    resolution: int = 16, fmap_base: int = 64, fmap_max: int = 16, seed: int = 0
) -> dict[str, np.ndarray]:
    """D_stylegan2 (resnet) variables."""
    rng = np.random.RandomState(seed)
    log2 = int(np.log2(resolution))
    v = {}
    top = _nf(fmap_base, fmap_max, log2 - 1)
    v[f"{resolution}x{resolution}/FromRGB/weight"] = rng.randn(1, 1, 3, top)
    v[f"{resolution}x{resolution}/FromRGB/bias"] = rng.randn(top) * 0.1
    for res_log2 in range(log2, 2, -1):
        r = 2**res_log2
        c, c_out = _nf(fmap_base, fmap_max, res_log2 - 1), _nf(fmap_base, fmap_max, res_log2 - 2)
        v[f"{r}x{r}/Conv0/weight"] = rng.randn(3, 3, c, c)
        v[f"{r}x{r}/Conv0/bias"] = rng.randn(c) * 0.1
        v[f"{r}x{r}/Conv1_down/weight"] = rng.randn(3, 3, c, c_out)
        v[f"{r}x{r}/Conv1_down/bias"] = rng.randn(c_out) * 0.1
        v[f"{r}x{r}/Skip/weight"] = rng.randn(1, 1, c, c_out)
    c = _nf(fmap_base, fmap_max, 1)
    v["4x4/Conv/weight"] = rng.randn(3, 3, c + 1, c)
    v["4x4/Conv/bias"] = rng.randn(c) * 0.1
    v["4x4/Dense0/weight"] = rng.randn(c * 16, c)
    v["4x4/Dense0/bias"] = rng.randn(c) * 0.1
    v["Output/weight"] = rng.randn(c, 1)
    v["Output/bias"] = rng.randn(1) * 0.1
    return {k: np.asarray(a, np.float32) for k, a in v.items()}


def write_stylegan2(path: Path, marker: Path, resolution: int = 16, **kw: Any) -> dict:
    """A TF StyleGAN2 (G, D, Gs) pickle; returns {"Gs": vars, "G": vars, "D": vars}."""
    fmap_base, fmap_max = kw.pop("fmap_base", 64), kw.pop("fmap_max", 16)
    dims = {k: kw.pop(k) for k in ("z_dim", "w_dim", "depth") if k in kw}
    nets = {
        "Gs": stylegan2_variables(
            resolution, fmap_base=fmap_base, fmap_max=fmap_max, seed=1, **dims
        ),
        "G": stylegan2_variables(
            resolution, fmap_base=fmap_base, fmap_max=fmap_max, seed=2, **dims
        ),
        "D": stylegan2_d_variables(resolution, fmap_base, fmap_max, seed=3),
    }
    common = dict(num_channels=3, resolution=resolution, label_size=0, fmap_base=fmap_base,
                  fmap_max=fmap_max)  # fmt: skip
    kwargs = {**common, "architecture": "skip", **kw}
    D_kwargs = {**common, "architecture": "resnet", "mbstd_group_size": 4}
    funcs = ("G_main", "G_mapping", "G_synthesis_stylegan2", "D_stylegan2")
    write_tf_pickle(path, nets["G"], nets["Gs"], nets["D"], kwargs, 4, funcs, marker, D_kwargs)
    return nets
