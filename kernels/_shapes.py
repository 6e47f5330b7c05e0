"""Shape checks shared by both backends (pure Python on shape tuples; no array library).

Every host function validates its inputs here first, so a bad call raises the same clear
ValueError on either backend before any kernel is launched.
"""

MAX_GRID_YZ = 65535  # CUDA's limit on gridDim.y and gridDim.z


def matmul_dims(a_shape, b_shape):
    """(Bt, M, K, N, fold) for a @ b on the kernels' batched (Bt, M, K) @ (Bt, K, N) form.

    a (..., M, K) @ b (K, N) folds a's leading axes into M (fold=True, one big GEMM, as in the
    reference); otherwise the batch axes must be equal. Deviation from np.matmul: 1-D operands and
    other broadcasts (a 2-D a against a batched b, batch axes of size 1) raise ValueError.
    """
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)  # the simulator's FakeShape has no [-1]
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ValueError(f"matmul kernels need a, b with ndim >= 2; got {a_shape} @ {b_shape}")
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"matmul inner dims differ: {a_shape} @ {b_shape}")
    K, N = a_shape[-1], b_shape[-1]
    if len(b_shape) == 2:
        M = 1
        for n in a_shape[:-1]:
            M *= n
        return 1, M, K, N, True
    if tuple(a_shape[:-2]) != tuple(b_shape[:-2]):
        raise ValueError(
            f"matmul kernels need equal batch axes or a 2-D b; got {a_shape} @ {b_shape}"
        )
    Bt = 1
    for n in a_shape[:-2]:
        Bt *= n
    if Bt > MAX_GRID_YZ:
        raise ValueError(f"matmul batch {Bt} exceeds the grid limit {MAX_GRID_YZ}")
    return Bt, a_shape[-2], K, N, False


def check_grid_y(blocks_y, M, op):
    """Row tiles run on gridDim.y, which CUDA caps at 65535."""
    if blocks_y > MAX_GRID_YZ:
        raise ValueError(f"{op}: {M} rows need {blocks_y} row tiles > the grid limit {MAX_GRID_YZ}")


def rows(shape, op):
    """(R, C): the kernels see an array as R rows of length C over its last axis."""
    shape = tuple(shape)
    if len(shape) == 0 or shape[-1] == 0:
        raise ValueError(f"{op} kernels need a non-empty last axis; got shape {shape}")
    R = 1
    for n in shape[:-1]:
        R *= n
    return R, shape[-1]


def last_axis(axis, ndim, op):
    """Only the last axis is supported: the kernels run one block per row of a row-major array."""
    if axis not in (-1, ndim - 1):
        raise ValueError(f"{op} kernels reduce over the last axis only; got axis={axis}")


def same_shape(name, shape, ref_name, ref_shape, op):
    if tuple(shape) != tuple(ref_shape):
        raise ValueError(f"{op}: {name} has shape {shape}, expected {ref_name}'s {ref_shape}")


def attention_dims(q_shape, k_shape, v_shape, mask_shape):
    """(BH, T, S, D, mask_strides) for q (..., T, D), k (..., S, D), v (..., S, D).

    The leading axes of q are flattened to BH = B*H (H = the last leading axis). mask_strides is
    (H, sB, sH, sT, sS): element strides into a C-contiguous boolean mask of mask_shape,
    broadcast to q's (..., T, S) with a 0 stride on broadcast axes, so (T, S), (B, 1, 1, S) and
    (B, H, T, S) masks are all read in place: mask[b*sB + h*sH + t*sT + s*sS] with b = bh // H,
    h = bh % H. The axes before H must be all broadcast or all present. None when no mask.
    """
    q_shape, k_shape, v_shape = tuple(q_shape), tuple(k_shape), tuple(v_shape)
    if len(q_shape) < 2 or tuple(k_shape) != tuple(v_shape) or len(k_shape) != len(q_shape):
        raise ValueError(f"attention: q {q_shape}, k {k_shape}, v {v_shape} do not match")
    if tuple(q_shape[:-2]) != tuple(k_shape[:-2]) or q_shape[-1] != k_shape[-1]:
        raise ValueError(f"attention: q {q_shape} and k {k_shape} differ in batch or head dim")
    T, S, D = q_shape[-2], k_shape[-2], q_shape[-1]
    if T == 0 or S == 0 or D == 0:
        raise ValueError(f"attention kernels need T, S, D > 0; got q {q_shape}, k {k_shape}")
    lead = tuple(q_shape[:-2])
    BH = 1
    for n in lead:
        BH *= n
    if BH > MAX_GRID_YZ:  # B*H runs on gridDim.y
        raise ValueError(f"attention: B*H={BH} exceeds the grid limit {MAX_GRID_YZ}")
    if mask_shape is None:
        return BH, T, S, D, None
    full = lead + (T, S)
    m = (1,) * (len(full) - len(mask_shape)) + tuple(mask_shape)  # left-pad like NumPy
    if len(m) != len(full) or any(mi not in (1, n) for mi, n in zip(m, full, strict=True)):
        raise ValueError(f"attention: attn_mask {tuple(mask_shape)} does not broadcast to {full}")
    strides, step = [0] * len(m), 1
    for i in reversed(range(len(m))):  # C-contiguous strides, 0 where the mask broadcasts
        strides[i] = step if m[i] > 1 else 0
        step *= m[i]
    outer = m[: max(len(lead) - 1, 0)]
    if any(n != 1 for n in outer) and outer != lead[:-1]:
        raise ValueError(
            f"attention kernels need attn_mask's axes before H to be all 1 or all present; "
            f"got {tuple(mask_shape)} for q {tuple(q_shape)}"
        )
    sB = strides[len(lead) - 2] if len(lead) >= 2 else 0
    sH = strides[len(lead) - 1] if lead else 0
    H = lead[-1] if lead else 1
    return BH, T, S, D, (H, sB, sH, strides[-2], strides[-1])


def cross_entropy_dims(logits_shape, targets_shape, reduction):
    logits_shape, targets_shape = tuple(logits_shape), tuple(targets_shape)
    if len(logits_shape) != 2 or tuple(targets_shape) != (logits_shape[0],):
        raise ValueError(
            f"cross_entropy: logits must be (N, V) and targets (N,); got {logits_shape}, "
            f"{targets_shape}"
        )
    if logits_shape[1] == 0:
        raise ValueError(f"cross_entropy: empty vocabulary axis in logits {logits_shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"cross_entropy: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}"
        )
    return logits_shape[0], logits_shape[1]


def gelu_form(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")
    return approximate == "tanh"
