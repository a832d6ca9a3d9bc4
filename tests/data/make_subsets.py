"""Regenerate the trimmed ActivityNet fixtures in tests/data from the full annotation files
(/work/shared/data in the development environment; pass another folder as argv[1]).

activitynet12_subset/: the first 40 training and 20 validation videos of naraysa/3c-net's
ActivityNet1.2-Annotations, written back as Python-2 style pickles (as the originals are), with the full
100-class classlist.
activitynet13_subset/: 40 training, 20 validation and 5 testing videos of BSN's anet_anno_action.json
(first in file order per subset) and their video_info_new.csv rows.
"""
import csv
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fixtures_data import object_array, write_py2_npy  # noqa: E402
from wtal.safe_npy import load_npy, to_str  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"
here = os.path.dirname(os.path.abspath(__file__))

a12 = os.path.join(src, "activitynet12")
out = os.path.join(here, "activitynet12_subset")
os.makedirs(out, exist_ok=True)
sub = [to_str(s) for s in load_npy(os.path.join(a12, "subset.npy"))]
keep = [i for i, s in enumerate(sub) if s == "training"][:40] + [i for i, s in enumerate(sub) if s == "validation"][:20]
keep.sort()
for name in ("videoname", "subset"):
    np.save(os.path.join(out, name + ".npy"), load_npy(os.path.join(a12, name + ".npy"))[keep])
np.save(os.path.join(out, "duration.npy"), load_npy(os.path.join(a12, "duration.npy"))[keep])
shutil.copy(os.path.join(a12, "classlist.npy"), os.path.join(out, "classlist.npy"))
for name in ("segments", "labels", "labels_all"):
    arr = load_npy(os.path.join(a12, name + ".npy"))
    write_py2_npy(os.path.join(out, name + ".npy"), object_array([list(arr[i]) for i in keep]))

a13 = os.path.join(src, "activitynet13")
out = os.path.join(here, "activitynet13_subset")
os.makedirs(out, exist_ok=True)
with open(os.path.join(a13, "video_info_new.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
subset_of = {r["video"]: r["subset"] for r in rows}
with open(os.path.join(a13, "anet_anno_action.json")) as f:
    ann = json.load(f)
quota = {"training": 40, "validation": 20, "testing": 5}
chosen = []
for v in ann:
    s = subset_of.get(v)
    if s in quota and quota[s] > 0:
        quota[s] -= 1
        chosen.append(v)
with open(os.path.join(out, "anet_anno_action.json"), "w") as f:
    json.dump({v: ann[v] for v in chosen}, f)
with open(os.path.join(out, "video_info_new.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        if r["video"] in set(chosen):
            w.writerow(r)
print("ok", len(keep), len(chosen))
