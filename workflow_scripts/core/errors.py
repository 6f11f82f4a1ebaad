"""One exception type for problems the user can fix (bad file, bad config, missing package).

Step scripts turn it into a single line on stderr naming the file and the fix, instead of a
traceback, so a user sees what to do rather than where the code was.
"""


class UserError(Exception):
    """An input problem with a one-line explanation that names the file and the fix."""
