"""The bundle: a directory with everything needed to predict, loaded without data, network or pickle.

config.json            format version, polyfuse version, config (the resolved task included), schema,
                       inputs (processor registry key, parameters, encoder config), target columns
processors.json        fitted processor and target state (JSON)
processors.safetensors fitted processor tensors
model.safetensors      model weights
metrics.json           validation / test scores, training summary
README.md              model card: schema, scores, how it was trained
manifest.json          SHA-256 of every file above (damage and truncation are refused)
signature.json         optional: HMAC or ed25519 signature of manifest.json (see polyfuse.signing)

The checksums catch damage, not deliberate edits: whoever can edit a file can update manifest.json
too. Only a signature checked against a key the editor does not hold proves where a bundle came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from polyfuse._hashing import sha256_file
from polyfuse._io import atomic_directory
from polyfuse._version import __version__
from polyfuse.config.schema import Config
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors import create_processor, processor_key
from polyfuse.data.schema import Schema
from polyfuse.data.targets import TargetProcessor
from polyfuse.encoders.base import EncoderConfig
from polyfuse.model import MultimodalModel
from polyfuse.tasks import TaskConfig, task_class

FORMAT_VERSION = 2
"""2: the task contract (``model.task`` in the config, processors named by registry key)."""
FILES = (
    "config.json",
    "processors.json",
    "processors.safetensors",
    "model.safetensors",
    "metrics.json",
    "README.md",
)


SIGNATURE = "signature.json"
"""Written by ``polyfuse sign``; a new save drops it (it signed the old manifest)."""


class BundleError(ValueError):
    """A bundle that cannot be loaded (newer format, missing or tampered files)."""


@dataclass
class Fitted:
    """Everything a trained predictor consists of."""

    config: Config
    schema: Schema
    inputs: list[InputSpec]
    encoder_configs: dict[str, EncoderConfig]
    target: TargetProcessor | None
    model: MultimodalModel
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def input_columns(self) -> list[str]:
        """The table columns the model's inputs read."""
        return [c for spec in self.inputs for c in spec.columns]

    @property
    def task_config(self) -> TaskConfig:
        """The resolved task config (never ``auto``)."""
        task = self.config.model.task
        assert isinstance(task, TaskConfig)
        return task


def save_bundle(fitted: Fitted, directory: str | Path, model_card: str) -> Path:
    """Write ``fitted`` to ``directory`` (created if missing).

    The files are written to a temporary sibling folder that then takes the place of ``directory``:
    a failed save (a full disk, a killed process) leaves an existing bundle there whole. Other files
    in ``directory`` are kept; an old ``signature.json`` is dropped (it signed the old manifest).
    """
    out = Path(directory)
    header = {
        "format_version": FORMAT_VERSION,
        "polyfuse_version": __version__,
        "config": fitted.config.model_dump(mode="json"),
        "schema": fitted.schema.to_dict(),
        "task": fitted.task_config.type,
        "targets": [] if fitted.target is None else fitted.target.columns,
        "inputs": [
            {
                "name": s.name,
                "modality": s.modality,
                "columns": s.columns,
                "processor": processor_key(s.processor),
                "params": s.processor.get_params(),
                "encoder": fitted.encoder_configs[s.name].model_dump(mode="json"),
            }
            for s in fitted.inputs
        ],
    }
    states: dict[str, Any] = {"target": None if fitted.target is None else fitted.target.get_state()}
    tensors = {}
    for spec in fitted.inputs:
        state, arrays = spec.processor.get_state()
        states[spec.name] = state
        tensors.update({f"{spec.name}/{k}": v.contiguous() for k, v in arrays.items()})
    with atomic_directory(out, drop=(SIGNATURE,)) as temp:  # a failed save leaves the old bundle whole
        (temp / "config.json").write_text(json.dumps(header, indent=2))
        (temp / "processors.json").write_text(json.dumps(states, ensure_ascii=False))
        save_file(tensors, str(temp / "processors.safetensors"))
        weights = {k: v.detach().contiguous().cpu() for k, v in fitted.model.state_dict().items()}
        save_file(weights, str(temp / "model.safetensors"), metadata={"polyfuse": __version__})
        (temp / "metrics.json").write_text(json.dumps(fitted.metrics, indent=2, default=str))
        (temp / "README.md").write_text(model_card)
        manifest = {"format_version": FORMAT_VERSION, "files": {n: sha256_file(temp / n) for n in FILES}}
        (temp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def _check_entry(directory: Path, name: str) -> Path:
    """The path of manifest entry ``name``, refused unless a plain file inside ``directory``."""
    entry = Path(name)
    if entry.is_absolute() or not name or name != entry.as_posix():
        why = "an absolute path" if entry.is_absolute() else "not a plain relative path"
    elif ".." in entry.parts or "." in entry.parts:
        why = "a path leaving the bundle"
    else:
        path, why = directory, ""
        for part in entry.parts:
            path = path / part
            if path.is_symlink():
                why = "a symbolic link"
                break
        if not why and path.exists() and not path.is_file():
            why = "not a regular file"
        if not why:
            return path
    raise BundleError(
        f"bundle {directory}: manifest.json lists {name!r}, which is {why}; a bundle holds only"
        " plain files inside its folder, refusing to load it"
    )


def _read_json(directory: Path, name: str) -> Any:
    try:
        return json.loads((directory / name).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"bundle {directory}: {name} is not valid JSON ({error})") from None


def _check_header(directory: Path) -> None:
    """config.json, processors.json and metrics.json hold what loading reads (edited files fail here)."""
    from polyfuse.data.processors import PROCESSORS

    header = _read_json(directory, "config.json")
    keys = ("config", "schema", "task", "targets", "inputs")
    if not isinstance(header, dict) or any(k not in header for k in keys):
        raise BundleError(f"bundle {directory}: config.json lacks one of {', '.join(keys)}")
    try:
        Config.model_validate(header["config"])
        Schema.from_dict(header["schema"])
    except (ValueError, TypeError, KeyError) as error:
        first = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            if isinstance(error, ValidationError)
            else str(error)
        )
        raise BundleError(
            f"bundle {directory}: config.json holds an invalid config or schema ({first})"
        ) from None
    names = set(PROCESSORS.names())
    inputs: list[dict[str, Any]] = header["inputs"] if isinstance(header["inputs"], list) else [{}]
    for item in inputs:
        fields = ("name", "modality", "columns", "processor", "params", "encoder")
        if not isinstance(item, dict) or any(f not in item for f in fields):
            raise BundleError(f"bundle {directory}: config.json has a malformed entry in 'inputs'")
        if item["processor"] not in names:
            raise BundleError(
                f"bundle {directory}: config.json names an unknown processor {item['processor']!r}"
                f" for input {item['name']!r}"
            )
    states = _read_json(directory, "processors.json")
    if not isinstance(states, dict):
        raise BundleError(f"bundle {directory}: processors.json is not a JSON object")
    missing = [i["name"] for i in inputs if i["name"] not in states]
    if missing or "target" not in states:
        raise BundleError(
            f"bundle {directory}: processors.json lacks the state of {', '.join(missing or ['the target'])}"
        )
    _read_json(directory, "metrics.json")


def _verify(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise BundleError(f"bundle not found: {directory} is not a directory")
    manifest_path = directory / "manifest.json"
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise BundleError(f"{directory} is not a polyfuse bundle or is truncated: manifest.json is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{manifest_path} is corrupt: {error}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path} is corrupt: not a JSON object")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{directory} has bundle format {version}, newer than this polyfuse ({__version__}) reads"
            f" (format {FORMAT_VERSION}); upgrade polyfuse to load it"
        )
    if version < FORMAT_VERSION:
        written = _writer_version(directory)
        raise BundleError(
            f"{directory} has bundle format {version} (written by polyfuse {written}), from before the"
            f" task contract; this polyfuse ({__version__}) reads format {FORMAT_VERSION}: retrain the"
            " model, or load it with the polyfuse version that wrote it"
        )
    listed = manifest.get("files", {})
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        raise BundleError(f"{manifest_path} is corrupt: 'files' must map file names to SHA-256 checksums")
    unlisted = [name for name in FILES if name not in listed]
    if unlisted:
        raise BundleError(
            f"bundle {directory} is incomplete: manifest.json does not list {', '.join(unlisted)}"
        )
    paths = {name: _check_entry(directory, name) for name in listed}  # all checked before any is read
    for name, expected in listed.items():
        if not paths[name].is_file():
            raise BundleError(f"bundle {directory} is truncated: {name} is missing")
        if sha256_file(paths[name]) != expected:
            raise BundleError(
                f"bundle {directory}: {name} does not match its checksum (modified or corrupt);"
                " refusing to load it"
            )
    _check_header(directory)
    return manifest


def _writer_version(directory: Path) -> str:
    """The polyfuse version config.json says wrote the bundle ("unknown" when unreadable)."""
    try:
        return str(json.loads((directory / "config.json").read_text()).get("polyfuse_version", "unknown"))
    except (OSError, ValueError, AttributeError):
        return "unknown"


def load_bundle(directory: str | Path, key: str | Path | None = None) -> Fitted:
    """Read a bundle written by :func:`save_bundle`; needs no training data, network or pickle.

    With ``key`` (an HMAC key file or an ed25519 public key, see :mod:`polyfuse.signing`), the
    bundle's signature is verified first. A bundle that passes its checks yet cannot be built (files
    edited and re-checksummed, or written by an incompatible polyfuse) is a :class:`BundleError`.
    """
    path = Path(directory)
    if key is not None:
        from polyfuse.signing import verify_bundle

        verify_bundle(path, key)
    _verify(path)
    try:
        return _build(path)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise BundleError(
            f"bundle {path} passes its checksums but cannot be loaded ({type(error).__name__}: {error});"
            " its files were edited, or written by an incompatible polyfuse"
        ) from None


FORMER_DEFAULTS = {
    "image_generation": {"prediction": "epsilon", "clip_sample": True, "timestep_spacing": "leading"}
}
"""Task options whose default changed, with the value bundles written before the change were
trained with: a saved config lacking the option gets this one, not the new default."""


def _with_former_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a bundle's) with :data:`FORMER_DEFAULTS` filled in where the option is missing."""
    task = config.get("model", {}).get("task")
    if not isinstance(task, dict) or task.get("type") not in FORMER_DEFAULTS:
        return config
    filled = {**FORMER_DEFAULTS[task["type"]], **task}
    return {**config, "model": {**config["model"], "task": filled}}


def _build(path: Path) -> Fitted:
    """The fitted state of a verified bundle."""
    from polyfuse.builder import build_model
    from polyfuse.encoders import parse_encoder_config

    header = json.loads((path / "config.json").read_text())
    config = Config.model_validate(_with_former_defaults(header["config"]))
    schema = Schema.from_dict(header["schema"])
    states = json.loads((path / "processors.json").read_text())
    try:
        arrays = load_file(str(path / "processors.safetensors"))
        weights = load_file(str(path / "model.safetensors"))
    except SafetensorError as error:
        raise BundleError(f"bundle {path}: unreadable tensors ({error})") from None
    inputs, encoder_configs = [], {}
    for item in header["inputs"]:
        processor = create_processor(item["processor"], item["params"])
        prefix = item["name"] + "/"
        processor.set_state(
            states[item["name"]], {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        )
        inputs.append(InputSpec(item["name"], item["modality"], item["columns"], processor))
        encoder = dict(item["encoder"])
        encoder_configs[item["name"]] = parse_encoder_config(item["modality"], encoder)
    task = config.model.task
    assert isinstance(task, TaskConfig)
    target = task_class(task.type).create_target(task, header["targets"], schema.label_delimiter)
    if target is not None:
        target.set_state(states["target"])
    model = build_model(inputs, config, task, target, encoder_configs)
    model.load_state_dict(weights)
    model.eval()
    metrics = json.loads((path / "metrics.json").read_text())
    return Fitted(config, schema, inputs, encoder_configs, target, model, metrics)
