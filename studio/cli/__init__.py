"""The command line (`python launch.py SUBCOMMAND`): argument parsing (`args`) and the subcommands (`main`),
thin shells over the stages and the read side."""
