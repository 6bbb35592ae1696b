#!/usr/bin/env bash
# The interpreter peer_study.sh runs the official CycleGAN code with (PEER_PYTHON): a venv that
# sees BASE_PYTHON's packages (its torch, numpy, Pillow) plus what the official train.py
# imports and ours does not: dominate, wandb (imported even when --use_wandb is off) and
# torchvision (only its transforms are used).
#
#   bash benchmarks/peer_venv.sh VENV [BASE_PYTHON]      then  PEER_PYTHON=VENV/bin/python
#
# torchvision is pinned to the release built for the base torch (0.N+15 for torch 2.N) and
# installed without dependencies, so pip cannot replace that torch. Where the only wheel at
# hand is a CUDA build and the base torch a CPU one, torchvision's compiled ops cannot load
# and its import stops on registering fakes for two ops (nms, qnms) it never defined; a
# start-up hook of this venv then defines their schemas, with no kernels, which is enough
# for the transforms.
set -euo pipefail
VENV=$(realpath -m "$1"); BASE=${2:-python3}
base_site=$("$BASE" -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))')
torch_minor=$("$BASE" -c 'import torch; print(torch.__version__.split(".")[1])')
python3 -m venv "$VENV"
site=$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
echo "$base_site" > "$site/01_base.pth"
"$VENV/bin/pip" install -q dominate wandb
"$VENV/bin/pip" install -q --no-deps "torchvision==0.$((torch_minor + 15)).*"
if ! "$VENV/bin/python" -c 'import torchvision' 2>/dev/null; then
  cat > "$site/peer_torchvision_schemas.py" <<'EOF'
# Written by benchmarks/peer_venv.sh: torchvision's compiled ops do not load against this
# torch, so the two op schemas its import registers fakes for are defined here (no kernels).
import torch

_LIB = torch.library.Library("torchvision", "DEF")
_LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
EOF
  echo "import peer_torchvision_schemas" > "$site/02_torchvision_schemas.pth"
fi
"$VENV/bin/python" -c 'import torch, torchvision, dominate, wandb
import torchvision.transforms as T
print(f"ok: torch {torch.__version__}, torchvision {torchvision.__version__}")'
