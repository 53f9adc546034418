"""The one exception type for problems a user can fix.

Anything raised as ``CourseError`` carries a message that says what went wrong and what
to do; the CLI prints it as a single line and exits with code 2, notebooks show it as is.
"""


class CourseError(Exception):
    """A bad argument, a missing file, an offline download: the message says what to do."""
