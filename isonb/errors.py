"""The one exception type users see: a one-line message naming the file and the fix."""


class IsonbError(ValueError):
    """Bad input or a bad request; the CLI prints it as one line, without a traceback."""


def fail(source: object, problem: str, fix: str) -> IsonbError:
    """Build an `IsonbError` that reads `<source>: <problem>. Fix: <fix>`."""
    return IsonbError(f"{source}: {problem}. Fix: {fix}")
