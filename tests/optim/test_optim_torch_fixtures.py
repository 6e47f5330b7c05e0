"""SGD, Adam, AdamW and clip_grad_norm_ against PyTorch 2.13 (tests/fixtures/optim.npz, C21).

The fixtures come from tests/fixtures/make_optim_fixtures.py: several float64 steps with two
parameter groups (one without weight decay, one with its own lr), the lr changed between steps,
a parameter whose grad is None at one step and one whose grad is always None.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from minillm.optim import SGD, Adam, AdamW, clip_grad_norm_
from minillm.tensor import Tensor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "optim.npz"
OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


def load_fixtures():
    with np.load(FIXTURES, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


DATA = load_fixtures()
CASES = sorted({k.split("/")[0] for k in DATA if not k.startswith("clip_")})
CLIP_CASES = sorted({k.split("/")[0] for k in DATA if k.startswith("clip_")})


def test_fixture_file_has_every_case():
    assert {"sgd_plain", "sgd_momentum", "sgd_nesterov", "adam", "adamw"} <= set(CASES), CASES
    assert len(CLIP_CASES) >= 4, CLIP_CASES


@pytest.mark.parametrize("case", CASES)
def test_C21_optimizer_matches_pytorch_step_by_step(case, assert_close):
    config = json.loads(str(DATA[f"{case}/config"]))
    n_params = len([k for k in DATA if k.startswith(f"{case}/init/")])
    params = [Tensor(DATA[f"{case}/init/{i}"].copy(), requires_grad=True) for i in range(n_params)]
    kwargs = dict(config["kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if config["groups"] is None:
        groups = params
    else:
        groups = [{**g, "params": [params[i] for i in g["params"]]} for g in config["groups"]]
    opt = OPTIMIZERS[config["optimizer"]](groups, **kwargs)
    base_lrs = [g["lr"] for g in opt.param_groups]
    for k, scale in enumerate(config["lr_scale"]):
        for i, p in enumerate(params):
            key = f"{case}/grad/{k}/{i}"
            p.grad = DATA[key].copy() if key in DATA else None
        for group, base in zip(opt.param_groups, base_lrs, strict=True):
            group["lr"] = base * scale
        opt.step()
        for i, p in enumerate(params):
            assert_close(p.data, DATA[f"{case}/after/{k}/{i}"], f"{case} step {k} param {i}")


@pytest.mark.parametrize("case", CLIP_CASES)
def test_clip_grad_norm_matches_pytorch(case, assert_close):
    config = json.loads(str(DATA[f"{case}/config"]))
    norm_type = math.inf if config["norm_type"] == "inf" else config["norm_type"]
    params = []
    for i in range(config["n_params"]):
        key = f"{case}/grad/{i}"
        p = Tensor(np.zeros(DATA[key].shape if key in DATA else (2,)), requires_grad=True)
        p.grad = DATA[key].copy() if key in DATA else None
        params.append(p)
    total = clip_grad_norm_(params, config["max_norm"], norm_type=norm_type)
    assert_close(np.array(total), DATA[f"{case}/total_norm"], f"{case} total norm")
    for i, p in enumerate(params):
        key = f"{case}/clipped/{i}"
        if key in DATA:
            assert_close(p.grad, DATA[key], f"{case} clipped grad {i}")
        else:
            assert p.grad is None, f"{case}: grad {i} was None and must stay None"
