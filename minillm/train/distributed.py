"""Data-parallel training over MPI (C8): every rank holds the whole model, computes the gradient of
its shard of each batch, and the ranks average their gradients before the optimizer step, so each
step is the one a single process would make on the whole batch.

    mpirun -n 2 minillm train --distributed=true --batch_size=12 ...    # 2 x 12 sequences a step

    g = (1/R) sum_{r<R} g_r,   g_r = grad of the mean loss over rank r's B rows      (F12, R shards)

- The same start: rank 0's weights are broadcast to all ranks, and every rank draws the same
  batches (the batch generator is seeded by cfg.seed alone): rank r takes rows r*B .. r*B+B-1 of
  each R*B-row batch (ShardedData). batch_size is per rank, as in PyTorch's
  DistributedDataParallel. Evaluation is sharded the same way and its means averaged, so the
  metrics are those of the whole R*B-row batches.
- The exchange: after backward, gradients are copied into a few flat buffers ("buckets" of at
  most bucket_mb MiB, DDP's bucket_cap_mb) and each buffer is summed over the ranks with one
  MPI Allreduce, then divided by R. One call per bucket, not per parameter: every call pays a
  fixed latency, so a few large messages cost less than a hundred small ones.
- One writer: rank 0 alone writes the run folder (checkpoints, metrics, the plot) and logs.
  The loss, the gradients and the evaluated losses after the exchange are equal on all ranks,
  so a decision made from them (a diverged step, a skipped float16 step, early stopping) is
  made by every rank alike. Each rank's dropout generators draw their own masks (rank 0 the
  single-process streams), and checkpoints keep every rank's generator states.
- Failing together: an error rank 0 meets alone (preparing the folder, writing a checkpoint)
  is sent to every rank and raised there too (on_main); any other error raised by one rank alone
  aborts the job (MPI_Abort), since the other ranks would otherwise wait for it forever.

The equality with one process on the whole batch is exact in arithmetic (float32 rounding
aside) when every rank's loss is a mean over the same number of targets, as next-token windows
are; with ignored targets (-100) a mean of the ranks' means weights them slightly differently,
as in PyTorch.

mpi4py is imported when a run asks for it (the `minillm[mpi]` extra: mpi4py and Open MPI's
wheel): importing mpi4py.MPI initialises MPI, which a single-process run must not pay for.
docs/distributed.md: running across machines, and what changes at scale.
"""

import sys
import time
import traceback

import numpy as np


def start(distributed: bool, bucket_mb: float = 25.0):
    """This process's place in the run: SingleProcess() without distributed, else this rank of
    the MPI job it was started in (`mpirun -n R ...`; a plain start is a job of 1 rank)."""
    if not distributed:
        return SingleProcess()
    try:
        from mpi4py import MPI  # initialises MPI: only a distributed run pays for it
    except ImportError as e:
        raise ValueError(
            "distributed=true needs mpi4py and an MPI library: pip install 'minillm[mpi]' "
            f"(mpi4py and Open MPI's wheel); importing mpi4py failed: {e}"
        ) from None
    return DataParallel(MPI.COMM_WORLD, bucket_mb, MPI)


def bucket_indices(nbytes: list, dtypes: list, cap_bytes: int) -> list:
    """Consecutive groups of array indices, one flat buffer each: a group holds arrays of one
    dtype whose sizes add up to at most cap_bytes (an array larger than the cap gets a group of
    its own)."""
    groups, size = [], 0
    for i, (n, dtype) in enumerate(zip(nbytes, dtypes, strict=True)):
        if groups and dtypes[groups[-1][0]] == dtype and size + n <= cap_bytes:
            groups[-1].append(i)
            size += n
        else:
            groups.append([i])
            size = n
    return groups


class ShardedData:
    """A rank's view of a data set (the Corpus interface): get_batch draws the batch of all
    ranks, size x batch_size rows from the generator every rank shares, and returns this rank's
    rows of it."""

    def __init__(self, data, rank: int, size: int):
        self.data, self.rank, self.size = data, rank, size

    def get_batch(self, split, batch_size, block_size, rng):
        whole = self.data.get_batch(split, batch_size * self.size, block_size, rng)
        return shard(whole, self.rank, self.size)

    def __repr__(self):
        return f"{self.data!r} (rank {self.rank} of {self.size}: its rows of each batch)"


def shard(batch, rank: int, size: int):
    """Rank `rank`'s rows of an (inputs, targets) batch of size * B rows: rows rank*B .. +B-1 of
    every array (inputs may be a tuple of arrays, as a seq2seq model's)."""
    if size == 1:
        return batch

    def rows(a):
        if isinstance(a, tuple):
            return tuple(rows(b) for b in a)
        b = len(a) // size
        return a[rank * b : (rank + 1) * b]

    return tuple(rows(a) for a in batch)


class SingleProcess:
    """A run of one process: rank 0 of 1, where every collective operation is the identity."""

    rank, size, is_main = 0, 1, True
    allreduce_seconds = 0.0

    def on_main(self, fn, *args):
        return fn(*args)

    def average(self, values: dict) -> dict:
        return values

    def broadcast_parameters(self, model) -> None:
        return None

    def shard_data(self, data):
        return data

    def average_gradients(self, params, loss: float) -> float:
        return loss

    def seed_rngs(self, model, seed: int) -> None:
        return None

    def rng_states(self, model) -> dict:
        return {"dropout": model.rng_states()}

    def resume_rng_states(self, model, state: dict) -> None:
        _check_world_size(state, 1)
        model.set_rng_states(state["dropout"])

    def abort_unless_shared(self, error: BaseException) -> None:
        return None


class DataParallel(SingleProcess):
    """This rank of an MPI job of R ranks (comm: an mpi4py communicator)."""

    def __init__(self, comm, bucket_mb: float, mpi):
        self.comm, self.MPI = comm, mpi
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_main = self.rank == 0
        self.bucket_bytes = int(bucket_mb * 2**20)
        self.allreduce_seconds = 0.0  # time inside Allreduce: transfer plus waiting for the others
        self.allreduce_calls = 0
        self._flat = {}  # (bucket, dtype) -> its flat buffer, reused every step

    def on_main(self, fn, *args):
        """fn(*args) run on rank 0 alone (preparing the run folder), its result, or the exception
        it raised, given to every rank: each rank returns or raises the same, none waits alone."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn(*args)
            except Exception as e:  # raised on every rank below
                error = e
        result, error = self.comm.bcast((result, error), root=0)
        if error is not None:
            error.every_rank = True  # raised by all ranks alike (abort_unless_shared)
            raise error
        return result

    def average(self, values: dict) -> dict:
        """{key: mean over the ranks of values[key]} (numbers), the same on every rank (summed
        on rank 0 and broadcast)."""
        keys = sorted(values)
        sums = self.comm.reduce(np.array([values[k] for k in keys], np.float64), root=0)
        means = self.comm.bcast(None if sums is None else sums / self.size, root=0)
        return {k: float(v) for k, v in zip(keys, means)}

    def broadcast_parameters(self, model) -> None:
        """Rank 0's parameters and buffers copied into every rank's model, bucket by bucket."""
        arrays = [p.data for p in model.parameters()] + [b for _, b in model.named_buffers()]
        for flat, members in self._buckets(arrays):
            self.comm.Bcast(flat, root=0)
            _unpack(flat, members)

    def shard_data(self, data):
        return ShardedData(data, self.rank, self.size)

    def average_gradients(self, params, loss: float) -> float:
        """Every parameter's .grad replaced by its mean over the ranks (one Allreduce per bucket),
        and the mean of the ranks' losses returned. Every rank must hold gradients for the same
        parameters (true for one model run on batches of one shape)."""
        grads = [p.grad for p in params if p.grad is not None]
        for flat, members in self._buckets(grads):
            t0 = time.perf_counter()
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
            self.allreduce_seconds += time.perf_counter() - t0
            self.allreduce_calls += 1
            flat *= flat.dtype.type(1.0 / self.size)
            _unpack(flat, members)
        return self.comm.allreduce(loss, op=self.MPI.SUM) / self.size

    def _buckets(self, arrays):
        """(flat buffer holding the arrays' values, the arrays) per bucket."""
        groups = bucket_indices([a.nbytes for a in arrays], [a.dtype for a in arrays],
                                self.bucket_bytes)  # fmt: skip
        for b, group in enumerate(groups):
            members = [arrays[i] for i in group]
            n = sum(a.size for a in members)
            key = (b, members[0].dtype)
            if key not in self._flat or self._flat[key].size != n:
                self._flat[key] = np.empty(n, members[0].dtype)
            flat, offset = self._flat[key], 0
            for a in members:
                flat[offset : offset + a.size] = a.reshape(-1)
                offset += a.size
            yield flat, members

    def seed_rngs(self, model, seed: int) -> None:
        """Rank r > 0 gets its own dropout streams, default_rng([seed, 1, i, r]) for the i-th
        generator; rank 0 keeps the single-process ones ([seed, 1, i])."""
        if self.rank == 0:
            return
        paths = list(model.rng_states())
        model.set_rng_states(
            {p: np.random.default_rng([seed, 1, i, self.rank]).bit_generator.state
             for i, p in enumerate(paths)}
        )  # fmt: skip

    def rng_states(self, model) -> dict:
        """The checkpoint's record of the dropout generators (collective; rank 0's is complete):
        rank 0's under "dropout" as in a single-process run, the others' under "dropout_ranks",
        and the number of ranks."""
        states = self.comm.gather(model.rng_states(), root=0)
        if not self.is_main:
            return {}
        return {"dropout": states[0], "dropout_ranks": states[1:], "world_size": self.size}

    def abort_unless_shared(self, error: BaseException) -> None:
        """Stop the whole job when `error` was raised by this rank alone: the other ranks would
        wait for it in their next collective operation forever (an MPI job does not end while
        one rank waits). Errors that every rank raises together (`every_rank`: a diverged step,
        an error shared by on_main) let each rank exit normally."""
        if getattr(error, "every_rank", False):
            return
        print(f"rank {self.rank} of {self.size}: {error!r}; aborting all ranks", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        self.comm.Abort(1)

    def resume_rng_states(self, model, state: dict) -> None:
        _check_world_size(state, self.size)
        model.set_rng_states(state["dropout"] if self.rank == 0 else
                             state["dropout_ranks"][self.rank - 1])  # fmt: skip


def _unpack(flat, members) -> None:
    offset = 0
    for a in members:
        a[...] = flat[offset : offset + a.size].reshape(a.shape)
        offset += a.size


def _check_world_size(state: dict, size: int) -> None:
    """A resumed run keeps its number of ranks: with another one the batch (size x batch_size
    rows) and the data order would change, so the run would not be a continuation."""
    trained = state.get("world_size", 1)
    if trained != size:
        raise ValueError(
            f"resume: the checkpoint was trained by {trained} rank(s), this run has {size}: the "
            "batch and the data order would change. Resume it with "
            + (
                f"`mpirun -n {trained} minillm train --distributed=true --resume=true ...`"
                if trained > 1
                else "`minillm train --resume=true ...` in one process"
            )
        )
