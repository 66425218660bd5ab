"""The only module that touches torch.distributed: starting processes, joining the group,
the collectives a training step needs, and stopping them all when one fails.

A run has its processes in one of three ways:
- one process: the default on CPU and on a machine with one GPU;
- `waifugan train --gpus N` on one machine: `launch` starts N worker processes (N = every
  visible GPU by default; with --device cpu, CPU processes over gloo);
- `torchrun ... -m waifugan train` on one or several machines: torchrun sets RANK,
  WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT and each process joins the group.
Either way each process calls `init_from_env`: NCCL on CUDA, gloo on CPU, with a timeout so a
process that hangs (a dead machine) makes the others stop with a message instead of waiting
forever. A collective that fails raises `RankLostError`.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from waifugan.errors import WaifuganError

# Long enough for what rank 0 does alone while the others wait at the next collective (a
# checkpoint, a fakes grid, fid50k on one GPU: minutes); a dead process is usually noticed at
# once (its connections close), the timeout is for one that hangs. torch's default is 30 min.
DEFAULT_TIMEOUT_S = 1800.0

# Exit statuses of a worker process: a refusal (bad input, divergence) as the CLI's 2; a lost
# peer 3, so the launcher can tell the consequence from the cause; an interrupt 130.
EXIT_REFUSED, EXIT_LOST, EXIT_INTERRUPTED = 2, 3, 130


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and logs."""
        return self.rank == 0


class RankLostError(RuntimeError):
    """A collective failed: another process died or hung past the timeout, or the network
    broke. Every process of the run stops; `--resume latest` continues."""


def under_torchrun() -> bool:
    """True when torchrun (or another launcher that sets WORLD_SIZE) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_count(gpus: int | None, device: str) -> int:
    """How many processes `waifugan train --gpus` starts on this machine: by default every
    visible CUDA device for --device auto/cuda, else 1; 1 under torchrun, which started this
    process as one of its own."""
    if under_torchrun():
        if gpus is not None:
            raise WaifuganError("--gpus is for one machine; under torchrun use --nproc_per_node")
        return 1
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wants_cuda = device in ("auto", "cuda") and visible > 0
    count = (visible if wants_cuda else 1) if gpus is None else gpus
    if count < 1:
        raise WaifuganError(f"--gpus must be ≥ 1, got {count}")
    if wants_cuda and count > visible:
        raise WaifuganError(f"--gpus {count}: only {visible} CUDA devices are visible")
    return count


def init_from_env(
    device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[DistInfo, torch.device]:
    """Join the process group the environment describes (torchrun's variables); one process
    when there is none. Returns this process's place and its device (cuda:LOCAL_RANK)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    if device.type == "cuda":
        if device.index not in (None, local_rank):
            raise WaifuganError(
                f"--device {device} names one GPU; with {world_size} processes use --device "
                "cuda or auto (process i uses cuda:LOCAL_RANK)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world_size))
    if not dist.is_initialized():
        _import_torch_modules_that_capture_the_group()
        timeout = datetime.timedelta(seconds=timeout_s)
        backend = "nccl" if device.type == "cuda" else "gloo"
        with _collective("joining the process group", int(os.environ.get("RANK", "0"))):
            dist.init_process_group(backend=backend, timeout=timeout)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, local_world_size)
    return info, device


def _import_torch_modules_that_capture_the_group() -> None:
    # The optimizers import torch._dynamo on first use, and importing it (through
    # torch.distributed._shard) while a process group exists stores references to that group.
    # destroy_process_group() then leaves the gloo threads running; at exit one of them frees
    # the last all-reduce's tensors, needs the GIL of a finalizing interpreter and aborts the
    # process (SIGABRT, "terminate called without an active exception", about 1 run in 30).
    # Imported before the group exists, they hold nothing and the group really goes away.
    import torch._dynamo  # noqa: F401


def shutdown() -> None:
    """Leave the process group (also after an error: no abort at exit, no warning)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def finish(info: DistInfo) -> None:
    """After the work: wait until every rank is done, then leave the group together.

    A rank that tears the group down while another still uses it can leave that one waiting
    (pytorch/pytorch#75097: "destroy_process_group() has a certain probability of hangs"; the
    advice there is a barrier first). Only on success: after an error the peers may be gone.
    """
    if info.world_size > 1 and dist.is_initialized():
        with _collective("waiting for the others to finish", info.rank):
            dist.barrier()
    shutdown()


@contextmanager
def _collective(what: str, rank: int) -> Iterator[None]:
    try:
        yield
    except RuntimeError as error:  # gloo/NCCL report a closed peer or a timeout this way
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise RankLostError(
            f"process {rank} lost contact with the others while {what} ({first_line}): another "
            "process stopped or hung past the timeout. The run stops; continue it with "
            "--resume latest"
        ) from error


def sum_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    """Sum module's gradients over all ranks (one flat all-reduce) and scrub non-finite values.

    Each rank scales its loss by 1 / (number of batch chunks over all ranks), so the sum is
    the mean over the global batch. NaN becomes 0 and ±inf ±1e5 on every device (as NVlabs):
    one FP16 overflow must not poison Adam's moments before the end-of-tick check sees it.
    """
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    if info.world_size > 1:
        with _collective("summing gradients", info.rank):
            dist.all_reduce(flat)
    torch.nan_to_num_(flat, nan=0.0, posinf=1e5, neginf=-1e5)
    offset = 0
    for p in params:
        assert p.grad is not None
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def sum_tensor(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of a tensor over ranks (a new tensor; the same on every rank)."""
    value = value.detach().clone()
    if info.world_size > 1:
        with _collective("summing statistics", info.rank):
            dist.all_reduce(value)
    return value


def average_scalar(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (for logged statistics)."""
    if info.world_size > 1:
        value = sum_tensor(value, info) / info.world_size
    return value


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when it is True on any (e.g. a stop request: all stop together)."""
    if info.world_size <= 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    with _collective("agreeing on stopping", info.rank):
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if info.world_size <= 1:
        return
    with _collective("receiving rank 0's weights", info.rank):
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def broadcast_str(value: str | None, info: DistInfo) -> str:
    """Rank 0's string on every rank (e.g. the run directory rank 0 created)."""
    if info.world_size <= 1:
        assert value is not None
        return value
    box = [value]
    with _collective("receiving the run directory", info.rank):
        dist.broadcast_object_list(box, src=0)
    assert box[0] is not None
    return box[0]


# -- starting N processes on this machine ---------------------------------------------------


def launch(nproc: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> int:
    """Run fn(*args) in nproc new processes on this machine, ranks 0..nproc-1 of one group
    (the environment torchrun would give them). Returns the exit status: 0 when all finish,
    otherwise the failing process's (2 for a refusal, 1 for a crash) after stopping the rest.

    SIGINT/SIGTERM are passed on to the processes, which finish their step, write a
    checkpoint and exit (a Ctrl-C reaches them directly too: the loop counts both as one).
    """
    env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": str(nproc),
        "LOCAL_WORLD_SIZE": str(nproc),
    }
    context = torch.multiprocessing.start_processes(
        _worker, args=(env, fn, args), nprocs=nproc, join=False, start_method="spawn"
    )

    def forward(signum: int, frame: object) -> None:
        for process in context.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, forward)
    try:
        # grace_period: survivors of a failure usually stop by themselves at their next
        # collective; after it they get SIGTERM, 10 s later SIGKILL.
        while not context.join(grace_period=10):
            pass
        return 0
    except torch.multiprocessing.ProcessRaisedException as failure:  # a traceback
        print(str(failure).strip(), file=sys.stderr)
        return _report_failure([p.exitcode for p in context.processes], nproc)
    except torch.multiprocessing.ProcessExitedException:  # its message was printed by it
        return _report_failure([p.exitcode for p in context.processes], nproc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(
    local_rank: int, env: dict[str, str], fn: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    os.environ.update(env, RANK=str(local_rank), LOCAL_RANK=str(local_rank))
    try:
        fn(*args)
    except WaifuganError as error:
        print(f"waifugan train (process {local_rank}): error: {error}", file=sys.stderr)
        sys.exit(EXIT_REFUSED)
    except RankLostError as error:
        print(f"waifugan train: {error}", file=sys.stderr)
        sys.exit(EXIT_LOST)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    finally:
        shutdown()


def _report_failure(exitcodes: list[int | None], nproc: int) -> int:
    """One line naming the process that failed first in cause (not one that only lost
    contact with it); returns the launcher's exit status."""
    failed = [(i, code) for i, code in enumerate(exitcodes) if code not in (0, None)]
    causes = [(i, code) for i, code in failed if code != EXIT_LOST] or failed
    index, code = causes[0] if causes else (0, 1)
    assert code is not None
    if code < 0:
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with status {code}"
    print(
        f"waifugan train: process {index} of {nproc} {how}; the others were stopped. "
        "Continue from the last checkpoint with --resume latest",
        file=sys.stderr,
    )
    if code in (EXIT_REFUSED, EXIT_INTERRUPTED):
        return code
    return 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
