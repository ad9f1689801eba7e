"""The one user-facing error of weight-file loading.

A missing file, a file that holds another component's weights, or a file whose tensors do not
fit the component all end here, with the component, the file and where it was looked for in
one message. It is a UserInputError, so run.py exits 2 with that one line.
"""

from __future__ import annotations

from toolkit.errors import UserInputError


class ModelFileError(UserInputError):
    """A weight file that is missing, of the wrong component, or does not fit its config."""
