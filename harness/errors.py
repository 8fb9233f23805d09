"""The one exception type a user can cause.

Anything raised as `HarnessError` is printed by the CLI as a single line
(`error: ...`) and exit status 2, never as a traceback. Its message names the
culprit (file, key, name) and the fix.
"""


class HarnessError(Exception):
    """A problem with the user's input: bad path, bad TOML, unknown name, broken WAV."""
