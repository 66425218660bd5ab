"""Options and input bounds of `waifugan serve` (no web imports, so the CLI stays quick)."""

from __future__ import annotations

from dataclasses import dataclass

from waifugan.errors import WaifuganError
from waifugan.networks.sampling import DEFAULT_PSI

SEED_MAX = 2**32 - 1  # np.random.RandomState accepts seeds up to 2**32 - 1
PSI_MIN, PSI_MAX = -1.0, 1.5  # beyond this the faces are noise; ψ < 0 gives "anti-faces"
PSI_DECIMALS = 2  # ψ is rounded so 0.7 and 0.70001 share one cached face
OUTPUT_SIZES = (64, 128, 256, 512, 1024)  # plus the model's own resolution
FACE_MAX_AGE_S = 24 * 3600  # faces never change for a model; the ETag guards a model swap


@dataclass(frozen=True)
class ServeConfig:
    """Options of `waifugan serve`."""

    host: str = "127.0.0.1"  # localhost only unless told otherwise
    port: int = 8000
    interval_s: float = 15.0  # the page shows a new face this often
    psi: float = DEFAULT_PSI  # default truncation ψ
    truncation_cutoff: int | None = None  # truncate only the first N ws (None: all)
    device: str = "auto"
    queue_size: int = 16  # faces waiting to be rendered before requests get 503
    max_batch: int = 1  # rows of every generator call (pads); >1 is faster under load
    cache_size: int = 512  # rendered faces kept in memory (LRU)

    def __post_init__(self) -> None:
        if not PSI_MIN <= self.psi <= PSI_MAX:
            raise WaifuganError(f"--psi {self.psi} is outside [{PSI_MIN}, {PSI_MAX}]")
        if not 1 <= self.interval_s <= 3600:
            raise WaifuganError(f"--interval {self.interval_s} s is outside [1, 3600]")
        if not 0 <= self.port <= 65535:
            raise WaifuganError(f"--port {self.port} is not a TCP port")
        for name in ("queue_size", "max_batch"):
            if getattr(self, name) < 1:
                raise WaifuganError(f"--{name.replace('_', '-')} must be at least 1")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise WaifuganError(f"--trunc-cutoff {self.truncation_cutoff} must be 0 or more")
        if self.cache_size < 0:
            raise WaifuganError("--cache-size must be 0 or more")
