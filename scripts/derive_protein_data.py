"""Derive the small protein data files shipped in ``xvanish/data/`` from the raw inputs.

Re-run to check or refresh them (deterministic: the same inputs give byte-identical files)::

    python scripts/derive_protein_data.py                      # raw inputs in ../shared/data
    python scripts/derive_protein_data.py --raw /path/to/data --out xvanish/data

Inputs (provenance and licences: docs/data.md):

* ``proteome/938293.PRJEB85.HG003687.faa.gz`` — 2,100 predicted proteins of one bacterial
  genome (ENA HG003687), FASTA.
* ``pdb/*.cif.gz`` — 22 PDB entries, mmCIF.

Outputs:

* ``proteome.fasta.gz`` — the proteome's sequences with the trailing stop ``*`` removed;
  sequences holding any letter outside the 20 standard amino acids (here: runs of ``X``)
  are dropped whole, so every window the sampler draws is real, contiguous sequence.
* ``structures.json.gz`` — for every protein chain (entity type ``polypeptide(L)``, one
  entry per ``label_asym_id``) of the first model of each entry: its canonical sequence
  (``_entity_poly.pdbx_seq_one_letter_code_can``) and its long-range contacts, pairs of
  residues (1-based ``label_seq_id``, i.e. positions in that sequence) whose Cβ atoms (Cα
  for glycine) are closer than 8 Å and |i − j| ≥ 24 (the CASP convention for long-range
  contacts). Unobserved residues have no contacts; alternate locations: the first listed.

Parsing is Biopython's (``Bio.SeqIO`` for FASTA, ``Bio.PDB.MMCIF2Dict`` for mmCIF), not a
hand-written parser.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

import numpy as np
from Bio import SeqIO
from Bio.PDB.MMCIF2Dict import MMCIF2Dict

STANDARD = frozenset("ACDEFGHIKLMNPQRSTVWY")
CONTACT_DISTANCE = 8.0  # Å, Cβ–Cβ (Cα for glycine)
MIN_SEPARATION = 24  # long-range contacts (CASP)
PROTEOME = "proteome/938293.PRJEB85.HG003687.faa.gz"
ROOT = Path(__file__).resolve().parents[1]


def _write_gzip(path: Path, text: str) -> None:
    """gzip with mtime 0 and no file name, so re-running gives byte-identical files."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        out.write(text.encode())


def derive_proteome(source: Path) -> tuple[str, dict]:
    """The cleaned proteome as FASTA text, and counts for docs/data.md."""
    kept, dropped = [], []
    with gzip.open(source, "rt") as handle:
        for record in SeqIO.parse(handle, "fasta"):
            sequence = str(record.seq).upper().rstrip("*")
            (kept if set(sequence) <= STANDARD else dropped).append((record.id, sequence))
    lines = []
    for name, sequence in kept:
        lines.append(f">{name}")
        lines.extend(sequence[i:i + 60] for i in range(0, len(sequence), 60))
    lengths = np.array([len(s) for _, s in kept])
    counts = {"records": len(kept) + len(dropped), "kept": len(kept), "dropped_nonstandard": len(dropped),
              "residues": int(lengths.sum()), "length_min": int(lengths.min()),
              "length_median": float(np.median(lengths)), "length_max": int(lengths.max())}
    return "\n".join(lines) + "\n", counts


def _column(block: dict, key: str) -> list[str]:
    value = block.get(key, [])
    return value if isinstance(value, list) else [value]


def chains_of_entry(path: Path) -> list[dict]:
    """Protein chains of one mmCIF entry with their long-range contacts (see module docstring)."""
    with gzip.open(path, "rt") as handle:
        block = MMCIF2Dict(io.StringIO(handle.read()))
    entry = path.name.split(".")[0]
    poly = {eid: (kind, seq) for eid, kind, seq in zip(_column(block, "_entity_poly.entity_id"),
                                                      _column(block, "_entity_poly.type"),
                                                      _column(block, "_entity_poly.pdbx_seq_one_letter_code_can"))}
    asym_entity = dict(zip(_column(block, "_struct_asym.id"), _column(block, "_struct_asym.entity_id")))
    atoms = {key: _column(block, f"_atom_site.{key}") for key in
             ("label_atom_id", "label_alt_id", "label_comp_id", "label_asym_id", "label_seq_id",
              "Cartn_x", "Cartn_y", "Cartn_z", "pdbx_PDB_model_num")}
    first_model = atoms["pdbx_PDB_model_num"][0]
    # (asym, seq_id) -> coordinates of the Cβ (Cα for glycine); first alternate location wins.
    points: dict[tuple[str, int], tuple[float, float, float]] = {}
    for atom, comp, asym, seq_id, model, x, y, z in zip(
            atoms["label_atom_id"], atoms["label_comp_id"], atoms["label_asym_id"], atoms["label_seq_id"],
            atoms["pdbx_PDB_model_num"], atoms["Cartn_x"], atoms["Cartn_y"], atoms["Cartn_z"]):
        if model != first_model or seq_id in (".", "?"):
            continue
        if atom == ("CA" if comp == "GLY" else "CB"):
            points.setdefault((asym, int(seq_id)), (float(x), float(y), float(z)))
    chains = []
    for asym, entity in sorted(asym_entity.items()):
        kind, sequence = poly.get(entity, ("", ""))
        if kind != "polypeptide(L)":
            continue
        sequence = "".join(sequence.split())  # the mmCIF field wraps lines
        ids = sorted(i for a, i in points if a == asym)
        contacts: list[list[int]] = []
        if ids:
            xyz = np.array([points[(asym, i)] for i in ids])
            index = np.array(ids)
            distance = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(-1))
            i, j = np.nonzero((distance < CONTACT_DISTANCE) & (index[None, :] - index[:, None] >= MIN_SEPARATION))
            contacts = [[int(index[a]), int(index[b])] for a, b in zip(i, j)]
        chains.append({"entry": entry, "chain": asym, "entity": entity, "sequence": sequence,
                       "observed": len(ids), "contacts": contacts})
    return chains


def derive_structures(pdb_dir: Path) -> list[dict]:
    """Every protein chain of every entry under ``pdb_dir``, sorted by entry and chain."""
    chains = []
    for path in sorted(pdb_dir.glob("*.cif.gz")):
        chains.extend(chains_of_entry(path))
    return chains


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=ROOT.parent / "shared" / "data", help="raw data folder")
    parser.add_argument("--out", type=Path, default=ROOT / "xvanish" / "data", help="where the derived files go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fasta, counts = derive_proteome(args.raw / PROTEOME)
    _write_gzip(args.out / "proteome.fasta.gz", fasta)
    chains = derive_structures(args.raw / "pdb")
    _write_gzip(args.out / "structures.json.gz", json.dumps(chains, separators=(",", ":"), sort_keys=True) + "\n")
    separations = np.array([j - i for c in chains for i, j in c["contacts"]])
    print("proteome:", counts)
    print(f"structures: {len(chains)} protein chains of {len({c['entry'] for c in chains})} entries, "
          f"{separations.size} long-range contacts")
    print("separation percentiles 10/25/50/75/90:", np.percentile(separations, [10, 25, 50, 75, 90]).round(1).tolist(),
          f">=100: {np.mean(separations >= 100):.3f}, >=200: {np.mean(separations >= 200):.3f}")
    for name in ("proteome.fasta.gz", "structures.json.gz"):
        print(name, (args.out / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
