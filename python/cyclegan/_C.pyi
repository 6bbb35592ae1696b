"""Private compiled kernels of cyclegan (torch-free). Use cyclegan.ops instead."""

has_cuda: bool

# A tensor's .stride(): element strides of (N, C, H, W).
Strides = tuple[int, int, int, int]

def build_info() -> dict[str, object]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def cpu_guided_apply(
    src: int, src_row_stride: int, dst: int, dst_row_stride: int, height: int, width: int,
    row_begin: int, row_end: int, grid: int, ny: int, nx: int, nz: int, threads: int,
) -> None: ...
def cpu_norm_act_pad_fwd(
    dtype: int, x: int, skip: int, y: int, mean: int, rstd: int,
    planes: int, h: int, w: int, pad: int, act: int, eps: float,
) -> None: ...
def cpu_norm_act_pad_bwd(
    dtype: int, gy: int, x: int, mean: int, rstd: int, gx: int, gskip: int,
    planes: int, h: int, w: int, pad: int, act: int,
) -> None: ...
def cpu_norm_add_pad_bwd(
    dtype: int, gy: int, y: int, skip: int, rstd: int, gx: int, gskip: int,
    planes: int, h: int, w: int, pad: int,
) -> None: ...

# Present only when built with CUDA (has_cuda is True).
def cuda_device_count() -> int: ...
def cuda_workspace_floats(n: int, c: int, h: int, w: int, pad: int, sms: int) -> int: ...
def cuda_norm_act_pad_fwd(
    dtype: int, x: int, x_strides: Strides, skip: int, skip_strides: Strides, y: int,
    y_strides: Strides, mean: int, rstd: int, n: int, c: int, h: int, w: int, pad: int,
    act: int, eps: float, sms: int, workspace: int, workspace_floats: int, stream: int,
) -> None: ...
def cuda_norm_act_pad_bwd(
    dtype: int, gy: int, gy_strides: Strides, x: int, x_strides: Strides, mean: int,
    rstd: int, gx: int, gx_strides: Strides, gskip: int, gskip_strides: Strides, n: int,
    c: int, h: int, w: int, pad: int, act: int, sms: int, workspace: int,
    workspace_floats: int, stream: int,
) -> None: ...
def cuda_norm_add_pad_bwd(
    dtype: int, gy: int, gy_strides: Strides, y: int, y_strides: Strides, skip: int,
    skip_strides: Strides, rstd: int, gx: int, gx_strides: Strides, gskip: int,
    gskip_strides: Strides, n: int, c: int, h: int, w: int, pad: int, sms: int,
    workspace: int, workspace_floats: int, stream: int,
) -> None: ...
