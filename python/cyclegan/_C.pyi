"""Private compiled kernels of cyclegan (torch-free). Use cyclegan.ops instead.

Every entry point takes one argument struct, constructed by keyword only
(e.g. ``NormActPadFwd(dtype=DType.float32, x=View(data=ptr, strides=(n, c, h, w)), ...)``);
fields left out keep their zero value. See csrc/common.h and csrc/norm_act_pad.h.
"""

import enum

has_cuda: bool

class DType(enum.Enum):
    float32 = 0
    float64 = 1
    float16 = 2
    bfloat16 = 3

class Act(enum.Enum):
    none = 0
    relu = 1

class View:
    """An array: the address of element (0, 0, 0, 0) and element strides of (N, C, H, W)."""
    data: int
    strides: tuple[int, int, int, int]
    def __init__(
        self, *, data: int = 0, strides: tuple[int, int, int, int] = (0, 0, 0, 0)
    ) -> None: ...

class ImageShape:
    n: int
    c: int
    h: int
    w: int
    pad: int
    def __init__(self, **fields: object) -> None: ...

class Launch:
    """A CUDA call: SM count, float32 workspace (address, size) and cudaStream_t."""
    sms: int
    workspace: int
    workspace_floats: int
    stream: int
    def __init__(self, **fields: object) -> None: ...

class NormActPadFwd:
    dtype: DType
    x: View
    skip: View
    y: View
    mean: View
    rstd: View
    shape: ImageShape
    act: Act
    eps: float
    launch: Launch
    def __init__(self, **fields: object) -> None: ...

class NormActPadBwd:
    dtype: DType
    gy: View
    x: View
    mean: View
    rstd: View
    gx: View
    gskip: View
    shape: ImageShape
    act: Act
    launch: Launch
    def __init__(self, **fields: object) -> None: ...

class NormAddPadBwd:
    dtype: DType
    gy: View
    y: View
    skip: View
    rstd: View
    gx: View
    gskip: View
    shape: ImageShape
    launch: Launch
    def __init__(self, **fields: object) -> None: ...

class GuidedApply:
    src: View
    dst: View
    grid: View
    height: int
    width: int
    row_begin: int
    row_end: int
    ny: int
    nx: int
    nz: int
    threads: int
    def __init__(self, **fields: object) -> None: ...

def build_info() -> dict[str, object]: ...
def set_num_threads(n: int) -> None: ...
def cpu_guided_apply(args: GuidedApply) -> None: ...

# CPU: NCHW-contiguous arrays, float32 or float64.
def cpu_norm_act_pad_fwd(args: NormActPadFwd) -> None: ...
def cpu_norm_act_pad_bwd(args: NormActPadBwd) -> None: ...
def cpu_norm_add_pad_bwd(args: NormAddPadBwd) -> None: ...

# CUDA, present only when built with CUDA (has_cuda is True): any strides, float32,
# float16 or bfloat16, run as args.launch says.
def cuda_norm_act_pad_fwd(args: NormActPadFwd) -> None: ...
def cuda_norm_act_pad_bwd(args: NormActPadBwd) -> None: ...
def cuda_norm_add_pad_bwd(args: NormAddPadBwd) -> None: ...
def cuda_norm_act_pad_workspace_floats(shape: ImageShape, sms: int) -> int: ...
