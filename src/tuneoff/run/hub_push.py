"""``tuneoff export --push-to-hub REPO_ID [--private]``: the exported folder uploaded to the Hugging Face Hub
through ``huggingface_hub`` (``HfApi.create_repo`` with ``exist_ok``, then ``HfApi.upload_folder``), with the
token ``huggingface_hub`` finds (``HF_TOKEN``, or ``hf auth login``).

Tested offline against a fake ``HfApi`` that records the calls; not yet run against the live Hub.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi


class PushError(RuntimeError):
    """The upload failed; the exported folder is kept, and the message says where."""


def check_repo_id(repo_id: str) -> str:
    """A Hub model repository id ("name" or "owner/name"), refused in one line before anything is written."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"--push-to-hub {repo_id!r}: not a Hub repository id (owner/name): {first}") from None
    return repo_id


def push(folder: Path, repo_id: str, private: bool = False, message: str = "tuneoff export") -> str:
    """Create the model repository (kept if it exists; ``private`` only applies to a new one) and upload the
    folder as one commit; returns the commit's URL (or the repository's)."""
    api = HfApi()
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(
            repo_id=getattr(repo, "repo_id", repo_id),
            folder_path=str(folder),
            repo_type="model",
            commit_message=message,
        )
    except Exception as err:  # noqa: BLE001 - network, auth, offline mode: one line, the export kept
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PushError(
            f"--push-to-hub {repo_id}: the upload failed ({type(err).__name__}: {first}); the export "
            f"is in {folder}, push it again with `hf upload {repo_id} {folder}`"
        ) from None
    return getattr(commit, "commit_url", None) or str(repo)
