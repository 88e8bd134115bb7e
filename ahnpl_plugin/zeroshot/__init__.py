"""Zero-shot image classification: the model-agnostic core of the retention evaluation.

* :mod:`.metrics` -- the metrics of the published suites (numpy): top-k accuracy, mean
  per-class recall, CLIP_benchmark's multi-label mAP, ELEVATER's 11-point mAP and ROC-AUC;
* :mod:`.protocols` -- which metric each suite reports for which dataset;
* :mod:`.classifier` -- prompts from class names and templates, the template-averaged classifier;
* :mod:`.readers` -- the datasets as distributed: CLIP_benchmark's webdataset export, ELEVATER's
  downloads, and a class-per-folder tree with class-name and template files;
* :mod:`.evaluate` -- one model on one set: classifier, logits, metrics;
* :mod:`.intervals` -- 95% bootstrap intervals over images, paired for retention;
* :mod:`.report` -- the results table, with retention (fine-tuned minus starting weights).

None of these import LAVIS; the LAVIS task is :mod:`ahnpl_plugin.tasks.zeroshot`.
"""
