"""AHNPL (Adaptive Hard Negative Perturbation Learning) for Salesforce LAVIS.

Importing this package is cheap on purpose: it imports neither torch nor LAVIS, because a ``.pth``
hook of this package runs in every Python process of the environment. LAVIS registrations (models,
dataset builders, tasks, runner) happen in :func:`register`, which the entry points call.
"""

__version__ = "0.1.0"

_registered = False


def register() -> None:
    """Import LAVIS (with our compatibility shims first) and register every plugin class.

    Idempotent. Call it before building a LAVIS ``Config``: LAVIS itself never imports plugins.
    """
    global _registered
    if _registered:
        return
    from ahnpl_plugin import lavis_registration

    lavis_registration.register_all()
    _registered = True
