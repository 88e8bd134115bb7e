"""Which TorchScript archives may be opened with ``torch.jit.load``.

Reading a TorchScript archive runs the TorchScript code stored in it (its ``code/`` folder), so an
archive is only as safe as whoever wrote it. OpenAI's released CLIP archives are the only weights
shipped in that format; OpenAI's download URLs embed each file's SHA-256
(``https://openaipublic.azureedge.net/clip/models/<sha256>/<name>.pt``, listed by LAVIS's and
open_clip's ``pretrained.py``), so those nine files can be recognised by content. Any other archive
is opened only with the explicit opt-in ``model.trust_torchscript: true``.

Pure Python (hashlib): no torch import.
"""

from __future__ import annotations

import hashlib

# SHA-256 of OpenAI's released CLIP archives, as embedded in their download URLs.
OPENAI_ARCHIVE_SHA256 = {
    "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762": "RN50.pt",
    "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599": "RN101.pt",
    "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd": "RN50x4.pt",
    "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa": "RN50x16.pt",
    "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c": "RN50x64.pt",
    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af": "ViT-B-32.pt",
    "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f": "ViT-B-16.pt",
    "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836": "ViT-L-14.pt",
    "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02": "ViT-L-14-336px.pt",
}


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def trusted_archive_name(sha256: str) -> str | None:
    """The OpenAI release a hash belongs to (``ViT-B-32.pt``), None when it is not on the list."""
    return OPENAI_ARCHIVE_SHA256.get(sha256.lower())
