"""Dispatch from `dataset.source` to the code that writes the dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morphalign.artifacts import write_dataset
from morphalign.errors import MorphalignError


def make_dataset(
    folder: str | Path, dataset: dict[str, Any], download_dir: str | Path, mirrors: list[Path] | None = None
) -> None:
    """Write the configured dataset (the config's `dataset` section) into `folder`."""
    source, val_size, val_seed = dataset["source"], int(dataset["val_size"]), int(dataset["val_seed"])
    if source == "synthetic":
        from morphalign.data.synthetic import generate

        syn = dataset["synthetic"]
        images, manifest = generate(
            n_train=int(syn["n_train"]),
            n_test=int(syn["n_test"]),
            seed=int(syn["seed"]),
            val_size=val_size,
            val_seed=val_seed,
            fr2_fraction=float(syn["fr2_fraction"]),
            point_rate=float(syn["point_rate"]),
        )
    elif source == "mirabest":
        from morphalign.data import mirabest

        mb = dataset["mirabest"]
        archive, release = mirabest.fetch_archive(mb["release"], download_dir, mirrors)
        images, manifest = mirabest.build(
            archive,
            release,
            include_uncertain=bool(mb["include_uncertain"]),
            label_scheme=mb["label_scheme"],
            val_size=val_size,
            val_seed=val_seed,
            val_method=mb["val_method"],
        )
    elif source == "folder":
        from morphalign.data import folder as folder_source

        fc = dataset["folder"]
        if not fc.get("images_dir") or not fc.get("labels_csv"):
            raise MorphalignError(
                "dataset.folder.images_dir and dataset.folder.labels_csv are required for source: folder"
            )
        images, manifest = folder_source.build(
            fc["images_dir"],
            fc["labels_csv"],
            crop_size=int(fc["crop_size"]),
            clip_sigma=float(fc["clip_sigma"]),
            classes=fc["classes"],
            test_size=int(fc["test_size"]),
            test_seed=int(fc["test_seed"]),
            val_size=val_size,
            val_seed=val_seed,
        )
    else:
        raise MorphalignError(f"dataset.source: {source!r} is not a known data source")
    write_dataset(folder, images, manifest)
