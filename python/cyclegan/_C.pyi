"""Private compiled kernels of cyclegan (torch-free). Use cyclegan.ops instead."""

has_cuda: bool

def build_info() -> dict[str, object]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
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
def cuda_norm_act_pad_fwd(
    dtype: int, x: int, skip: int, skip_channels: int, skip_sn: int, skip_sc: int,
    skip_sh: int, y: int, mean: int, rstd: int,
    planes: int, h: int, w: int, pad: int, act: int, eps: float, stream: int,
) -> None: ...
def cuda_norm_act_pad_bwd(
    dtype: int, gy: int, x: int, mean: int, rstd: int, gx: int, gskip: int,
    planes: int, h: int, w: int, pad: int, act: int, stream: int,
) -> None: ...
def cuda_norm_add_pad_bwd(
    dtype: int, gy: int, y: int, skip: int, skip_channels: int, skip_sn: int, skip_sc: int,
    skip_sh: int, rstd: int, gx: int, gskip: int,
    planes: int, h: int, w: int, pad: int, stream: int,
) -> None: ...
