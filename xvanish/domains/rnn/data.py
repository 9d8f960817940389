"""Protein sequences for the RNN domain: the shipped proteome, i.i.d. residues, or a FASTA file.

A *sequence set* is a list of segments of the 20 standard amino acids. Sequences are read
with Biopython (``Bio.SeqIO``, gzip allowed); a trailing stop ``*`` is removed, and a
sequence is split at any other letter (``X``, ``B``, ``Z``, ``U``, ``O``, ``J``, gaps), so
that no window spans an unknown residue. Windows of ``seq_len`` residues are drawn
uniformly over all windows of all segments (a segment with more windows is drawn more
often). k-mer tokens are non-overlapping: token t of a window covers residues
[k·t, k·t + k) and its index is Σ_j r_j·20^(k−1−j).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from xvanish.core import ConfigError, require

__all__ = ["ALPHABET", "SequenceSet", "load", "tokenize", "uniform_windows", "windows"]

#: The 20 standard amino acids; residue index = position in this string.
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
#: IUPAC protein letters beyond the standard 20 (ambiguous, rare, unknown) and the gap/stop.
OTHER_PROTEIN = frozenset("BZJUOX*-.")
#: Letters of nucleotide sequences: a file made only of these is refused as not protein.
NUCLEOTIDE = frozenset("ACGTUN")
_CODES = np.full(256, -1, dtype=np.int64)
_CODES[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))
#: Shortest segment kept (shorter pieces between unknown residues are dropped).
MIN_SEGMENT = 2


@dataclass(frozen=True)
class SequenceSet:
    """Segments of standard residues, encoded as int arrays of residue indices 0..19.

    Attributes:
        source: where they came from (``proteome`` or the file's path).
        names: the record id of each segment.
        segments: encoded residues of each segment.
        records: FASTA records read.
    """

    source: str
    names: tuple[str, ...]
    segments: tuple[np.ndarray, ...]
    records: int

    # Derived tables are computed once per set (cached_property writes the instance's
    # __dict__, which a frozen dataclass allows): a sampler draws windows per draw.
    @cached_property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.segments], dtype=np.int64)

    @cached_property
    def _window_tables(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return {}

    def window_table(self, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows of ``seq_len`` residues per segment, and the cumulative distribution of
        the segment a uniformly drawn window lies in (built once per length)."""
        table = self._window_tables.get(seq_len)
        if table is None:
            starts = np.maximum(self.lengths - seq_len + 1, 0)
            cdf = np.cumsum(starts / starts.sum())
            table = self._window_tables[seq_len] = (starts, cdf / cdf[-1])
        return table

    @cached_property
    def _frequencies(self) -> np.ndarray:
        counts = np.bincount(np.concatenate(self.segments), minlength=len(ALPHABET))
        return counts / counts.sum()

    def longest(self) -> tuple[str, int]:
        """(record id, length) of the longest segment."""
        index = int(np.argmax(self.lengths))
        return self.names[index], int(self.lengths[index])

    def frequencies(self) -> np.ndarray:
        """Amino-acid frequencies over all residues, in :data:`ALPHABET` order."""
        return self._frequencies.copy()


def _open(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path, "rt")


def _read(path: Path, key: str, value: str) -> SequenceSet:
    """Parse a FASTA file with Biopython; refuse a missing, empty or non-protein file."""
    try:
        from Bio import SeqIO
    except ImportError:  # pragma: no cover - biopython is a dependency of the rnn domain
        raise ConfigError(key, value, "reading FASTA needs Biopython: pip install biopython") from None
    require(path.is_file(), key, value, "no such FASTA file")
    names: list[str] = []
    segments: list[np.ndarray] = []
    records = 0
    letters: set[str] = set()
    try:
        with _open(path) as handle:
            for record in SeqIO.parse(handle, "fasta"):
                records += 1
                text = str(record.seq).upper().rstrip("*")
                letters.update(text)
                codes = _CODES[np.frombuffer(text.encode(), dtype=np.uint8)]
                # split at every non-standard residue: windows never span an unknown one
                for piece in np.split(codes, np.flatnonzero(codes < 0)):
                    piece = piece[piece >= 0] if piece.size and piece[0] < 0 else piece
                    if piece.size >= MIN_SEGMENT:
                        names.append(record.id)
                        segments.append(piece)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(key, value, f"is not a FASTA file ({first_line})") from None
    require(records > 0, key, value, "is empty: no FASTA records (a FASTA record starts with '>')")
    strange = sorted(letters - set(ALPHABET) - OTHER_PROTEIN)
    require(
        not strange,
        key,
        value,
        "is not a protein FASTA file: letters " + "".join(strange[:10]) + " are no amino-acid codes",
    )
    require(
        not letters or not letters <= NUCLEOTIDE,
        key,
        value,
        "is not protein: only nucleotide letters " + "".join(sorted(letters)) + " (translate it first)",
    )
    require(bool(segments), key, value, "holds no stretch of standard amino acids")
    return SequenceSet(str(value), tuple(names), tuple(segments), records)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int, key: str, value: str) -> SequenceSet:
    del mtime_ns, size  # part of the cache key only: an edited file is read again
    return _read(Path(path), key, value)


def load(data: str, key: str = "data") -> SequenceSet:
    """The sequence set behind ``data`` (``proteome`` or a FASTA path; cached per file version).

    ``uniform`` draws from the proteome's frequencies and has no sequences of its own; its
    set is the proteome's.

    Raises:
        ConfigError: missing, empty or non-protein FASTA file.
    """
    if data in ("proteome", "uniform"):
        from xvanish.data import proteome_path

        path, shown = proteome_path(), "proteome"
    else:
        path, shown = Path(os.path.expanduser(data)), data
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError(key, shown, "no such FASTA file (or: proteome | uniform)") from None
    loaded = _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, key, shown)
    return loaded if data != "uniform" else SequenceSet("uniform", loaded.names, loaded.segments, loaded.records)


def windows(sequences: SequenceSet, seq_len: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` windows of ``seq_len`` residues, uniform over every window of every segment.

    Returns:
        int64 array [count, seq_len] of residue indices.
    """
    starts, cdf = sequences.window_table(seq_len)
    # the segment by inverse CDF (each weighted by its number of windows), then a uniform
    # start in it: the same draws as rng.choice(p=...) and rng.random, without rebuilding
    # the choice's table on every call
    segment = cdf.searchsorted(rng.random(count), side="right")
    offset = (rng.random(count) * starts[segment]).astype(np.int64)
    return np.stack([sequences.segments[s][o : o + seq_len] for s, o in zip(segment, offset)])


def uniform_windows(frequencies: np.ndarray, seq_len: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` windows of i.i.d. residues with the given frequencies ([count, seq_len])."""
    return rng.choice(len(frequencies), size=(count, seq_len), p=frequencies)


def tokenize(residues: np.ndarray, kmer: int) -> np.ndarray:
    """Non-overlapping k-mer token indices ``[..., L/k]`` of residue indices ``[..., L]``."""
    shaped = residues.reshape(*residues.shape[:-1], -1, kmer)
    weights = len(ALPHABET) ** np.arange(kmer - 1, -1, -1)
    return (shaped * weights).sum(-1)
