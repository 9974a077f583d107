"""Errors of the emulation itself (as opposed to what the emulated cluster reports)."""


class NotEmulated(RuntimeError):
    """The manifests use a field or kind this runner does not emulate: it fails loudly,
    naming it, instead of silently running something a cluster would run differently."""

    def __init__(self, what):
        super().__init__(f"not emulated by test/runtime/kubesim: {what}")


class Timeout(AssertionError):
    pass
