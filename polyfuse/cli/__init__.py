"""The ``polyfuse`` command line: one small file per subcommand, thin shells over the library."""
