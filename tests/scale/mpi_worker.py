"""Run by tests/scale/test_C8_distributed.py under `mpirun -n 2` (not collected by pytest).

    mpi_worker.py first  OUT ARGS    # the bucketed all-reduce on known arrays, then two runs
    mpi_worker.py resume OUT ARGS    # resume the second run to the first one's length
    mpi_worker.py fail   OUT ARGS    # rank 1 alone fails in its third step: the job must end

ARGS: the runs' `minillm train` arguments as a JSON list. Every rank writes
OUT/<phase>-rank<r>.json with what it saw; the test reads them."""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from minillm.cli import main
from minillm.tensor import Tensor
from minillm.train import loop
from minillm.train.distributed import DataParallel, bucket_indices
from minillm.train.step import train_step


def check_allreduce(rank: int) -> dict:
    """Rank r's gradients are base + r: the average is base + 0.5 on every rank; the number of
    Allreduce calls is the number of buckets."""
    shapes = [(5,), (30, 10), (7,), (40, 25), (3, 3)]
    dtypes = [np.float32] * 4 + [np.float64]
    rng = np.random.default_rng(0)  # the same base on both ranks; integers: sums are exact
    params = [Tensor(rng.integers(-50, 50, s).astype(d), requires_grad=True)
              for s, d in zip(shapes, dtypes)]  # fmt: skip
    for p in params:
        p.grad = p.data + np.asarray(rank, p.dtype)
    dp = DataParallel(MPI.COMM_WORLD, 2000 / 2**20, MPI)  # 2,000-byte buckets
    loss = dp.average_gradients(params, float(rank + 1))
    ok = all(np.array_equal(p.grad, p.data + np.asarray(0.5, p.dtype)) for p in params)
    expected = len(bucket_indices([p.data.nbytes for p in params], dtypes, dp.bucket_bytes))
    return {"averaged": ok, "loss": loss, "calls": dp.allreduce_calls, "buckets": expected}


def run(args) -> int:
    status = main(["train", *args])
    MPI.COMM_WORLD.Barrier()
    return status


if __name__ == "__main__":
    phase, out, args = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    rank = MPI.COMM_WORLD.Get_rank()
    report = {"size": MPI.COMM_WORLD.Get_size()}
    if phase == "first":
        report["allreduce"] = check_allreduce(rank)
        report["straight"] = run([*args, f"--out_dir={out / 'straight'}", "--max_iters=6"])
        report["half"] = run([*args, f"--out_dir={out / 'resumed'}", "--max_iters=3"])
    elif phase == "fail":
        if rank == 1:  # this rank's train_step raises at step 2; rank 0 waits in its Allreduce
            calls = []

            def failing_step(*args, **kwargs):
                calls.append(1)
                if len(calls) == 3:
                    raise MemoryError("rank 1 alone ran out of memory")
                return train_step(*args, **kwargs)

            loop.train_step = failing_step
        run([*args, f"--out_dir={out / 'failed'}", "--max_iters=6"])
    else:
        report["resume"] = run([*args, f"--out_dir={out / 'resumed'}", "--max_iters=6",
                                "--resume=true"])  # fmt: skip
    (out / f"{phase}-rank{rank}.json").write_text(json.dumps(report))
