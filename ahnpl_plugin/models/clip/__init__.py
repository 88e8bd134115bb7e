"""``ahnpl_clip``: LAVIS's CLIP trained with the AHNPL loss (one module per role).

``model`` (the registered LAVIS model), ``options`` (the ``model:`` keys, defaults, validation),
``architectures`` (CLIP shape per model type), ``weights`` (weight sources, QuickGELU rule),
``hf_layout`` (Hugging Face CLIPModel <-> open_clip names), ``trusted_archives`` (TorchScript
SHA-256 allow-list), ``tokenizer`` (cached BPE), ``towers`` (exact trimmed-length forward passes),
``finetune_scope`` (which parameters train; LoRA itself is shared: :mod:`ahnpl_plugin.models.lora`). Importing this package is cheap.
"""
