"""``VideoDataset``: one in-memory index of a WTAL dataset (videos, classes, labels, annotations) plus
a lazy source of snippet features.

Every reader (`load_wtalc`, `load_pervideo`, `load_activitynet`) and the synthetic generator return this
class, so models and the trainer see one interface whatever the files on disk look like.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

#: Seconds covered by one I3D snippet: 16 frames of a video resampled to 25 fps (W-TALC, HAM-Net,
#: FAC-Net, STPN/BM all hard-code this factor; here it is a dataset attribute).
I3D_SECONDS_PER_SNIPPET = 16.0 / 25.0

MODALITIES = ("joint", "rgb", "flow")


class DatasetError(ValueError):
    """Bad dataset input (wrong shape, disagreeing lists, unknown class, empty split).

    A ``ValueError`` so the command line reports it as one clear line; the message names the file.
    """


class FeatureSource:
    """Where the snippet features of each video come from (subclassed by the readers).

    ``load(i, modality)`` returns ``float32 [T_i, D_modality]``; ``num_snippets(i)`` returns ``T_i``
    without reading the features when the source can (npy headers, in-memory arrays).
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, i: int, modality: str) -> np.ndarray:
        raise NotImplementedError

    def num_snippets(self, i: int) -> int:
        return int(self.load(i, "joint").shape[0])

    def describe(self, i: int) -> str:
        """Human-readable origin of video ``i`` (a file name) for error messages."""
        return f"video #{i}"


def split_streams(x: np.ndarray, modality: str, stream_dims: tuple[int, int]) -> np.ndarray:
    """Slice the RGB (first ``stream_dims[0]`` columns) or flow (the rest) half of joint features."""
    if modality == "joint":
        return x
    if modality == "rgb":
        return x[:, : stream_dims[0]]
    return x[:, stream_dims[0]:]


class ArraySource(FeatureSource):
    """Features held in memory as a list of ``[T_i, D]`` arrays (W-TALC joint file, synthetic data).

    ``arrays`` may also hold callables ``() -> ndarray`` that are evaluated (and memoised when
    ``memoize``) on first access, so generated data can be lazy.
    """

    def __init__(self, arrays: Sequence, stream_dims: tuple[int, int], origin: str = "memory",
                 memoize: bool = True, lengths: Sequence[int] | None = None):
        self._arrays = list(arrays)
        self._stream_dims = stream_dims
        self._origin = origin
        self._memoize = memoize
        self._lengths = None if lengths is None else [int(t) for t in lengths]

    def __len__(self) -> int:
        return len(self._arrays)

    def _get(self, i: int) -> np.ndarray:
        a = self._arrays[i]
        if callable(a):
            a = a()
            if self._memoize:
                self._arrays[i] = a
        return a

    def load(self, i: int, modality: str) -> np.ndarray:
        return split_streams(self._get(i), modality, self._stream_dims)

    def num_snippets(self, i: int) -> int:
        if self._lengths is not None:
            return self._lengths[i]
        return int(self._get(i).shape[0])

    def describe(self, i: int) -> str:
        return f"{self._origin}[{i}]"


class VideoDataset:
    """A WTAL dataset: video index, video-level labels, instance annotations and lazy features.

    Attributes:
        name: dataset name (``"Thumos14reduced"``, ``"synthetic-thumos"``, ...).
        classes: class names, in label-column order.
        videos: video names, ``V`` of them.
        subsets: subset name of each video (``"validation"``/``"test"`` on THUMOS14 W-TALC files,
            ``"training"``/``"validation"`` on ActivityNet, ``"train"``/``"test"`` on synthetic data).
        labels: ``float32 [V, C]`` multi-hot video-level labels (the only supervision WTAL uses).
        durations: ``float64 [V]`` video durations in seconds.
        feature_dim: feature width ``D`` of the selected modality.
        seconds_per_snippet: seconds per feature row (16/25 for I3D at 25 fps).
        modality: ``"joint"`` (all columns), ``"rgb"`` (first stream) or ``"flow"`` (second stream).
        stream_dims: widths of the (RGB, flow) streams in the joint features.
        train_subset / test_subset: which subset names play the train and test roles (THUMOS14 trains on
            its "validation" videos; ActivityNet tests on "validation").
        annotations: columns ``video`` (int64 index into ``videos``), ``t_start``, ``t_end``
            (float64 seconds, not clipped to the duration) and ``label`` (int64 index into ``classes``).
        ambiguous_file: path of THUMOS14's ``Ambiguous_test.txt`` when the reader found one, else None.
    """

    def __init__(self, *, name: str, classes: Sequence[str], videos: Sequence[str], subsets: Sequence[str],
                 labels: np.ndarray, durations: np.ndarray, source: FeatureSource, joint_dim: int,
                 annotations: Mapping[str, np.ndarray], seconds_per_snippet: float = I3D_SECONDS_PER_SNIPPET,
                 modality: str = "joint", stream_dims: tuple[int, int] | None = None,
                 train_subset: str | None = None, test_subset: str | None = None,
                 ambiguous_file: str | None = None, origin: str = ""):
        V, C = len(videos), len(classes)
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if stream_dims is None:
            if joint_dim % 2:
                if modality != "joint":
                    raise DatasetError(f"{origin or name}: feature dim {joint_dim} is odd; pass stream_dims "
                                       "to select the rgb or flow stream")
                stream_dims = (joint_dim, 0)
            else:
                stream_dims = (joint_dim // 2, joint_dim // 2)
        if sum(stream_dims) != joint_dim:
            raise DatasetError(f"{origin or name}: stream_dims {stream_dims} do not add up to the feature "
                               f"dim {joint_dim}")
        if not seconds_per_snippet > 0:
            raise ValueError(f"seconds_per_snippet must be > 0, got {seconds_per_snippet}")
        labels = np.ascontiguousarray(labels, dtype=np.float32)
        durations = np.ascontiguousarray(np.asarray(durations, dtype=np.float64).reshape(-1))
        if labels.shape != (V, C):
            raise DatasetError(f"{origin or name}: labels have shape {labels.shape}, expected ({V}, {C})")
        if durations.shape != (V,) or len(subsets) != V or len(source) != V:
            raise DatasetError(f"{origin or name}: {V} videos but {durations.shape[0]} durations, "
                               f"{len(subsets)} subsets, {len(source)} feature entries")
        if len(set(videos)) != V:
            dup = sorted({v for v in videos if list(videos).count(v) > 1})[:5]
            raise DatasetError(f"{origin or name}: duplicate video names {dup}")
        # The readers check these with the file that holds them; this catches any other source.
        check_durations(durations, videos, origin or name)
        check_segments(annotations["t_start"], annotations["t_end"], annotations["video"], videos, origin or name)
        self.name = name
        self.classes = [str(c) for c in classes]
        self.videos = [str(v) for v in videos]
        self.subsets = [str(s) for s in subsets]
        self.labels = labels
        self.durations = durations
        self.seconds_per_snippet = float(seconds_per_snippet)
        self.modality = modality
        self.stream_dims = (int(stream_dims[0]), int(stream_dims[1]))
        self.joint_dim = int(joint_dim)
        self.annotations = {
            "video": np.asarray(annotations["video"], dtype=np.int64),
            "t_start": np.asarray(annotations["t_start"], dtype=np.float64),
            "t_end": np.asarray(annotations["t_end"], dtype=np.float64),
            "label": np.asarray(annotations["label"], dtype=np.int64),
        }
        self.ambiguous_file = ambiguous_file
        self.origin = origin
        self._source = source
        present = list(dict.fromkeys(self.subsets))
        self.train_subset = train_subset if train_subset is not None else _default_train_subset(present)
        self.test_subset = test_subset if test_subset is not None else _default_test_subset(present,
                                                                                           self.train_subset)
        self._index = {v: i for i, v in enumerate(self.videos)}

    # -- basic properties -----------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """Feature width of the selected modality."""
        if self.modality == "rgb":
            return self.stream_dims[0]
        if self.modality == "flow":
            return self.stream_dims[1]
        return self.joint_dim

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        counts = {s: self.subsets.count(s) for s in dict.fromkeys(self.subsets)}
        return (f"VideoDataset(name={self.name!r}, videos={len(self)}, subsets={counts}, "
                f"classes={self.num_classes}, feature_dim={self.feature_dim}, modality={self.modality!r}, "
                f"seconds_per_snippet={self.seconds_per_snippet:g})")

    def video_index(self, video: str) -> int:
        """Index of a video by name (KeyError naming the video when absent)."""
        try:
            return self._index[video]
        except KeyError:
            raise KeyError(f"video {video!r} is not in dataset {self.name!r}") from None

    # -- features -------------------------------------------------------------------------------------
    def features(self, i: int) -> np.ndarray:
        """Snippet features of video ``i``: ``float32 [T_i, feature_dim]`` (read lazily)."""
        x = self._source.load(int(i), self.modality)
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        return x

    def num_snippets(self, i: int) -> int:
        """``T_i`` without loading the features when the source allows it."""
        return self._source.num_snippets(int(i))

    def preload(self) -> "VideoDataset":
        """Read (or generate) every video's features into memory now; returns ``self``.

        Useful before forking DataLoader workers, so each worker does not read or regenerate on its own.
        """
        src = self._source
        arrays = [np.ascontiguousarray(src.load(i, "joint"), dtype=np.float32) for i in range(len(src))]
        self._source = ArraySource(arrays, self.stream_dims, origin=self.origin or self.name)
        return self

    def with_modality(self, modality: str) -> "VideoDataset":
        """The same dataset exposing another stream (shares the feature source; no copy)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if modality != "joint" and min(self.stream_dims) == 0:
            raise DatasetError(f"{self.origin or self.name}: no separate rgb/flow streams in this dataset")
        other = object.__new__(VideoDataset)
        other.__dict__.update(self.__dict__)
        other.modality = modality
        return other

    # -- subsets and ground truth ---------------------------------------------------------------------
    def indices(self, subset: str | Sequence[str] | None = None) -> list[int]:
        """Video indices of a subset (or several; ``None`` = all videos), in dataset order.

        Raises:
            DatasetError: the subset is empty (the message lists the subsets that exist).
        """
        if subset is None:
            return list(range(len(self)))
        wanted = {subset} if isinstance(subset, str) else set(subset)
        out = [i for i, s in enumerate(self.subsets) if s in wanted]
        if not out:
            have = {s: self.subsets.count(s) for s in dict.fromkeys(self.subsets)}
            raise DatasetError(f"{self.origin or self.name}: subset {subset!r} has no videos "
                               f"(subsets present: {have})")
        return out

    def ground_truth(self, subset: str | Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Instance annotations of a subset as columns for ``wtal.eval``.

        Returns:
            ``video`` (object array of str), ``t_start``, ``t_end`` (float64 seconds; segments that run
            past the duration are kept as annotated), ``label`` (object array of str), in dataset order.
        """
        keep = np.zeros(len(self), dtype=bool)
        keep[self.indices(subset)] = True
        a = self.annotations
        m = keep[a["video"]]
        videos = np.asarray(self.videos, dtype=object)
        classes = np.asarray(self.classes, dtype=object)
        return {
            "video": videos[a["video"][m]] if m.any() else np.empty(0, dtype=object),
            "t_start": a["t_start"][m].copy(),
            "t_end": a["t_end"][m].copy(),
            "label": classes[a["label"][m]] if m.any() else np.empty(0, dtype=object),
        }

    def snippet_labels(self, i: int, num_snippets: int | None = None) -> np.ndarray:
        """Frame-level (snippet) multi-hot ground truth of video ``i``: ``float32 [T_i, C]``.

        Snippet ``t`` covers ``[t, t+1) * seconds_per_snippet``; it is positive for a class when its
        centre lies inside an instance of that class. For analysis and fully supervised baselines only;
        WTAL training never sees it.
        """
        T = self.num_snippets(i) if num_snippets is None else int(num_snippets)
        out = np.zeros((T, self.num_classes), dtype=np.float32)
        a = self.annotations
        centres = (np.arange(T) + 0.5) * self.seconds_per_snippet
        for k in np.flatnonzero(a["video"] == i):
            inside = (centres >= a["t_start"][k]) & (centres < a["t_end"][k])
            out[inside, a["label"][k]] = 1.0
        return out


def _default_train_subset(present: list[str]) -> str | None:
    for name in ("train", "training"):
        if name in present:
            return name
    if "validation" in present and "test" in present:
        return "validation"  # THUMOS14: the validation videos are the training set
    return present[0] if present else None


def _default_test_subset(present: list[str], train: str | None) -> str | None:
    for name in ("test", "testing", "validation", "val"):
        if name in present and name != train:
            return name
    rest = [s for s in present if s != train]
    return rest[0] if rest else None


def multi_hot(label_lists: Sequence[Sequence[str]], classes: Sequence[str], *, origin: str,
              videos: Sequence[str]) -> np.ndarray:
    """``float32 [V, C]`` multi-hot from per-video class-name lists; unknown names raise DatasetError."""
    index = {c: k for k, c in enumerate(classes)}
    out = np.zeros((len(label_lists), len(classes)), dtype=np.float32)
    for i, names in enumerate(label_lists):
        for n in names:
            k = index.get(n)
            if k is None:
                raise DatasetError(f"{origin}: unknown class {n!r} for video {videos[i]!r} "
                                   f"(known classes: {len(classes)}, e.g. {list(classes)[:3]})")
            out[i, k] = 1.0
    return out


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The UTF-8 text of a file (a BOM is dropped), or DatasetError naming the file and the bad byte."""
    path = check_file(path, what)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}: {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
                           f"line {line}); re-save it as UTF-8") from None


def as_number(value, what: str) -> float:
    """A JSON/annotation number as float: int, float or a numeric string; bool and the rest raise
    ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None


def check_durations(durations: np.ndarray, videos: Sequence[str], origin: str) -> None:
    """DatasetError naming ``origin`` and the first video whose duration is not a finite number > 0."""
    d = np.asarray(durations, dtype=np.float64).reshape(-1)
    bad = ~(np.isfinite(d) & (d > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{origin}: video {videos[i]!r} has duration {float(d[i])!r}; durations must be finite "
                           f"seconds > 0 ({int(bad.sum())} bad in all)")


def check_segments(t_start, t_end, video, videos: Sequence[str], origin: str) -> None:
    """DatasetError naming ``origin``, the video and the row of the first segment that has a NaN/inf
    boundary or ends before it starts (zero-length segments occur in the real annotations and pass)."""
    s = np.asarray(t_start, dtype=np.float64)
    e = np.asarray(t_end, dtype=np.float64)
    bad = ~(np.isfinite(s) & np.isfinite(e) & (e >= s))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        what = "a non-finite" if not (np.isfinite(s[k]) and np.isfinite(e[k])) else "a reversed"
        raise DatasetError(f"{origin}: video {videos[int(np.asarray(video)[k])]!r} has {what} segment "
                           f"[{float(s[k])!r}, {float(e[k])!r}] (annotation row {k})")


def check_features(x, origin: str, video: str) -> np.ndarray:
    """Snippet features as float32 C-contiguous ``[T, D]`` (T, D > 0, every value finite), or
    DatasetError naming the file (``origin``) and the video."""
    x = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if x.dtype.kind not in "iuf":
        raise DatasetError(f"{origin}: features of video {video!r} have dtype {x.dtype}; expected real numbers "
                           "(float or int)")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DatasetError(f"{origin}: features of video {video!r} have shape {x.shape}, expected [T, D] with "
                           "T, D > 0")
    with np.errstate(over="ignore"):  # float64 values beyond float32 become inf and are reported below
        y = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(y).all():
        t, d = (int(v) for v in np.argwhere(~np.isfinite(y))[0])
        value = float(x[t, d])
        extra = "" if not np.isfinite(value) else " (it does not fit float32)"
        raise DatasetError(f"{origin}: features of video {video!r} contain {value!r} at snippet {t}, column "
                           f"{d}{extra}; features must be finite")
    return y


def check_file(path: str | os.PathLike, what: str = "file") -> str:
    """Return ``path`` as str, or raise FileNotFoundError naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"missing {what}: {path}")
    return path


__all__ = ["VideoDataset", "FeatureSource", "ArraySource", "DatasetError", "I3D_SECONDS_PER_SNIPPET",
           "MODALITIES", "multi_hot", "check_file", "split_streams", "read_text", "as_number", "check_durations",
           "check_segments", "check_features"]
