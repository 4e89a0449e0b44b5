"""The command line's exit codes: a service manager or a script tells the failures apart.

0 is success, 1 a refused or failed operator command, 2 a configuration problem, 130 an
interrupt; the rest name why ``run`` (or ``copy-database``) stopped."""

EXIT_INVALID_CREDENTIALS = 3  # the homeserver refused the bot's password or token
EXIT_ALREADY_RUNNING = 4  # another bot holds the database
EXIT_COMMUNITY = 5  # the community could not be set up (rooms, space)
EXIT_TRANSPORT = 6  # the homeserver could not be reached
EXIT_DATABASE = 7  # the database could not be reached
EXIT_UNEXPECTED = 8  # anything else (the log has the traceback)
EXIT_TARGET_NOT_EMPTY = 9  # copy-database: the target database already holds rows
