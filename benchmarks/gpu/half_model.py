"""Write a model folder with fp16 weights (to carry) or fp32 weights (to use): half_model.py SRC DEST fp16|fp32."""
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

src, dest, dtype = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", "*.md"))
tensors = load_file(str(src / "model.safetensors"))
cast = torch.float16 if dtype == "fp16" else torch.float32
save_file({k: v.to(cast).contiguous() for k, v in tensors.items()}, str(dest / "model.safetensors"), metadata={"format": "pt"})
print(f"wrote {dest} ({dtype})")
