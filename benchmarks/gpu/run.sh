#!/usr/bin/env bash
# The GPU job (see README.md): encoding speed, then domain-adaptation variants scored on the dev judgments.
set -euo pipefail
export PYTHONPATH=src HF_HUB_OFFLINE=1 SIMILAR_HOME=/tmp/simhome PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
C=.devcarry
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 benchmarks/gpu/half_model.py $C/minilm /tmp/minilm fp32
python3 benchmarks/gpu/encode_speed.py /tmp/minilm $C/pubmed.jsonl.gz $OUT/gpu-encode.json
train() { python3 -m similar.cli models train --data $C/ohsumed.jsonl.gz --exclude $C/pubmed.jsonl.gz --base /tmp/minilm --device cuda "$@"; }
train --name ta-e1 --epochs 1 --batch-size 128
train --name ta-e3 --epochs 3 --batch-size 128
train --name halves-e1 --epochs 1 --batch-size 128 --pairing halves
python3 benchmarks/gpu/eval_dense.py $C/trec.jsonl.gz $C/judgments-full-dev.tsv $OUT /tmp/minilm /tmp/simhome/models/ta-e1 /tmp/simhome/models/ta-e3 /tmp/simhome/models/halves-e1
best=$(python3 -c "import json; r=json.load(open('$OUT/eval.json')); r.pop('minilm'); print(max(r, key=r.get))")
echo "best: $best"
python3 -c "import json; r=json.load(open('$OUT/eval.json')); r['best']='$best'; r['training']={m: json.load(open(f'/tmp/simhome/models/{m}/similar-training.json')) for m in ('ta-e1','ta-e3','halves-e1')}; json.dump(r, open('$OUT/eval.json','w'), indent=1)"
python3 benchmarks/gpu/half_model.py /tmp/simhome/models/$best /tmp/best16 fp16
tar -C /tmp -cf /tmp/best16.tar best16
split -b 15M -d /tmp/best16.tar $OUT/best16.tar.part
ls -la $OUT
