"""Helpers shared by the test files, in one place (fixtures shared by several files are in
tests/conftest.py):

    files.py          write a YAML / JSON file, a solid-colour image
    runs.py           training runs of the tiny CLIP through the real entry points: config, in-process
                      ``lavis.train``, a run folder's metrics.jsonl and results.json
    recipe_folder.py  a tiny COCO folder in the layout the published recipe reads (test_real_data_*)
    zeroshot.py       tiny zero-shot sets in the real layouts and a planted colour encoder

Test files import them as ``from helpers.files import write_yaml`` (pytest puts tests/ on the path).
"""
