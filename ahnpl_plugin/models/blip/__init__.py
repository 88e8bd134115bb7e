"""``ahnpl_blip``: LAVIS's BLIP retrieval model trained with its own objective plus AHNPL.

The same role names as :mod:`ahnpl_plugin.models.clip`: ``model`` (the registered LAVIS model),
``options`` (the ``model:`` keys), ``architectures`` (towers per model type), ``weights`` (LAVIS
checkpoints, offline), ``tokenizer`` (BERT tokenizer, offline); BLIP's own parts: ``sources`` (one
check of every input before building), ``itc`` (momentum-queue contrastive loss with hard-negative
columns), ``itm`` (which pairs the matching head sees), ``scoring`` (itc / itm / itc+itm at
evaluation), ``finetune_scope`` (which parameters train, as in the CLIP family), ``checkpointing``
(activation checkpointing). Importing this package is cheap.
"""
