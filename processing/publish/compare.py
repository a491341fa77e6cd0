"""`crd compare`: the prompts of two datasets on one semantic map, with their overlap.

Each side is read with the pool's source readers (a crd output or pulled dataset folder,
a pool.parquet, a folder or glob of imported parts, JSON Lines, …), sampled, and embedded
in one shared space:
- by default offline, with no model: character 1–3-gram TF-IDF (hashed, so memory is
  bounded), reduced by truncated SVD to dense vectors;
- with `--embedding PATH`, by a local sentence-transformers model.
One approximate nearest-neighbour graph (NN-descent) then gives both the overlap figures
(the share of A's prompts whose nearest neighbour is in B, and the reverse) and the
neighbourhoods UMAP lays out in 2-D. The heavy libraries are the `viz` extra.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from processing.errors import CrdError
from processing.pool.sources import SourceConfig, read_source

VIZ_MODULES = ("sklearn", "pynndescent", "umap")
INSTALL_LINE = 'crd compare needs the viz extra: pip install "chinese-reasoning-distil[viz]"'
EMBED_CHARS = 1_000  # a prompt's first characters: enough to place it, and bounds the cost of essays
NGRAMS = (1, 3)
HASH_FEATURES = 2**20
SVD_COMPONENTS = 64
SVD_FIT_ROWS = 30_000  # the SVD basis is learned on a sample, then every prompt is projected on it
NEIGHBOURS = 15
SEED = 0


@dataclass
class Side:
    name: str
    prompts: list[str]
    total: int  # prompts before sampling


@dataclass
class Comparison:
    a: Side
    b: Side
    a_near_b: float  # share of A's prompts whose nearest neighbour is in B
    b_near_a: float
    a_near_b_mixed: float  # the same share if the two sets were one random mix
    b_near_a_mixed: float
    points: np.ndarray  # (len(a) + len(b), 2): A's rows first
    embedding: str


def read_side(path: str, column: str, sample: int | None) -> Side:
    """The prompts of one dataset; `column` is a column name or a template like "{instruction}\\n{input}"."""
    files = _own_layout(path)
    spec = SourceConfig(path=files, template=column) if "{" in column else SourceConfig(path=files, prompt_column=column)
    prompts = read_source(spec)["prompt"].drop_nulls()
    total = len(prompts)
    if sample and total > sample:
        prompts = prompts.sample(sample, seed=SEED)
    return Side(_label(path), prompts.to_list(), total)


def compare(a: Side, b: Side, embedding: str | None = None, say: Callable[[str], None] = print) -> Comparison:
    """Embed both sides in one space, find each prompt's nearest neighbour, lay out the map.

    `say` gets one line as each stage ends (they take minutes at 200,000 prompts a side)."""
    require_viz()
    clock = time.perf_counter()
    texts = [text[:EMBED_CHARS] for text in a.prompts + b.prompts]
    vectors, described = (_sentence_vectors(texts, embedding) if embedding else _tfidf_svd_vectors(texts))
    say(f"embedded {len(texts):,} prompts in {time.perf_counter() - clock:.0f} s ({described})")
    clock = time.perf_counter()
    neighbours, distances, index = _neighbour_graph(vectors)
    say(f"nearest-neighbour graph in {time.perf_counter() - clock:.0f} s")
    clock = time.perf_counter()
    points = _layout(vectors, (neighbours, distances, index))
    say(f"2-D layout in {time.perf_counter() - clock:.0f} s")
    in_b = np.arange(len(texts)) >= len(a.prompts)
    nearest_in_b = in_b[neighbours[:, 1]]
    n_a, n_b = len(a.prompts), len(b.prompts)
    return Comparison(
        a, b,
        a_near_b=float(nearest_in_b[~in_b].mean()), b_near_a=float((~nearest_in_b[in_b]).mean()),
        a_near_b_mixed=n_b / max(1, n_a + n_b - 1), b_near_a_mixed=n_a / max(1, n_a + n_b - 1),
        points=points, embedding=described,
    )


def summary_lines(result: Comparison) -> list[str]:
    a, b = result.a, result.b
    return [
        f"A = {a.name}: {len(a.prompts):,} prompts{_sampled(a)}; B = {b.name}: {len(b.prompts):,} prompts{_sampled(b)}",
        f"A's prompts whose nearest neighbour is in B: {result.a_near_b:.1%} "
        f"({result.a_near_b_mixed:.1%} if A and B were one random mix)",
        f"B's prompts whose nearest neighbour is in A: {result.b_near_a:.1%} "
        f"({result.b_near_a_mixed:.1%} if A and B were one random mix)",
        f"embedding: {result.embedding}; 2-D layout: UMAP over the {NEIGHBOURS}-nearest-neighbour graph",
    ]


def _own_layout(path: str) -> str:
    """A crd output folder or an import parts folder as a glob of its Parquet files: read
    directly, rather than copied into a `datasets` cache first."""
    folder = Path(path)
    for pattern in ("data/default/*.parquet", "part-*.parquet"):
        if folder.is_dir() and any(folder.glob(pattern)):
            return str(folder / pattern)
    return path


def _sampled(side: Side) -> str:
    return f" (a random sample of {side.total:,})" if side.total > len(side.prompts) else ""


def _label(path: str) -> str:
    name = Path(path.rstrip("/")).name
    return name if name not in ("", "data") else path


# --- embedding ---------------------------------------------------------------------------


def _tfidf_svd_vectors(texts: list[str]) -> tuple[np.ndarray, str]:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    hashed = HashingVectorizer(analyzer="char", ngram_range=NGRAMS, n_features=HASH_FEATURES,
                               alternate_sign=False, norm=None).transform(texts)
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(hashed)
    components = min(SVD_COMPONENTS, max(2, weighted.shape[0] - 1))
    # The basis is learned on a sample, over only the hash columns the sample uses: the
    # randomized SVD of all 400k rows x 2^20 columns took 315 s here, and of a 30k sample
    # over all columns 19 s CPU, against 8 s over its used columns. Projecting every row
    # on the basis is then one sparse product (columns outside it would project to zero).
    sample = weighted[np.random.default_rng(SEED).permutation(weighted.shape[0])[:SVD_FIT_ROWS]]
    used = np.unique(sample.indices)
    svd = TruncatedSVD(components, algorithm="randomized", n_iter=5, random_state=SEED).fit(sample[:, used])
    described = f"character {NGRAMS[0]}-{NGRAMS[1]}-gram TF-IDF, SVD to {components} dimensions"
    return _unit_rows(svd.transform(weighted[:, used])), described


def _sentence_vectors(texts: list[str], model_path: str) -> tuple[np.ndarray, str]:
    if not Path(model_path).exists():
        raise CrdError(f"--embedding {model_path}: no such folder; give a sentence-transformers model saved locally")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise CrdError("--embedding needs sentence-transformers: pip install sentence-transformers") from None
    model = SentenceTransformer(model_path, local_files_only=True)
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
    return np.asarray(vectors, dtype=np.float32), f"sentence-transformers model {model_path}"


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Unit length, so Euclidean neighbours are cosine neighbours."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


# --- neighbours and layout -------------------------------------------------------------


def _neighbour_graph(vectors: np.ndarray):
    """(indices, distances, index): each row's nearest rows, the row itself first (as UMAP expects)."""
    from pynndescent import NNDescent

    k = min(NEIGHBOURS + 1, len(vectors))
    index = NNDescent(vectors, n_neighbors=k, metric="euclidean", random_state=SEED, low_memory=True)
    return (*self_first(*index.neighbor_graph), index)


def self_first(indices: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put each row itself in column 0: among exact duplicates NN-descent may list a twin first.

    The row's own entry is dropped where it appears, else the farthest neighbour is.
    """
    n, k = indices.shape
    rows = np.arange(n)
    is_self = indices == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k - 1)
    keep = np.ones((n, k), dtype=bool)
    keep[rows, drop] = False
    others = indices[keep].reshape(n, k - 1)
    other_distances = distances[keep].reshape(n, k - 1)
    return (np.hstack([rows[:, None], others]),
            np.hstack([np.zeros((n, 1), distances.dtype), other_distances]))


def _layout(vectors: np.ndarray, graph: tuple) -> np.ndarray:
    import umap

    # No random_state: a seeded UMAP runs on one thread; the figures come from the
    # neighbour graph, which is seeded, so only the picture varies between runs.
    reducer = umap.UMAP(n_neighbors=graph[0].shape[1], min_dist=0.1, low_memory=True, precomputed_knn=graph)
    return reducer.fit_transform(vectors)


def require_viz() -> None:
    """One line with the install command when the `viz` extra is missing."""
    for module in VIZ_MODULES:
        if importlib.util.find_spec(module) is None:
            raise CrdError(INSTALL_LINE)


# --- the figure ---------------------------------------------------------------------------

SIDE_COLOURS = ("#1f77b4", "#ff7f0e")


def draw_map(result: Comparison, out: Path) -> Path:
    """The map as PNG: both sides in one scatter, a legend, and the overlap figures below."""
    import matplotlib.pyplot as plt

    from processing.publish.plots import cjk_style, save_figure

    with cjk_style():
        figure, axis = plt.subplots(figsize=(9, 9))
        in_b = np.arange(len(result.points)) >= len(result.a.prompts)
        order = np.random.default_rng(SEED).permutation(len(result.points))  # neither side paints over the other
        size = float(np.clip(40_000 / len(result.points), 0.3, 12.0))
        axis.scatter(*result.points[order].T, c=np.array(SIDE_COLOURS)[in_b[order].astype(int)], s=size,
                     alpha=0.5, linewidths=0, rasterized=True)
        for letter, colour, side in (("A", SIDE_COLOURS[0], result.a), ("B", SIDE_COLOURS[1], result.b)):
            axis.scatter([], [], color=colour, s=30, label=f"{letter}: {side.name} ({len(side.prompts):,} prompts)")
        # Legend and figures below the map, where they hide no point; children of the axes,
        # so tight_layout makes room for them.
        axis.legend(loc="upper left", bbox_to_anchor=(0, -0.01), ncols=2, frameon=False)
        axis.text(0, -0.06, "\n".join(summary_lines(result)[1:]), transform=axis.transAxes, fontsize=9, va="top")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title("Prompts of two datasets on one semantic map")
        save_figure(figure, out.resolve(), out.resolve().parent)
    return out
